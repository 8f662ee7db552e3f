package weights

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
)

// The diffusers pipeline folder holds only fp16 variants: they open with
// either preference and hold the reference models' tensors.
func TestOpenDiffusers(t *testing.T) {
	dir := testdata.Dir(t, "pipeline/diffusers")
	for _, tc := range []struct {
		component, ref string
	}{
		{"unet", "unet/diffusion_pytorch_model.safetensors"},
		{"vae", "vae/diffusion_pytorch_model.safetensors"},
		{"text_encoder", "clip/sd1/model.safetensors"}, // another tiny CLIP: same names, other sizes
	} {
		for _, fp16 := range []bool{true, false} {
			src, closer, err := OpenDiffusers(dir, tc.component, fp16)
			if err != nil {
				t.Fatal(err)
			}
			want := Shapes(openRef(t, tc.ref))
			if tc.component == "text_encoder" {
				for n := range want {
					want[n] = nil
				}
			}
			if err := Check(src, want); err != nil {
				t.Errorf("%s: %v", tc.component, err)
			}
			if in, _ := src.Info(src.Names()[0]); in.DType != F16 {
				t.Errorf("%s: dtype %s, want the fp16 variant", tc.component, in.DType)
			}
			closer()
		}
	}
	if _, _, err := OpenDiffusers(dir, "tokenizer", false); err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Errorf("folder without weights: %v", err)
	}
}

// A model split into shards opens from its index and reads like one file.
func TestOpenSharded(t *testing.T) {
	ref := openRef(t, "vae/diffusion_pytorch_model.safetensors")
	dir := t.TempDir()
	shards := []map[string]*nn.Tensor{{}, {}}
	weightMap := map[string]string{}
	for i, n := range ref.Names() {
		x, err := ref.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		shards[i%2][n] = x
		weightMap[n] = []string{"diffusion_pytorch_model-00001-of-00002.safetensors", "diffusion_pytorch_model-00002-of-00002.safetensors"}[i%2]
	}
	writeFile(t, filepath.Join(dir, "diffusion_pytorch_model-00001-of-00002.safetensors"), encodeSafetensors(shards[0]))
	writeFile(t, filepath.Join(dir, "diffusion_pytorch_model-00002-of-00002.safetensors"), encodeSafetensors(shards[1]))
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	writeFile(t, filepath.Join(dir, "diffusion_pytorch_model.safetensors.index.json"), index)

	src, closer, err := OpenDiffusers(dir, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if err := Check(src, Shapes(ref)); err != nil {
		t.Fatal(err)
	}
	for _, n := range ref.Names() {
		w, _ := ref.Tensor(n)
		g, err := src.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Fatalf("%s[%d] = %g, want %g", n, i, g.Data[i], w.Data[i])
			}
		}
	}

	// An index naming a tensor its shard lacks is refused by name.
	weightMap["ghost.weight"] = "diffusion_pytorch_model-00001-of-00002.safetensors"
	index, _ = json.Marshal(map[string]any{"weight_map": weightMap})
	bad := filepath.Join(dir, "bad.safetensors.index.json")
	writeFile(t, bad, index)
	if _, _, err := OpenSharded(bad); err == nil || !strings.Contains(err.Error(), `"ghost.weight"`) {
		t.Errorf("index with a missing tensor: %v", err)
	}
	os.Remove(bad)
}

func TestCheck(t *testing.T) {
	src, err := Parse("small.safetensors", small()) // a (2, 3), b (4,)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(src, map[string][]int{"a": {2, 3}, "b": nil}); err != nil {
		t.Fatal(err)
	}
	err = Check(src, map[string][]int{"a": {3, 2}, "c": {1}})
	ce, ok := err.(*CheckError)
	if !ok {
		t.Fatalf("%v is not a *CheckError", err)
	}
	if !sameStrings(ce.Missing, []string{"c"}) || !sameStrings(ce.Unexpected, []string{"b"}) ||
		!sameStrings(ce.Misshaped, []string{"a: shape [2 3], want [3 2]"}) {
		t.Fatalf("%+v", ce)
	}
	const want = "weights: 1 missing: c; 1 unexpected: b; 1 mis-shaped: a: shape [2 3], want [3 2]"
	if err.Error() != want {
		t.Fatalf("%q\nwant %q", err, want)
	}
}

func sameStrings(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }
