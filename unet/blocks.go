package unet

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
	"github.com/sdgo/sdgo/weights"
)

// DownBlock is one level of the encoder half (diffusers' CrossAttnDownBlock2D
// or DownBlock2D): LayersPerBlock resnets, each followed by a spatial
// transformer in the cross-attention kind, then a stride-2 conv halving the
// resolution (except at the last level). Every resnet/transformer output and
// the downsampler's output are kept as skip connections for the up path.
type DownBlock struct {
	Resnets      []*ResnetBlock2D // resnets.N
	Attentions   []*Transformer2D // attentions.N, empty for DownBlock2D
	Downsamplers []*Downsample2D  // downsamplers.0, empty at the last level
}

func loadDownBlock(ld *weights.Loader, cfg Config, level, in int) *DownBlock {
	out := cfg.BlockOutChannels[level]
	d := &DownBlock{}
	for j := range cfg.LayersPerBlock {
		d.Resnets = append(d.Resnets, loadResnet(ld.Subf("resnets.%d", j), cfg, in, out))
		if cfg.DownBlockTypes[level] == CrossAttnDownBlock2D {
			d.Attentions = append(d.Attentions, loadTransformer(ld.Subf("attentions.%d", j), cfg, out, cfg.Heads[level], cfg.TransformerLayersPerBlock[level]))
		}
		in = out
	}
	if level < cfg.Levels()-1 {
		d.Downsamplers = []*Downsample2D{{Conv: layer.NewConv2d(ld.Sub("downsamplers.0.conv"), out, out, 3, 2, cfg.DownsamplePadding)}}
	}
	return d
}

// Forward runs the level on x (B, In, H, W) and returns its output
// (B, Out, H/2, W/2) (or (B, Out, H, W) at the last level) with the skip
// connections pushed onto skips.
func (d *DownBlock) Forward(x, embAct, ctx *nn.Tensor, skips *[]*nn.Tensor, trace tracer, name string) *nn.Tensor {
	for j, r := range d.Resnets {
		x = r.Forward(x, embAct) // (B, In, H, W) -> (B, Out, H, W)
		trace.do(fmt.Sprintf("%s.resnet%d", name, j), x)
		if len(d.Attentions) > 0 {
			n := fmt.Sprintf("%s.attn%d", name, j)
			x = d.Attentions[j].Forward(x, ctx, trace, n)
			trace.do(n, x)
		}
		*skips = append(*skips, x)
	}
	for _, ds := range d.Downsamplers {
		x = ds.Forward(x) // (B, Out, H, W) -> (B, Out, H/2, W/2)
		*skips = append(*skips, x)
	}
	return x
}

// Downsample2D halves the resolution with a 3×3 convolution of stride 2
// (LDM "op"): (B, C, H, W) -> (B, C, ⌈H/2⌉, ⌈W/2⌉).
type Downsample2D struct {
	Conv layer.Conv2d // conv: (C, C, 3, 3)
}

// Forward applies the strided convolution.
func (d *Downsample2D) Forward(x *nn.Tensor) *nn.Tensor { return d.Conv.Forward(x) }

// MidBlock is the bottleneck at the lowest resolution (diffusers'
// UNetMidBlock2DCrossAttn, LDM "middle_block"): resnet → transformer → resnet.
type MidBlock struct {
	Resnets    []*ResnetBlock2D // resnets.0, resnets.1
	Attentions []*Transformer2D // attentions.0
}

func loadMidBlock(ld *weights.Loader, cfg Config) *MidBlock {
	last := cfg.Levels() - 1
	ch := cfg.BlockOutChannels[last]
	return &MidBlock{
		Resnets: []*ResnetBlock2D{
			loadResnet(ld.Sub("resnets.0"), cfg, ch, ch),
			loadResnet(ld.Sub("resnets.1"), cfg, ch, ch),
		},
		Attentions: []*Transformer2D{
			loadTransformer(ld.Sub("attentions.0"), cfg, ch, cfg.Heads[last], cfg.TransformerLayersPerBlock[last]),
		},
	}
}

// Forward applies the block: (B, C, h, w) -> (B, C, h, w).
func (m *MidBlock) Forward(x, embAct, ctx *nn.Tensor, trace tracer, name string) *nn.Tensor {
	x = m.Resnets[0].Forward(x, embAct)
	trace.do(name+".resnet0", x)
	x = m.Attentions[0].Forward(x, ctx, trace, name+".attn0")
	trace.do(name+".attn0", x)
	return m.Resnets[1].Forward(x, embAct)
}

// UpBlock is one level of the decoder half (diffusers' CrossAttnUpBlock2D or
// UpBlock2D): LayersPerBlock+1 resnets, each fed the previous output
// concatenated with the skip connection it pops ([hidden, skip] along the
// channels), each followed by a spatial transformer in the cross-attention
// kind, then a nearest ×2 upsampling and a 3×3 conv (except at the top level).
type UpBlock struct {
	Resnets    []*ResnetBlock2D // resnets.N
	Attentions []*Transformer2D // attentions.N, empty for UpBlock2D
	Upsamplers []*Upsample2D    // upsamplers.0, empty at the last (full-resolution) block
}

// loadUpBlock loads up block i (i = 0 is the deepest level). skipCh lists the
// channels of the skips it will pop, in popping order.
func loadUpBlock(ld *weights.Loader, cfg Config, i, in int, skipCh []int) *UpBlock {
	level := cfg.Levels() - 1 - i
	out := cfg.BlockOutChannels[level]
	u := &UpBlock{}
	for j := range cfg.LayersPerBlock + 1 {
		u.Resnets = append(u.Resnets, loadResnet(ld.Subf("resnets.%d", j), cfg, in+skipCh[j], out))
		if cfg.UpBlockTypes[i] == CrossAttnUpBlock2D {
			u.Attentions = append(u.Attentions, loadTransformer(ld.Subf("attentions.%d", j), cfg, out, cfg.Heads[level], cfg.TransformerLayersPerBlock[level]))
		}
		in = out
	}
	if level > 0 {
		u.Upsamplers = []*Upsample2D{{Conv: layer.NewConv2d(ld.Sub("upsamplers.0.conv"), out, out, 3, 1, 1)}}
	}
	return u
}

// Forward runs the block on x (B, In, h, w), popping its skips from the end
// of skips, and returns (B, Out, 2h, 2w) (or (B, Out, h, w) at the top).
// The upsampler's output takes the size of the next skip to be popped, so
// latents whose sides are not multiples of 8 come back to their size.
func (u *UpBlock) Forward(x, embAct, ctx *nn.Tensor, skips *[]*nn.Tensor, trace tracer, name string) *nn.Tensor {
	for j, r := range u.Resnets {
		s := (*skips)[len(*skips)-1]
		*skips = (*skips)[:len(*skips)-1]
		x = nn.Concat(x, s)      // (B, In, h, w) + (B, S, h, w) -> (B, In+S, h, w)
		x = r.Forward(x, embAct) // -> (B, Out, h, w)
		trace.do(fmt.Sprintf("%s.resnet%d", name, j), x)
		if len(u.Attentions) > 0 {
			n := fmt.Sprintf("%s.attn%d", name, j)
			x = u.Attentions[j].Forward(x, ctx, trace, n)
			trace.do(n, x)
		}
	}
	for _, us := range u.Upsamplers {
		next := (*skips)[len(*skips)-1]
		x = us.Forward(x, next.Shape[2], next.Shape[3]) // (B, Out, h, w) -> (B, Out, 2h, 2w)
	}
	return x
}

// Upsample2D doubles the resolution: nearest-neighbour ×2, then a 3×3 conv.
type Upsample2D struct {
	Conv layer.Conv2d // conv: (C, C, 3, 3)
}

// Forward upsamples x (B, C, h, w) to (B, C, oh, ow), normally (2h, 2w), and
// applies the convolution.
func (u *Upsample2D) Forward(x *nn.Tensor, oh, ow int) *nn.Tensor {
	if oh == 2*x.Shape[2] && ow == 2*x.Shape[3] {
		return u.Conv.ForwardUpsample2x(x) // (B, C, h, w) -> (B, C, 2h, 2w), without holding the 2× input
	}
	x = upsampleNearest(x, oh, ow) // odd latent sizes: (B, C, h, w) -> (B, C, oh, ow)
	return u.Conv.Forward(x)
}

// upsampleNearest resizes x (B, C, h, w) to (B, C, oh, ow) as PyTorch's
// interpolate(mode="nearest", size=…) does: source index ⌊i·h/oh⌋.
func upsampleNearest(x *nn.Tensor, oh, ow int) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := nn.New(b, c, oh, ow)
	sy, sx := float32(h)/float32(oh), float32(w)/float32(ow)
	for p := 0; p < b*c; p++ {
		src, dst := x.Data[p*h*w:(p+1)*h*w], y.Data[p*oh*ow:(p+1)*oh*ow]
		for i := range oh {
			si := min(int(float32(i)*sy), h-1)
			for j := range ow {
				dst[i*ow+j] = src[si*w+min(int(float32(j)*sx), w-1)]
			}
		}
	}
	return y
}
