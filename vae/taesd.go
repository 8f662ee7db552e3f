package vae

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// TAESD, the tiny autoencoder (github.com/madebyollin/taesd), is a small
// convolutional network trained to mimic SD's VAE: about 1 M parameters per
// half instead of 34 M in the decoder alone, with no attention and no
// normalisation, so it decodes a preview in a fraction of the time.
//
// Its latents are SD's scaled latents (what the UNet sees): decode the
// UNet's latents directly, without dividing by the scaling factor.
// taesd.py's encoder takes images in [0, 1] and its decoder returns [0, 1];
// [TinyEncoder.Encode] and [TinyDecoder.DecodeLatents] use SD's [-1, 1]
// instead, as diffusers' AutoencoderTiny does.
//
// The weights are nn.Sequential modules, so their names are layer indices:
// taesd_decoder.pth holds "1.weight", "3.conv.0.weight", …; diffusers'
// AutoencoderTiny holds the same under "decoder.layers.{i-1}." (its decoder
// has no weightless Clamp module at index 0) and "encoder.layers.{i}.".

// TinyBlock is TAESD's residual block: relu(conv(relu(conv(relu(conv(x))))) + skip(x)),
// all 3×3 convolutions with bias; skip is the identity, or a 1×1 convolution
// without bias when the channel count changes.
type TinyBlock struct {
	Conv [3]layer.Conv2d // conv.0, conv.2, conv.4 (odd indices are the ReLUs)
	Skip *layer.Conv2d   // skip, (Out, In, 1, 1) without bias; nil for the identity
}

func loadTinyBlock(ld *weights.Loader, in, out int) *TinyBlock {
	b := &TinyBlock{}
	for i := range b.Conv {
		c := in
		if i > 0 {
			c = out
		}
		b.Conv[i] = layer.NewConv2d(ld.Subf("conv.%d", 2*i), c, out, 3, 1, 1)
	}
	if in != out {
		b.Skip = &layer.Conv2d{Weight: ld.Tensor("skip.weight", out, in, 1, 1), Stride: 1}
	}
	return b
}

// Forward maps x (B, In, H, W) -> (B, Out, H, W).
func (b *TinyBlock) Forward(x *nn.Tensor) *nn.Tensor {
	h := relu(b.Conv[0].Forward(x))
	h = relu(b.Conv[1].Forward(h))
	h = b.Conv[2].Forward(h)
	if b.Skip != nil {
		x = b.Skip.Forward(x)
	}
	return relu(nn.AddInPlace(h, x))
}

// TinyStage is one resolution step of TAESD: in the decoder, three blocks,
// a nearest ×2 upsample and a 3×3 convolution without bias; in the encoder,
// a 3×3 stride-2 convolution without bias, then three blocks.
type TinyStage struct {
	Conv   layer.Conv2d // (C, C, 3, 3), no bias
	Blocks [3]*TinyBlock
}

// tinyStages is the number of ×2 steps of every TAESD (SD, SDXL, SD3, FLUX).
const tinyStages = 3

// TinyDecoder is TAESD's decoder (taesd_decoder.pth): scaled latents
// (B, L, h, w) -> image (B, 3, 8h, 8w) in about [0, 1].
type TinyDecoder struct {
	ConvIn  layer.Conv2d          // layer 1: (C, L, 3, 3), after the Clamp (0); ReLU is 2
	Stages  [tinyStages]TinyStage // layers 3+5s … 7+5s: blocks, upsample, conv
	Block   *TinyBlock            // layer 18
	ConvOut layer.Conv2d          // layer 19: (3, C, 3, 3)
}

// TinyEncoder is TAESD's encoder (taesd_encoder.pth): image (B, 3, H, W) in
// [0, 1] -> scaled latents (B, L, H/8, W/8).
type TinyEncoder struct {
	ConvIn  layer.Conv2d          // layer 0: (C, 3, 3, 3)
	Block   *TinyBlock            // layer 1
	Stages  [tinyStages]TinyStage // layers 2+4s … 5+4s: conv stride 2, blocks
	ConvOut layer.Conv2d          // layer 14: (L, C, 3, 3)
}

// layerLoader returns the loader of taesd.py's Sequential layer i.
type layerLoader func(i int) *weights.Loader

// tinyLayers finds which naming src uses for one half ("encoder" or
// "decoder"): taesd.py's bare indices, or diffusers' AutoencoderTiny's
// "<half>.layers.<i>" (decoder indices one lower), and the index of the
// first convolution in taesd.py's numbering.
func tinyLayers(src weights.Source, half string, first int) (layerLoader, error) {
	ld := weights.NewLoader(src, "")
	switch {
	case ld.Has(fmt.Sprintf("%d.weight", first)):
		return func(i int) *weights.Loader { return ld.Subf("%d", i) }, nil
	case ld.Has(half + ".layers.0.weight"):
		shift := 0
		if half == "decoder" {
			shift = 1 // diffusers' DecoderTiny applies the clamp in forward, not as layer 0
		}
		return func(i int) *weights.Loader { return ld.Subf("%s.layers.%d", half, i-shift) }, nil
	}
	return nil, fmt.Errorf("vae: taesd: no %s weights (looked for %q and %q)", half, fmt.Sprintf("%d.weight", first), half+".layers.0.weight")
}

// LoadTinyDecoder reads TAESD's decoder from taesd_decoder.pth or
// .safetensors (bare layer indices; open either with [weights.OpenAny]) or
// from a diffusers AutoencoderTiny file.
func LoadTinyDecoder(src weights.Source) (*TinyDecoder, error) {
	at, err := tinyLayers(src, "decoder", 1)
	if err != nil {
		return nil, err
	}
	shape := at(1).Shape("weight") // (C, L, 3, 3)
	if len(shape) != 4 {
		return nil, fmt.Errorf("vae: taesd decoder: first convolution weight has shape %v", shape)
	}
	ch, lat := shape[0], shape[1]
	d := &TinyDecoder{ConvIn: layer.NewConv2d(at(1), lat, ch, 3, 1, 1)}
	for s := range d.Stages {
		base := 3 + 5*s
		st := &d.Stages[s]
		for j := range st.Blocks {
			st.Blocks[j] = loadTinyBlock(at(base+j), ch, ch)
		}
		st.Conv = layer.Conv2d{Weight: at(base+4).Tensor("weight", ch, ch, 3, 3), Stride: 1, Pad: 1} // base+3 is the upsample
	}
	last := 3 + 5*tinyStages
	d.Block = loadTinyBlock(at(last), ch, ch)
	d.ConvOut = layer.NewConv2d(at(last+1), ch, 3, 3, 1, 1)
	if err := at(0).Err(); err != nil {
		return nil, fmt.Errorf("vae: taesd decoder: %w", err)
	}
	return d, nil
}

// LoadTinyEncoder reads TAESD's encoder from taesd_encoder.pth or
// .safetensors (bare layer indices; open either with [weights.OpenAny]) or
// from a diffusers AutoencoderTiny file.
func LoadTinyEncoder(src weights.Source) (*TinyEncoder, error) {
	at, err := tinyLayers(src, "encoder", 0)
	if err != nil {
		return nil, err
	}
	shape := at(0).Shape("weight") // (C, 3, 3, 3)
	last := 2 + 4*tinyStages
	out := at(last).Shape("weight") // (L, C, 3, 3)
	if len(shape) != 4 || len(out) != 4 {
		return nil, fmt.Errorf("vae: taesd encoder: first/last convolution weights have shapes %v, %v", shape, out)
	}
	ch, lat := shape[0], out[0]
	e := &TinyEncoder{ConvIn: layer.NewConv2d(at(0), 3, ch, 3, 1, 1), Block: loadTinyBlock(at(1), ch, ch)}
	for s := range e.Stages {
		base := 2 + 4*s
		st := &e.Stages[s]
		st.Conv = layer.Conv2d{Weight: at(base).Tensor("weight", ch, ch, 3, 3), Stride: 1, Pad: 1}
		for j := range st.Blocks {
			st.Blocks[j] = loadTinyBlock(at(base+1+j), ch, ch)
		}
	}
	e.ConvOut = layer.NewConv2d(at(last), ch, lat, 3, 1, 1)
	if err := at(0).Err(); err != nil {
		return nil, fmt.Errorf("vae: taesd encoder: %w", err)
	}
	return e, nil
}

// Forward decodes scaled latents z (B, L, h, w) -> (B, 3, 8h, 8w) in about
// [0, 1] (taesd.py's output; clamp for display).
func (d *TinyDecoder) Forward(z *nn.Tensor) *nn.Tensor {
	x := z.Clone()
	for i, v := range x.Data { // Clamp: tanh(z/3)·3 bounds the latents softly to ±3
		x.Data[i] = float32(math.Tanh(float64(v/3))) * 3
	}
	x = relu(d.ConvIn.Forward(x)) // (B, L, h, w) -> (B, C, h, w)
	for _, st := range d.Stages {
		for _, b := range st.Blocks {
			x = b.Forward(x)
		}
		x = st.Conv.ForwardUpsample2x(x) // (B, C, H, W) -> (B, C, 2H, 2W), nearest then conv
	}
	x = d.Block.Forward(x)
	return d.ConvOut.Forward(x) // (B, C, H, W) -> (B, 3, H, W)
}

// DecodeLatents decodes the UNet's latents (B, L, h, w) into an image in
// about [-1, 1], like [Model.DecodeLatents]: 2·Forward(latents) − 1.
func (d *TinyDecoder) DecodeLatents(latents *nn.Tensor) (*nn.Tensor, error) {
	if len(latents.Shape) != 4 || latents.Shape[1] != d.ConvIn.Weight.Shape[1] || latents.Len() == 0 {
		return nil, fmt.Errorf("vae: taesd decode: latents of shape %v, want (B, %d, h, w)", latents.Shape, d.ConvIn.Weight.Shape[1])
	}
	y := d.Forward(latents)
	for i, v := range y.Data {
		y.Data[i] = 2*v - 1 // [0, 1] -> [-1, 1]
	}
	return y, nil
}

// Forward encodes x (B, 3, H, W) in [0, 1] -> scaled latents (B, L, H/8, W/8).
func (e *TinyEncoder) Forward(x *nn.Tensor) *nn.Tensor {
	x = e.ConvIn.Forward(x) // (B, 3, H, W) -> (B, C, H, W)
	x = e.Block.Forward(x)
	for _, st := range e.Stages {
		x = nn.Conv2d(x, st.Conv.Weight, nil, 2, 1) // (B, C, H, W) -> (B, C, H/2, W/2)
		for _, b := range st.Blocks {
			x = b.Forward(x)
		}
	}
	return e.ConvOut.Forward(x) // (B, C, h, w) -> (B, L, h, w)
}

// Encode encodes an image x (B, 3, H, W) in [-1, 1] (SD's image range) to
// scaled latents: Forward((x+1)/2).
func (e *TinyEncoder) Encode(x *nn.Tensor) (*nn.Tensor, error) {
	const f = 1 << tinyStages // 8
	if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Len() == 0 || x.Shape[2]%f != 0 || x.Shape[3]%f != 0 {
		return nil, fmt.Errorf("vae: taesd encode: image of shape %v, want (B, 3, H, W) with H and W multiples of %d", x.Shape, f)
	}
	u := x.Clone()
	for i, v := range u.Data {
		u.Data[i] = (v + 1) / 2 // [-1, 1] -> [0, 1]
	}
	return e.Forward(u), nil
}

// relu applies max(x, 0) in place and returns x.
func relu(x *nn.Tensor) *nn.Tensor {
	for i, v := range x.Data {
		x.Data[i] = max(v, 0)
	}
	return x
}
