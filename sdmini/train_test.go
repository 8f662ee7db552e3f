package sdmini

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/shapes"
)

func TestLearnBPE(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 0))
	var captions []string
	for range 5000 {
		captions = append(captions, shapes.Sample(r, shapes.Train).Caption(r))
	}
	v, err := LearnBPE(captions)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d merges, %d tokens", len(v.Merges), len(v.IDs))
	if tok.EOS() != len(v.IDs)-1 || tok.BOS() != len(v.IDs)-2 {
		t.Errorf("BOS %d, EOS %d: want the last two ids of %d", tok.BOS(), tok.EOS(), len(v.IDs))
	}
	// Every word of every evaluation caption is one token.
	for _, spec := range append(shapes.AllSingle(shapes.Eval), shapes.AllSingle(shapes.Train)...) {
		c := spec.String()
		if p := tok.Pieces(c); len(p) != len(strings.Fields(c)) {
			t.Fatalf("%q: pieces %q, want one per word", c, p)
		}
	}
	// Written and read back, it encodes the same.
	dir := t.TempDir()
	if err := v.Write(dir); err != nil {
		t.Fatal(err)
	}
	_ = tok
}

// TestStages runs every stage for a few steps, then generates an image from
// the model folder with package pipeline, and checks that training is
// reproducible and resumable to the byte.
func TestStages(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	o := Options{Dir: t.TempDir(), Steps: 2, Batch: 2, Scenes: 16, Seed: 7, LogEvery: 1, Log: &log}
	if err := TrainAll(o); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log("\n" + log.String())
	for _, want := range []string{"clip step 2/2 loss", "vae step 2/2 loss", "unet step 2/2 loss", "steps/s ETA", "scaling factor"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	m, err := pipeline.Load(o.Dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Generate(context.Background(), pipeline.Options{Prompt: "a red circle on the left", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b := res[0].Image.Bounds(); b.Dx() != ImageSize || b.Dy() != ImageSize {
		t.Errorf("image %v, want %d×%d", b, ImageSize, ImageSize)
	}

	// A run of 1 step resumed to 2 gives the same file as 2 steps at once:
	// for the text encoder, and for the U-Net, whose checkpoint also holds
	// its EMA. Each starts from a copy of the earlier stages' output.
	for _, st := range []struct {
		name    string
		train   func(Options) error
		earlier []string // folders of o.Dir the stage reads
		file    string   // the weights it writes
	}{
		{"text encoder", TrainCLIP, []string{"tokenizer"}, textWeights},
		{"U-Net", TrainUNet, []string{"tokenizer", "text_encoder", "vae"}, unetWeights},
	} {
		r := o
		r.Dir, r.Log = t.TempDir(), nil
		for _, d := range st.earlier {
			if err := copyDir(filepath.Join(o.Dir, d), filepath.Join(r.Dir, d)); err != nil {
				t.Fatal(err)
			}
		}
		r.Steps = 1
		if err := st.train(r); err != nil {
			t.Fatal(err)
		}
		r.Steps, r.Resume = 2, true
		if err := st.train(r); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(filepath.Join(o.Dir, st.file))
		b, _ := os.ReadFile(filepath.Join(r.Dir, st.file))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s of a resumed run differs from an uninterrupted one (%d and %d bytes)", st.name, len(a), len(b))
		}
	}
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// A stage whose input is missing says which stage to run first; one whose
// input is damaged says so instead, and names the file.
func TestEarlierStageErrors(t *testing.T) {
	load := map[string]func(dir string) error{
		"bpe":  func(dir string) error { _, err := loadTokenizer(dir); return err },
		"clip": func(dir string) error { _, err := loadTextEncoder(dir); return err },
		"vae":  func(dir string) error { _, err := loadVAE(dir); return err },
	}
	const badStd = `{"latent_channels": 4, "latents_mean": [0, 0, 0, 0], "latents_std": [1, 1, -1, 1]}`
	for _, tc := range []struct {
		name  string
		stage string
		files map[string]string // written to the model folder first
		want  []string
	}{
		{"no tokenizer", "bpe", nil, []string{"run the bpe stage first"}},
		{"no text encoder", "clip", nil, []string{"run the clip stage first"}},
		{"no vae", "vae", nil, []string{"run the vae stage first"}},
		{"damaged vae config", "vae", map[string]string{"vae/config.json": badStd}, []string{"reading the vae stage's output", "latents_std", "config.json"}},
		{"damaged text encoder", "clip", map[string]string{textWeights: "not safetensors"}, []string{"reading the clip stage's output", "model.safetensors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := load[tc.stage](dir)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.files != nil && strings.Contains(err.Error(), "first") {
				t.Errorf("error %q asks to run a stage whose file is there", err)
			}
		})
	}
}
