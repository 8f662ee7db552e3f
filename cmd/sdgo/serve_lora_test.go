package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// TestServeLoras checks that sdgo serve's --lora-model-dir and --embd-dir
// reach the model: /sdapi/v1/loras and /sdapi/v1/embeddings list the
// folders, and a <lora:NAME:W> tag in a txt2img prompt gives diffusers'
// image of that adapter (±1 level, the pipeline's parity tolerance).
func TestServeLoras(t *testing.T) {
	td, ld := testdata.Dir(t, "pipeline"), testdata.Dir(t, "lora")
	emb := t.TempDir()
	b, err := os.ReadFile(filepath.Join(ld, "emb_st.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(emb, "emb_st.safetensors"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	url, stop := startServe(t, "-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"--lora-model-dir", ld, "--embd-dir", emb)
	defer stop()

	get := func(path string, v any) {
		t.Helper()
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var loras []struct{ Name, Path string }
	get("/sdapi/v1/loras", &loras)
	names := map[string]bool{}
	for _, l := range loras {
		names[l.Name] = true
	}
	for _, n := range []string{"kohya", "locon", "loha", "lokr", "peft"} {
		if !names[n] {
			t.Errorf("/sdapi/v1/loras lacks %q: %+v", n, loras)
		}
	}
	var embs struct {
		Loaded map[string]struct{ Vectors int } `json:"loaded"`
	}
	get("/sdapi/v1/embeddings", &embs)
	if _, ok := embs.Loaded["emb_st"]; !ok {
		t.Errorf("/sdapi/v1/embeddings: %+v, want emb_st loaded", embs)
	}

	body := `{"prompt":"a photograph of an astronaut riding a horse <lora:kohya:0.8>","seed":42,"sampler_name":"Euler",
		"steps":4,"width":32,"height":32,"cfg_scale":7.5}`
	res, err := http.Post(url+"/sdapi/v1/txt2img", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ Images []string }
	json.NewDecoder(res.Body).Decode(&reply)
	res.Body.Close()
	if res.StatusCode != 200 || len(reply.Images) != 1 {
		t.Fatalf("status %d, %d images", res.StatusCode, len(reply.Images))
	}
	served, _ := base64.StdEncoding.DecodeString(reply.Images[0])
	got, err := png.Decode(bytes.NewReader(served))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(served, []byte(`Lora hashes: "kohya: `)) {
		t.Errorf("the PNG's parameters lack the Lora hashes")
	}
	f, err := os.Open(filepath.Join(ld, "runs", "kohya_0.8_euler_4.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("size %v, want %v", got.Bounds(), want.Bounds())
	}
	worst := 0
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > 1 {
		t.Errorf("served <lora:kohya:0.8> image differs from diffusers' by up to %d levels, want ≤ 1", worst)
	}

	// OpenAI's route takes the same syntax and gives the same image.
	body = `{"prompt":"a photograph of an astronaut riding a horse <lora:kohya:0.8>","seed":42,"sampler_name":"Euler",
		"steps":4,"size":"32x32","cfg_scale":7.5}`
	res, err = http.Post(url+"/v1/images/generations", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var oai struct {
		Data []struct {
			B64 string `json:"b64_json"`
		}
	}
	json.NewDecoder(res.Body).Decode(&oai)
	res.Body.Close()
	if res.StatusCode != 200 || len(oai.Data) != 1 {
		t.Fatalf("/v1/images/generations: status %d, %d images", res.StatusCode, len(oai.Data))
	}
	if b, _ := base64.StdEncoding.DecodeString(oai.Data[0].B64); !bytes.Equal(b, served) {
		t.Errorf("/v1/images/generations with <lora:kohya:0.8>: the PNG differs from /sdapi/v1/txt2img's")
	}
}
