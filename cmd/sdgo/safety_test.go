package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// Every float flag rejects NaN, ±Inf and values out of its range with one
// line naming the flag (issue 16: --cfg-scale NaN and 1e39 wrote a PNG).
func TestFloatFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cfg-scale", "NaN"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "nan"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "1e39"}, "--cfg-scale must be in [0, 100], got 1e+39: guidance beyond 100"},
		{[]string{"--cfg-scale", "+Inf"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "-Inf"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "-1"}, "--cfg-scale must be in [0, 100]"},
		{[]string{"--strength", "NaN"}, "--strength must be in (0, 1]"},
		{[]string{"--strength", "Inf"}, "--strength must be in (0, 1]"},
		{[]string{"-p", "a (cat:1000) and a dog"}, `-p/--prompt: the weight of "cat" must be in [-10, 10], got 1000`},
		{[]string{"-p", "x", "-n", "(blurry:99999)"}, `-n/--negative-prompt: the weight of "blurry"`},
		{[]string{"--batch-count", "1000000000"}, "--batch-count must be at most 10000"},
		{[]string{"--steps", "99999999"}, "--steps must be at most 10000"},
		{[]string{"--bind", "--bind-scale", "NaN"}, "--bind-scale must be a positive number"},
		{[]string{"--bind-until", "Inf"}, "--bind-until must be in (0, 1]"},
		{[]string{"--bind-scale", "-Inf"}, "--bind-scale must be a positive number"},
	} {
		args := append([]string{"-m", dir}, tc.args...)
		if !contains(args, "-p") {
			args = append(args, "-p", "x")
		}
		code, _, stderr := sdgo(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A job too big for the machine is refused at once, before loading, with
// the estimate and the bound in one line (issue 16: -W 100000 -H 100000 ran
// on for minutes).
func TestMemoryRefused(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "big.png")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-W", "100000", "-H", "100000"}, []string{"a 100000×100000 image needs about", "GB of memory"}},
		{[]string{"-W", "4096", "-H", "4096", "--max-memory", "1GB"}, []string{"needs about", "but 1024 MB allowed (--max-memory)"}},
		// From 1024² the decode is tiled on its own where that lowers the
		// peak (and the estimate counts it); --vae-tiling=false keeps it whole.
		{[]string{"-W", "2048", "-H", "2048", "--max-memory", "1.5GB", "--vae-tiling=false"}, []string{"with --vae-tiling it needs about", "and fits"}},
		// --taesd decodes instead of the VAE, and its full-resolution
		// activations (64 channels) are counted: sd-mini's own VAE decode
		// fits 200 MB at 512², TAESD's does not (it was estimated as the VAE's).
		{[]string{"-W", "512", "-H", "512", "--max-memory", "200MB", "--taesd", testdata.Path(t, "taesd/random_arch/taesd_decoder.fp16.safetensors")},
			[]string{"(peak in the TAESD decoder), but 200 MB allowed"}},
	} {
		start := time.Now()
		code, _, stderr := sdgo(append([]string{"-p", "a red circle", "-o", out, "-q"}, tc.args...)...)
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q: want exit 1 and one line", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, w)
			}
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%v: refused after %v", tc.args, d)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: wrote %s", tc.args, out)
		}
	}
	// A tiled job within the bound runs (one step).
	code, _, stderr := sdgo("-p", "a red circle", "-o", out, "-q", "-W", "192", "-H", "192", "--steps", "1", "--max-memory", "1.5GB", "--vae-tiling")
	if code != 0 {
		t.Fatalf("--vae-tiling: exit %d: %s", code, stderr)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"6GB": 6 << 30, "800MB": 800 << 20, "1.5G": 3 << 29, "1024": 1024, "2 GiB": 2 << 30, "10k": 10 << 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1GB", "0", "NaN", "Inf", "1e300GB", "GB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

// With sd-mini, words outside its captions are named in a warning (issue
// 16: "a photograph of an astronaut riding a horse" made a shape picture in
// silence); a caption it knows, and a real model, get none.
func TestSDMiniWords(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	code, _, stderr := sdgo("-p", "a photograph of an astronaut riding a horse", "-o", filepath.Join(dir, "a.png"), "-q", "--steps", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"warning", `"photograph", "astronaut", "riding", "horse"`, "a large red circle on the left"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
	if strings.Contains(stderr, `"of"`) || strings.Contains(stderr, `"a",`) {
		t.Errorf("stderr %q names words sd-mini knows", stderr)
	}
	code, _, stderr = sdgo("-p", "a large red circle on the left on a white background", "-o", filepath.Join(dir, "b.png"), "-q", "--steps", "2")
	if code != 0 || stderr != "" {
		t.Errorf("a caption: exit %d, stderr %q; want silence", code, stderr)
	}
	td := testdata.Dir(t, "pipeline")
	code, _, stderr = sdgo("-m", filepath.Join(td, "sd_tiny.safetensors"), "--config", filepath.Join(td, "diffusers"),
		"-p", "a photograph of an astronaut riding a horse", "-W", "32", "-H", "32", "--steps", "1", "-o", filepath.Join(dir, "c.png"), "-q")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("another model: exit %d, stderr %q; want no warning", code, stderr)
	}
}

// The warning names words the text encoder sees: the prompt's syntax
// (<lora:…> tags, BREAK, brackets, weights) is none of them. It named
// "lora", "foo" and "break" before.
func TestSDMiniWordsSyntax(t *testing.T) {
	path, err := sdmini.Path()
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.Load(path, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct{ prompt, want string }{
		{"(red:1.2) circle BREAK [blue] square", ""},
		{"a red circle, <lora:foo:0.5> <lyco:bar:1:0.5>", ""},
		{"a (horse:1.2) BREAK a break", `knows nothing of "horse", "break";`},
		{`a \(circle\) of <hypernet:x:1>cats`, `knows nothing of "cats";`},
	} {
		var buf bytes.Buffer
		warnSDMiniWords(&buf, m, tc.prompt)
		if got := buf.String(); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%q: warning %q, want %q", tc.prompt, got, tc.want)
		}
	}
}

// -i reads the header first: a PNG claiming 100000×100000 pixels, a file
// that is not an image, a folder and /dev/zero each give one line.
func TestInitImageRefused(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.png")
	os.WriteFile(bomb, pngBomb(), 0o644)
	fake := filepath.Join(dir, "fake.png")
	os.WriteFile(fake, []byte("GIF89a, not a PNG"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{bomb, "100000×100000 pixels is past sdgo's limit"},
		{fake, "not a PNG, JPEG or WebP image"},
		{dir, "not a regular file"},
		{"/dev/zero", "not a regular file"},
	} {
		code, _, stderr := sdgo("-p", "a red circle", "-i", tc.path, "-o", filepath.Join(dir, "out.png"), "-q")
		if code != 1 || !strings.Contains(stderr, "-i/--init-img") || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("-i %s: exit %d, stderr %q; want exit 1, one line with %q", tc.path, code, stderr, tc.want)
		}
	}
}

// pngBomb is a 1×1 PNG whose header claims 100000×100000 pixels.
func pngBomb() []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// The float flags of train and eval take the same care.
func TestTrainFloatFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "unet", "--out", dir, "--lr", "NaN"}, "--lr must be a number in [0, 1]"},
		{[]string{"train", "unet", "--out", dir, "--lr", "1e39"}, "--lr must be a number in [0, 1]"},
		{[]string{"train", "unet", "--out", dir, "--lr", "Inf"}, "--lr must be a number in [0, 1]"},
		{[]string{"eval", "--cfg-scale", "NaN"}, "--cfg-scale must be a finite number"},
		{[]string{"train", "eval", "--cfg-scale", "-Inf"}, "--cfg-scale must be a finite number"},
		// train lora wrote an adapter of NaNs with --lr NaN, Inf or 1e39.
		{[]string{"train", "lora", "--concept", "a green circle", "--out", filepath.Join(dir, "l.safetensors"), "--lr", "NaN"}, "--lr must be a number in (0, 1]"},
		{[]string{"train", "lora", "--concept", "a green circle", "--out", filepath.Join(dir, "l.safetensors"), "--lr", "Inf"}, "--lr must be a number in (0, 1]"},
		{[]string{"train", "lora", "--concept", "a green circle", "--out", filepath.Join(dir, "l.safetensors"), "--lr", "1e39"}, "--lr must be a number in (0, 1]"},
		{[]string{"train", "lora", "--concept", "a green circle", "--out", filepath.Join(dir, "l.safetensors"), "--prior", "1"}, "--prior must be in [0, 1)"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Fatalf("%v: wrote %s", tc.args, entries[0].Name())
		}
	}
}
