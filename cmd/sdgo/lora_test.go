package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
)

// A prompt's <lora:NAME:W> with --lora-model-dir, and --lora FILE:W,
// reach the image and its parameters.
func TestLoraFlags(t *testing.T) {
	td := testdata.Dir(t, "pipeline")
	ld := testdata.Dir(t, "lora")
	out := filepath.Join(t.TempDir(), "out.png")
	code, _, stderr := sdgo("-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a horse <lora:kohya:0.8>", "--lora-model-dir", ld, "--lora", filepath.Join(ld, "lokr.safetensors")+":0.5",
		"--steps", "2", "-W", "32", "-H", "32", "-q", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p, err := pipeline.ReadParameters(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, "a horse <lora:kohya:0.8>\n") || !strings.Contains(p, `Lora hashes: "kohya: e49b5a89f8b4, lokr: 99311d53a524"`) {
		t.Errorf("parameters %q", p)
	}
	// An unknown name fails, naming it; --lora-skip-unknown warns instead.
	args := []string{"-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a horse <lora:nosuch>", "--lora-model-dir", ld, "--steps", "1", "-W", "32", "-H", "32", "-q", "--overwrite", "-o", out}
	if code, _, stderr := sdgo(args...); code == 0 || !strings.Contains(stderr, "nosuch") {
		t.Errorf("exit %d, stderr %q: want an error naming nosuch", code, stderr)
	}
	if code, _, stderr := sdgo(append(args, "--lora-skip-unknown")...); code != 0 || !strings.Contains(stderr, "warning:") {
		t.Errorf("exit %d, stderr %q: want success with a warning", code, stderr)
	}
}

func TestLoraBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", dir, "-p", "x", "--lora", filepath.Join(dir, "nope.safetensors:0.5")}, "--lora"},
		{[]string{"-m", dir, "-p", "x", "--lora-model-dir", filepath.Join(dir, "nodir")}, "--lora-model-dir"},
		{[]string{"-m", dir, "-p", "x", "--embd-dir", filepath.Join(dir, "nodir")}, "--embd-dir"},
		{[]string{"-m", dir, "-p", "x", "--lora", filepath.Join(dir, "a.safetensors:NaN")}, "the weight must be a finite number"},
		{[]string{"-m", dir, "-p", "x", "--lora", filepath.Join(dir, "a.safetensors:1e9")}, "past ±10"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s", tc.args, code, stderr, tc.want)
		}
	}
}
