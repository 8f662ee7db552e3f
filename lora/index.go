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
	UNetPrefix = "unet."
	TextPrefix = "text_encoder."
)

// Index maps adapter module keys, in every naming convention this package
// reads, to the model weights they change. It is built from the model's
// own names, so it knows exactly the modules the model has.
type Index struct {
	keys    map[string]string     // module key → weight name ("unet.down_blocks.0.….to_q.weight")
	weights map[string]*nn.Tensor // weight name → the model's tensor
}

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
	for n, t := range text {
		mod, ok := strings.CutSuffix(n, ".weight")
		if !ok || len(t.Shape) < 2 {
			continue
		}
		w := TextPrefix + n
		ix.weights[w] = t
		ix.keys["lora_te_"+under.Replace(mod)] = w
		ix.keys[TextPrefix+mod] = w
	}
	return ix
}

// Resolve returns the name of the weight a module key changes ("" if none).
func (ix *Index) Resolve(key string) string { return ix.keys[key] }

// Weight returns the model's tensor of a weight name from Resolve.
func (ix *Index) Weight(name string) *nn.Tensor { return ix.weights[name] }
