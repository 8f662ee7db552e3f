package clip

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// layouts are the namings a CLIP text encoder comes in, each recognised by
// its token embedding. The model loads in transformers' naming; an OpenCLIP
// layout is seen through a view that renames it and splits its fused QKV.
var layouts = []struct {
	probe    string // the token embedding's name
	prefix   string // the text model's prefix in this layout
	openCLIP bool
}{
	// transformers / diffusers text_encoder/
	{"text_model.embeddings.token_embedding.weight", "text_model.", false},
	// SD 1.x single file
	{"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", "cond_stage_model.transformer.text_model.", false},
	// SD 2.x single file (OpenCLIP)
	{"cond_stage_model.model.token_embedding.weight", "cond_stage_model.model.", true},
	// already under text_model. (for example through weights.Prefixed)
	{"embeddings.token_embedding.weight", "", false},
	// a bare OpenCLIP model
	{"token_embedding.weight", "", true},
}

// textModel finds the text encoder in src and returns a source and prefix
// under which it has transformers' names (prefix + "embeddings.…").
func textModel(src weights.Source) (weights.Source, string, error) {
	for _, l := range layouts {
		if _, ok := src.Info(l.probe); !ok {
			continue
		}
		if l.openCLIP {
			return newOpenCLIP(src, l.prefix), "text_model.", nil
		}
		return src, l.prefix, nil
	}
	return nil, "", fmt.Errorf("clip: no CLIP text encoder found (looked for %s, %s)", layouts[0].probe, layouts[2].probe)
}

// Infer returns the config the tensors of src describe. Vocabulary size,
// positions, width, MLP width and layer count are read from shapes. What no
// shape says is assumed: heads of width 64 (every released CLIP model's), and
// OpenAI CLIP's QuickGELU and padding for widths up to 768 in transformers'
// naming, OpenCLIP's GELU and padding 0 otherwise (SD 2.x's OpenCLIP H is
// 1024 wide). Note that a single-file SD 2.x checkpoint holds all 24 layers:
// for SD 2.x's conditioning, encode with ClipSkip 2 or set Layers to 23.
func Infer(src weights.Source) (Config, error) {
	view, prefix, err := textModel(src)
	if err != nil {
		return Config{}, err
	}
	ld := weights.NewLoader(view, prefix)
	tok := ld.Shape("embeddings.token_embedding.weight")
	pos := ld.Shape("embeddings.position_embedding.weight")
	fc1 := ld.Shape("encoder.layers.0.mlp.fc1.weight")
	if len(tok) != 2 || len(pos) != 2 || len(fc1) != 2 {
		return Config{}, fmt.Errorf("clip: infer config: token embedding %v, position embedding %v, layer 0 fc1 %v: want 2-d shapes", tok, pos, fc1)
	}
	_, openCLIP := view.(*openCLIP)
	cfg := SD1()
	if openCLIP || tok[1] > 768 {
		cfg = SD2()
	}
	cfg.VocabSize, cfg.Width = tok[0], tok[1]
	cfg.Positions = pos[0]
	cfg.MLPWidth = fc1[0]
	cfg.Heads = max(1, cfg.Width/64)
	if cfg.Width%cfg.Heads != 0 {
		cfg.Heads = 1
	}
	cfg.Layers = 0
	for ld.Has(fmt.Sprintf("encoder.layers.%d.mlp.fc1.weight", cfg.Layers)) {
		cfg.Layers++
	}
	return cfg, cfg.Validate()
}

// openCLIP presents an OpenCLIP text tower (SD 2.x single-file names) under
// transformers' names:
//
//	token_embedding.weight                   text_model.embeddings.token_embedding.weight
//	positional_embedding                     text_model.embeddings.position_embedding.weight
//	transformer.resblocks.N.ln_1             text_model.encoder.layers.N.layer_norm1
//	transformer.resblocks.N.attn.in_proj_*   text_model.encoder.layers.N.self_attn.{q,k,v}_proj.*
//	transformer.resblocks.N.attn.out_proj    text_model.encoder.layers.N.self_attn.out_proj
//	transformer.resblocks.N.ln_2             text_model.encoder.layers.N.layer_norm2
//	transformer.resblocks.N.mlp.c_fc         text_model.encoder.layers.N.mlp.fc1
//	transformer.resblocks.N.mlp.c_proj       text_model.encoder.layers.N.mlp.fc2
//	ln_final                                 text_model.final_layer_norm
//
// in_proj_weight (3D, D) stacks q, k and v on dim 0; each is a third of it.
// text_projection and logit_scale (CLIP's image-text head) are not shown.
//
// TODO(lead): move to package weights (weights.TextFromLDM) once it exists.
type openCLIP struct {
	src   weights.Source
	names []string
	to    map[string]openCLIPName
}

type openCLIPName struct {
	src  string
	part int // -1: whole tensor; 0, 1, 2: the q, k or v third of a fused one
}

func newOpenCLIP(src weights.Source, prefix string) *openCLIP {
	v := &openCLIP{src: src, to: map[string]openCLIPName{}}
	block := strings.NewReplacer(
		"ln_1.", "layer_norm1.",
		"ln_2.", "layer_norm2.",
		"attn.out_proj.", "self_attn.out_proj.",
		"mlp.c_fc.", "mlp.fc1.",
		"mlp.c_proj.", "mlp.fc2.",
	)
	for _, name := range src.Names() {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		add := func(canon string, part int) {
			canon = "text_model." + canon
			v.to[canon] = openCLIPName{name, part}
			v.names = append(v.names, canon)
		}
		switch rest {
		case "token_embedding.weight":
			add("embeddings.token_embedding.weight", -1)
		case "positional_embedding":
			add("embeddings.position_embedding.weight", -1)
		case "ln_final.weight", "ln_final.bias":
			add("final_layer_norm."+strings.TrimPrefix(rest, "ln_final."), -1)
		}
		blk, ok := strings.CutPrefix(rest, "transformer.resblocks.")
		if !ok {
			continue
		}
		n, tail, ok := strings.Cut(blk, ".")
		if !ok {
			continue
		}
		layer := "encoder.layers." + n + "."
		switch tail {
		case "attn.in_proj_weight", "attn.in_proj_bias":
			kind := strings.TrimPrefix(tail, "attn.in_proj_")
			for part, p := range []string{"q", "k", "v"} {
				add(layer+"self_attn."+p+"_proj."+kind, part)
			}
		default:
			if t := block.Replace(tail); t != tail {
				add(layer+t, -1)
			}
		}
	}
	sort.Strings(v.names)
	return v
}

// Names lists the transformers names of the tensors shown.
func (v *openCLIP) Names() []string { return v.names }

// Info describes the tensor of a transformers name.
func (v *openCLIP) Info(name string) (weights.Info, bool) {
	n, ok := v.to[name]
	if !ok {
		return weights.Info{}, false
	}
	in, ok := v.src.Info(n.src)
	if !ok {
		return weights.Info{}, false
	}
	in.Name = name
	if n.part >= 0 && len(in.Shape) > 0 {
		in.Shape = append([]int(nil), in.Shape...)
		in.Shape[0] /= 3
		size := (in.End - in.Begin) / 3
		in.Begin += int64(n.part) * size
		in.End = in.Begin + size
	}
	return in, true
}

// Tensor reads the tensor of a transformers name.
func (v *openCLIP) Tensor(name string) (*nn.Tensor, error) {
	n, ok := v.to[name]
	if !ok {
		return nil, fmt.Errorf("clip: %q: %w", name, weights.ErrNotFound)
	}
	t, err := v.src.Tensor(n.src)
	if err != nil || n.part < 0 {
		return t, err
	}
	if len(t.Shape) == 0 || t.Shape[0]%3 != 0 {
		return nil, fmt.Errorf("clip: %s: shape %v, want a first dimension of 3·D (q, k, v stacked)", n.src, t.Shape)
	}
	shape := append([]int(nil), t.Shape...)
	shape[0] /= 3
	size := len(t.Data) / 3
	// Copy the third out, so the fused tensor is not kept alive.
	data := append([]float32(nil), t.Data[n.part*size:(n.part+1)*size]...)
	return nn.From(data, shape...), nil
}
