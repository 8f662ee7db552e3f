package weights

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// OpenDiffusers opens the weights of one component ("unet", "vae",
// "text_encoder", ...) of a diffusers pipeline folder dir (dir itself when
// component is ""). It looks, in this order of file names, for
//
//	diffusion_pytorch_model[.fp16].safetensors   (diffusers models)
//	model[.fp16].safetensors                     (transformers models)
//
// each also as a sharded checkpoint (<name>.safetensors.index[.fp16].json
// listing its shard files), and last for PyTorch zip files
// (diffusion_pytorch_model[.fp16].bin, pytorch_model[.fp16].bin).
// With preferFP16 the ".fp16" variant is tried first, else last: a folder
// holding only one variant opens either way. The returned function closes
// every file opened.
func OpenDiffusers(dir, component string, preferFP16 bool) (Source, func() error, error) {
	folder := filepath.Join(dir, component)
	variants := []string{"", ".fp16"}
	if preferFP16 {
		variants = []string{".fp16", ""}
	}
	for _, v := range variants {
		for _, base := range []string{"diffusion_pytorch_model", "model"} {
			if p := filepath.Join(folder, base+v+".safetensors"); exists(p) {
				return OpenAny(p)
			}
			for _, idx := range []string{base + ".safetensors.index" + v + ".json", base + v + ".safetensors.index.json"} {
				if p := filepath.Join(folder, idx); exists(p) {
					return OpenSharded(p)
				}
			}
		}
	}
	for _, v := range variants {
		for _, base := range []string{"diffusion_pytorch_model", "pytorch_model"} {
			if p := filepath.Join(folder, base+v+".bin"); exists(p) {
				return OpenAny(p)
			}
		}
	}
	return nil, nil, fmt.Errorf("weights: %s: no diffusion_pytorch_model or model .safetensors (or .bin) weights", folder)
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// OpenSharded opens a sharded checkpoint from its index file
// (*.safetensors.index.json: {"weight_map": {tensor name: shard file}}),
// checking that each shard holds the tensors the index assigns to it.
func OpenSharded(index string) (Source, func() error, error) {
	b, err := os.ReadFile(index)
	if err != nil {
		return nil, nil, fmt.Errorf("weights: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, nil, fmt.Errorf("weights: %s: %w", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("weights: %s: empty weight_map", index)
	}
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	var (
		multi   Multi
		closers []func() error
	)
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	for _, s := range shards {
		if filepath.IsAbs(s) || s != filepath.Base(s) {
			closeAll()
			return nil, nil, fmt.Errorf("weights: %s: shard %q is not a file beside the index", index, s)
		}
		src, c, err := OpenAny(filepath.Join(filepath.Dir(index), s))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, c)
		for _, name := range byShard[s] {
			if _, ok := src.Info(name); !ok {
				closeAll()
				return nil, nil, fmt.Errorf("weights: %s: tensor %q is not in its shard %s", index, name, s)
			}
		}
		multi = append(multi, src)
	}
	return multi, closeAll, nil
}
