package lora

import (
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// The component prefixes of weight names in an Index, as the reference
// data's merged files and diffusers' PEFT keys name them.
const (
	UNetPrefix  = "unet."
	TextPrefix  = "text_encoder."
	Text2Prefix = "text_encoder_2." // SDXL's second text encoder (OpenCLIP ViT-bigG)
)

// Index maps adapter module keys, in every naming convention this package
// reads, to the model weights they change. It is built from the model's
// own names, so it knows exactly the modules the model has.
type Index struct {
	keys    map[string]string     // module key → weight name ("unet.down_blocks.0.….to_q.weight")
	weights map[string]*nn.Tensor // weight name → the model's tensor
	// Release, when set, is called by Apply after every releaseEvery bytes
	// of half-precision weights it has read, and at its end, so that the
	// owner of a memory-mapped checkpoint can give the pages read back
	// (pipeline.Model.ReleasePages): the merge then holds its private
	// copies, not also the mapped pages of every weight it touched.
	Release func()
}

// releaseEvery is how many bytes of weights Apply reads between calls of
// Index.Release.
const releaseEvery = 128 << 20

// NewIndex indexes a U-Net's weights (unet.Model.Weights: diffusers names)
// and a text encoder's (clip.Model.Weights: transformers CLIPTextModel
// names); either may be nil. Each weight of two or more dimensions (a
// linear layer's or a convolution's) of module M is known under:
//
//	U-Net:        lora_unet_<M with . → _>, lora_unet_<M in the original layout, . → _>, unet.<M>
//	text encoder: lora_te_<M with . → _>, text_encoder.<M>
//
// The original layout's names come from weights.UNetNamesToLDM, the map
// single-file checkpoints load through.
func NewIndex(unet, text map[string]*nn.Tensor) *Index {
	ix := &Index{keys: map[string]string{}, weights: map[string]*nn.Tensor{}}
	unetNames := make([]string, 0, len(unet))
	for n := range unet {
		unetNames = append(unetNames, n)
	}
	sort.Strings(unetNames)
	ldm := weights.UNetNamesToLDM(unetNames)
	under := strings.NewReplacer(".", "_")
	for _, n := range unetNames {
		t := unet[n]
		mod, ok := strings.CutSuffix(n, ".weight")
		if !ok || len(t.Shape) < 2 {
			continue
		}
		w := UNetPrefix + n
		ix.weights[w] = t
		ix.keys["lora_unet_"+under.Replace(mod)] = w
		ix.keys[UNetPrefix+mod] = w
		if l, ok := strings.CutSuffix(ldm[n], ".weight"); ok && l != mod {
			ix.keys["lora_unet_"+under.Replace(l)] = w
		}
	}
	ix.addText(text, "lora_te_", TextPrefix)
	return ix
}

// NewIndexSDXL indexes SDXL's U-Net and its two text encoders, each in
// transformers' names (clip.Model.Weights: the second encoder's are the
// same names whatever the file called them, an OpenCLIP single file's
// fused in_proj included, because the model's loader maps them). Each
// weight of module M is known under the U-Net keys of NewIndex and:
//
//	text encoder 1 (CLIP ViT-L):      lora_te1_<M with . → _>, text_encoder.<M>
//	text encoder 2 (OpenCLIP bigG):   lora_te2_<M with . → _>, text_encoder_2.<M>
//
// as kohya-ss's sd-scripts (sdxl_train_network.py) and diffusers' SDXL
// LoRA files name them. SD 1.x's lora_te_ is not known.
func NewIndexSDXL(unet, text, text2 map[string]*nn.Tensor) *Index {
	ix := NewIndex(unet, nil)
	ix.addText(text, "lora_te1_", TextPrefix)
	ix.addText(text2, "lora_te2_", Text2Prefix)
	return ix
}

// addText indexes a text encoder's weights under kohya's prefix and under
// the component prefix, which also starts their weight names.
func (ix *Index) addText(text map[string]*nn.Tensor, kohya, component string) {
	under := strings.NewReplacer(".", "_")
	for n, t := range text {
		mod, ok := strings.CutSuffix(n, ".weight")
		if !ok || len(t.Shape) < 2 {
			continue
		}
		w := component + n
		ix.weights[w] = t
		ix.keys[kohya+under.Replace(mod)] = w
		ix.keys[component+mod] = w
	}
}

// Resolve returns the name of the weight a module key changes ("" if none).
func (ix *Index) Resolve(key string) string { return ix.keys[key] }

// Weight returns the model's tensor of a weight name from Resolve.
func (ix *Index) Weight(name string) *nn.Tensor { return ix.weights[name] }
