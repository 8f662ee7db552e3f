package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestBindBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--objects", "3"}, "--objects must be 1, 2 or 0"},
		{[]string{"eval", "--reconstruct", "--bind"}, "--reconstruct scores the autoencoder alone"},
		{[]string{"train", "clip", "--out", dir, "--pair-share", "2"}, "--pair-share and --relation-share"},
		{[]string{"train", "unet", "--out", dir, "--text-lr", "-1"}, "--text-lr must be a number in [0, 1]"},
		{[]string{"train", "clip", "--out", dir, "--text-lr", "1e-4"}, "--text-lr is for the unet stage"},
		{[]string{"train", "vae", "--out", dir, "--text-lr", "0"}, "--text-lr is for the unet stage"}, // given, even at 0
		{[]string{"train", "vae", "--out", dir, "--latent-channels", "65"}, "--latent-channels must be in [1, 64]"},
		{[]string{"train", "unet", "--out", dir, "--latent-channels", "8"}, "--latent-channels is for the vae stage"},
		{[]string{"train", "vae", "--out", dir, "--foreground-margin", "-1"}, "--foreground-margin must be in [0, 32]"},
		{[]string{"train", "clip", "--out", dir, "--foreground-margin", "2"}, "--foreground-margin is for the vae stage"},
		{[]string{"train", "unet", "--out", dir, "--latent-stats"}, "--latent-stats is for the vae stage"},
		{[]string{"-p", "a red circle", "--bind", "--bind-scale", "0", "-o", filepath.Join(dir, "x.png")}, "--bind-scale must be a positive number"},
		{[]string{"-p", "a red circle", "--bind", "--bind-until", "2", "-o", filepath.Join(dir, "x.png")}, "--bind-until must be in (0, 1]"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --bind generates with the built-in model, and eval scores pairs with it.
func TestBindGenerateAndEval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pair.png")
	if code, _, stderr := sdgo("-p", "a red circle above a blue square", "--bind", "--steps", "4", "-q", "-o", out); code != 0 {
		t.Fatalf("sdgo --bind: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := sdgo("eval", "--objects", "2", "--n", "2", "--steps", "2", "--bind")
	if code != 0 || !strings.Contains(stdout, "held-out captions of two shapes") || !strings.Contains(stdout, "relation") || strings.Contains(stdout, "of one shape") {
		t.Errorf("eval --objects 2 --bind: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
