package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train"}, "want one STAGE"},
		{[]string{"train", "nope", "--out", dir}, `unknown stage "nope"`},
		{[]string{"train", "clip"}, "--out DIR is required"},
		{[]string{"train", "clip", "--out", dir, "--steps", "-1"}, "must not be negative"},
		{[]string{"train", "clip", "--out", dir, "--log-every", "0"}, "must be positive"},
		{[]string{"train", "clip", "--out", dir, "--bogus"}, "unknown flag: --bogus"},
		{[]string{"eval", "--steps", "0"}, "--n and --steps"},
		{[]string{"train", "eval", "--model", dir, "--n", "0"}, "--n and --steps"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
	// A stage whose inputs are missing names the stage to run first.
	code, _, stderr := sdgo("train", "unet", "--out", dir)
	if code != 1 || !strings.Contains(stderr, "run the bpe stage first") {
		t.Errorf("unet before bpe: exit %d, %q", code, stderr)
	}
	if code, out, _ := sdgo("train", "--help"); code != 0 || !strings.Contains(out, "--resume") || !strings.Contains(out, "unet  steps") {
		t.Errorf("train --help: exit %d, %q", code, out)
	} else {
		// The recipe flags default to the built-in weights' recipe (sdmini.BuiltIn).
		for _, want := range []string{"(default 0.6)", "(default 0.5)", "(default 0.0001)", "(default 2)", "--hard-negatives", "(default true)"} {
			if !strings.Contains(out, want) {
				t.Errorf("train --help does not show %q", want)
			}
		}
	}
	// --cpuprofile writes a profile and never overwrites a file.
	prof := filepath.Join(dir, "bpe.prof")
	if code, _, stderr := sdgo("train", "bpe", "--out", filepath.Join(dir, "m"), "--cpuprofile", prof); code != 0 {
		t.Fatalf("train bpe --cpuprofile: exit %d: %s", code, stderr)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("--cpuprofile %s: %v, %v", prof, fi, err)
	}
	if code, _, stderr := sdgo("train", "bpe", "--out", filepath.Join(dir, "m"), "--cpuprofile", prof); code != 1 || !strings.Contains(stderr, "file exists") {
		t.Errorf("train bpe --cpuprofile onto an existing file: exit %d, %q", code, stderr)
	}
}

// TestTrainAll trains every stage for one step, then evaluates the model
// on two held-out captions and generates an image from it with sdgo -m.
func TestTrainAll(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "mini")
	code, _, stderr := sdgo("train", "all", "--out", model, "--steps", "1", "--batch", "2", "--scenes", "8", "--threads", "2")
	if code != 0 {
		t.Fatalf("train all: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"clip step 1/1 loss", "unet step 1/1 loss", "ETA"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train all: progress lacks %q:\n%s", want, stderr)
		}
	}
	code, stdout, stderr := sdgo("train", "eval", "--model", model, "--n", "2", "--steps", "2")
	if code != 0 || !strings.Contains(stdout, "position") || !strings.Contains(stdout, "2 held-out captions") {
		t.Errorf("eval: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	out := filepath.Join(dir, "img.png")
	if code, _, stderr := sdgo("-m", model, "-p", "a red circle on the left", "--steps", "2", "-o", out, "-q"); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}
