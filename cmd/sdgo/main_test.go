package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// sdgo runs the command with args and returns its exit code, stdout and stderr.
func sdgo(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "taken.png")
	os.WriteFile(existing, []byte("keep me"), 0o644)
	for _, tc := range []struct {
		args []string
		want string // in the one-line error
	}{
		{[]string{"-p", "x", "--clip-skip", "0"}, "--clip-skip"},
		{[]string{"-m", "/nonexistent/model.safetensors", "-p", "x"}, "-m/--model"},
		{[]string{"-m", dir, "-p", "x", "-W", "100"}, "-W/--width must be a positive multiple of 8"},
		{[]string{"-m", dir, "-p", "x", "--steps", "0"}, "--steps"},
		{[]string{"-m", dir, "-p", "x", "--sampler", "nope"}, "--sampler"},
		{[]string{"-m", dir, "-p", "x", "--strength", "2"}, "--strength"},
		{[]string{"-m", dir, "-p", "x", "--rng", "gpu"}, "--rng"},
		{[]string{"-m", dir, "-p", "x", "-o", "out.jpg"}, "-o/--output"},
		{[]string{"-m", dir, "-p", "x", "-o", existing}, "already exists"},
		{[]string{"-m", dir, "-p", "x", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"-m", dir, "-p", "x", "--steps", "many"}, "--steps"},
		{[]string{"-m", dir, "-p", "x", "extra"}, "unexpected argument"},
		{[]string{"tokenize"}, "no TEXT"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr)
		}
		if !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, stderr, tc.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("an existing output was overwritten")
	}
	// A folder that is not a model: exit 1, error naming it.
	code, _, stderr := sdgo("-m", dir, "-p", "x", "-o", filepath.Join(dir, "a.png"))
	if code != 1 || !strings.Contains(stderr, dir) || !strings.Contains(stderr, "model_index.json") {
		t.Errorf("not a model: exit %d, %q", code, stderr)
	}
	if code, out, _ := sdgo("--help"); code != 0 || !strings.Contains(out, "--cfg-scale") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

func TestGenerate(t *testing.T) {
	td := testdata.Dir(t, "pipeline")
	dir := t.TempDir()
	out := filepath.Join(dir, "img.png")
	prev := filepath.Join(dir, "preview.png")
	stages := filepath.Join(dir, "stages")
	code, stdout, stderr := sdgo("-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a (red:1.2) circle", "-n", "blurry", "-W", "32", "-H", "32", "--steps", "3", "--sampler", "euler_a",
		"-s", "7", "--batch-count", "2", "-o", out, "--preview", prev, "--dump-stages", stages, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, p := range []string{out, filepath.Join(dir, "img_2.png"), prev, filepath.Join(stages, "stages.safetensors"), filepath.Join(stages, "step002.png")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if !strings.Contains(stdout, "img_2.png (seed 8)") {
		t.Errorf("stdout %q", stdout)
	}
	params, err := pipeline.ReadParameters(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a (red:1.2) circle\nNegative prompt: blurry\n", "Steps: 3", "Sampler: Euler a", "CFG scale: 7.5", "Seed: 7", "Size: 32x32"} {
		if !strings.Contains(params, want) {
			t.Errorf("parameters %q lack %q", params, want)
		}
	}
	// A TAESD decoder for the previews (random weights of TAESD's layout).
	taesd := testdata.Path(t, "taesd/random_arch/taesd_decoder.fp16.safetensors")
	code, _, stderr = sdgo("-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "x", "-W", "32", "-H", "32", "--steps", "2", "-o", filepath.Join(dir, "t.png"), "--preview", prev, "--taesd", taesd, "-q")
	if code != 0 {
		t.Fatalf("--taesd: exit %d: %s", code, stderr)
	}
	// img2img from the image just made.
	out2 := filepath.Join(dir, "img2img.png")
	code, _, stderr = sdgo("-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a circle", "-i", out, "--strength", "0.5", "--steps", "4", "-o", out2, "-q")
	if code != 0 {
		t.Fatalf("img2img: exit %d: %s", code, stderr)
	}
	if params, _ := pipeline.ReadParameters(out2); !strings.Contains(params, "Denoising strength: 0.5") {
		t.Errorf("img2img parameters %q", params)
	}
}

func TestTokenize(t *testing.T) {
	dir := testdata.Dir(t, "tokenizer")
	code, out, stderr := sdgo("tokenize", "--tokenizer", dir, "--pieces", "a photo of a cat")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[49406,320,1125,539,320,2368,49407,49407,") || lines[1] != `["a</w>","photo</w>","of</w>","a</w>","cat</w>"]` {
		t.Fatalf("output %q", out)
	}
	code, out, _ = sdgo("tokenize", "--tokenizer", dir, "--pad", "sd2", "a cat")
	if code != 0 || !strings.HasPrefix(out, "[49406,320,2368,49407,0,0,") {
		t.Fatalf("sd2 padding: %q", out)
	}
}

// Without -m, sdgo uses the built-in sd-mini.
func TestBuiltinModel(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "circle.png")
	code, stdout, stderr := sdgo("-p", "a red circle on the left", "-o", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, out) {
		t.Fatalf("stdout %q", stdout)
	}
	params, err := pipeline.ReadParameters(out)
	if err != nil || !strings.Contains(params, fmt.Sprintf("CFG scale: %g,", float64(sdmini.DefaultCFGScale))) || !strings.Contains(params, "Size: 64x64") {
		t.Fatalf("parameters %q, %v", params, err)
	}
}
