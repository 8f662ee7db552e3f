package sdmini

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/weights"
)

// The binding recipe's knobs train end to end: bpe, then the clip stage
// with hard negatives and the unet stage's pool and captions under the
// recipe (a few steps each, on a batch of pairs).
func TestBindingRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	o := Options{Dir: t.TempDir(), Steps: 2, Batch: 4, Scenes: 16, Seed: 7, LogEvery: 1, Log: &log,
		Recipe:        shapes.Recipe{PairShare: 0.9, DistinctPairs: true, HoldOutPairs: true, RelationShare: 0.5},
		HardNegatives: true}
	for _, s := range Stages() {
		if err := s.Run(o); err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, log.String())
		}
	}
	for _, want := range []string{"clip step 2/2 loss", "clip: binding: each held-out pair image", "unet step 2/2 loss"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestHardNegatives(t *testing.T) {
	pair := shapes.Scene{Shapes: []shapes.Shape{{Kind: shapes.Circle, Colour: shapes.Red, Pos: shapes.Left}, {Kind: shapes.Square, Colour: shapes.Blue, Pos: shapes.Right}}}
	one := shapes.Scene{Shapes: pair.Shapes[:1]}
	got := hardNegatives([]shapes.Scene{one, pair}, []string{"a red circle", "a red circle to the left of a blue square"})
	if len(got) != 1 || got[0] != "a blue circle to the left of a red square" {
		t.Errorf("hard negatives %q", got)
	}
}

// TestTextLR trains the unet stage a few steps with the text encoder frozen
// (TextLR 0: the encoder's file untouched, nothing of it in the checkpoint)
// and fine-tuned: then its weights change, the clip stage's are kept aside,
// the folder generates through the pipeline, a resumed run and a second
// fresh one give the same files as the first (both start from the kept
// encoder or the checkpoint, never the overwritten file), a frozen resume
// of its checkpoint is refused, and a new clip stage drops the kept copy.
func TestTextLR(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	base := Options{Dir: t.TempDir(), Steps: 2, Batch: 4, Scenes: 16, Seed: 7, LogEvery: 1, Log: &log}
	for _, s := range Stages()[:3] { // bpe, clip, vae
		if err := s.Run(base); err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, log.String())
		}
	}
	clipText, err := os.ReadFile(filepath.Join(base.Dir, textWeights))
	if err != nil {
		t.Fatal(err)
	}
	// fresh returns options for a copy of the earlier stages' output.
	fresh := func(textLR float64) Options {
		o := base
		o.Dir, o.TextLR = t.TempDir(), textLR
		for _, d := range []string{"tokenizer", "text_encoder", "vae"} {
			if err := copyDir(filepath.Join(base.Dir, d), filepath.Join(o.Dir, d)); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	read := func(o Options, file string) []byte {
		b, err := os.ReadFile(filepath.Join(o.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hasText := func(o Options) bool {
		f, err := weights.Open(filepath.Join(o.Dir, "checkpoints", "unet.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, ok := f.Info("text_model.final_layer_norm.weight")
		return ok
	}

	frozen := fresh(0)
	if err := TrainUNet(frozen); err != nil {
		t.Fatalf("frozen: %v\n%s", err, log.String())
	}
	if !bytes.Equal(read(frozen, textWeights), clipText) || hasText(frozen) {
		t.Errorf("TextLR 0: the text encoder changed or was trained")
	}
	if _, err := os.Stat(filepath.Join(frozen.Dir, clipOriginal)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TextLR 0 kept a copy of the text encoder (%v)", err)
	}

	tuned := fresh(1e-3)
	if err := TrainUNet(tuned); err != nil {
		t.Fatalf("tuned: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "unet: fine-tuning the text encoder at lr 0.001") {
		t.Errorf("log lacks the fine-tuning line:\n%s", log.String())
	}
	textFile, unetFile := read(tuned, textWeights), read(tuned, unetWeights)
	if bytes.Equal(textFile, clipText) || !hasText(tuned) {
		t.Errorf("TextLR 1e-3: the text encoder did not change")
	}
	if !bytes.Equal(read(tuned, clipOriginal), clipText) {
		t.Errorf("%s is not the clip stage's text encoder", clipOriginal)
	}
	m, err := pipeline.Load(tuned.Dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(context.Background(), pipeline.Options{Prompt: "a red circle above a blue square", Steps: 2}); err != nil {
		t.Fatal(err)
	}

	// 1 step resumed to 2, then 2 steps afresh over the fine-tuned folder:
	// both the files of the uninterrupted run.
	again := fresh(1e-3)
	again.Log = nil
	for _, c := range []struct {
		name   string
		steps  int
		resume bool
		check  bool
	}{{"1 step", 1, false, false}, {"resumed to 2", 2, true, true}, {"2 steps afresh", 2, false, true}} {
		again.Steps, again.Resume = c.steps, c.resume
		if err := TrainUNet(again); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.check && (!bytes.Equal(read(again, textWeights), textFile) || !bytes.Equal(read(again, unetWeights), unetFile)) {
			t.Errorf("%s: the files differ from an uninterrupted run's", c.name)
		}
	}
	again.TextLR, again.Resume = 0, true
	if err := TrainUNet(again); err == nil || !strings.Contains(err.Error(), "resume it with --text-lr") {
		t.Errorf("a frozen resume of a fine-tuned checkpoint: %v", err)
	}
	if err := TrainCLIP(again); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(again.Dir, clipOriginal)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clip stage left an older encoder's copy (%v)", err)
	}
}

// Options.LatentChannels gives the VAE that many latent channels, and the
// unet stage follows the VAE in the folder: a model of 8 channels trains
// end to end and generates.
func TestLatentChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	o := Options{Dir: t.TempDir(), Steps: 2, Batch: 2, Scenes: 16, Seed: 7, LogEvery: 1, Log: &log, LatentChannels: 8, LatentStats: true}
	if err := TrainAll(o); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	m, err := pipeline.Load(o.Dir, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.VAE.Config.LatentChannels; got != 8 {
		t.Errorf("VAE latent channels %d, want 8", got)
	}
	if in, out := m.UNet.Config.InChannels, m.UNet.Config.OutChannels; in != 8 || out != 8 {
		t.Errorf("U-Net channels in %d, out %d, want 8 and 8", in, out)
	}
	if c := m.VAE.Config; len(c.LatentsMean) != 8 || len(c.LatentsStd) != 8 || c.ScalingFactor != 1 {
		t.Errorf("--latent-stats: VAE config latents_mean %v, latents_std %v, scaling_factor %g; want 8 of each and 1", c.LatentsMean, c.LatentsStd, c.ScalingFactor)
	}
	// The statistics, measured on some images and applied by Scale to the
	// same images, give every channel mean 0 and deviation 1.
	v, err := loadVAE(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err := ChannelStats(v, rand.New(rand.NewPCG(3, 4)), 64)
	if err != nil {
		t.Fatal(err)
	}
	v.Config.ScalingFactor, v.Config.LatentsMean, v.Config.LatentsStd = 1, mean, std
	imgs, _ := trainingImages(rand.New(rand.NewPCG(3, 4)), 64, shapes.Recipe{})
	d, err := v.Encode(imgs)
	if err != nil {
		t.Fatal(err)
	}
	z := v.Scale(d.Mean) // (64, 8, 8, 8)
	for c := range 8 {
		var s, sq float64
		for b := range 64 {
			for _, x := range z.Data[(b*8+c)*64 : (b*8+c+1)*64] {
				s, sq = s+float64(x), sq+float64(x)*float64(x)
			}
		}
		m := s / 4096
		if sd := math.Sqrt(sq/4096 - m*m); math.Abs(m) > 1e-3 || math.Abs(sd-1) > 1e-3 {
			t.Errorf("channel %d scaled: mean %.5f, deviation %.5f, want 0 and 1", c, m, sd)
		}
	}
	res, err := m.Generate(context.Background(), pipeline.Options{Prompt: "a red circle above a blue square", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b := res[0].Image.Bounds(); b.Dx() != ImageSize || b.Dy() != ImageSize {
		t.Errorf("image %v, want %d×%d", b, ImageSize, ImageSize)
	}
	// A LoRA trains on it too (its U-Net read with the VAE's channels).
	out := filepath.Join(t.TempDir(), "lora.safetensors")
	if err := TrainLoRA(LoRAOptions{Model: o.Dir, Out: out, Concept: "a green circle", Steps: 1, Batch: 2, Scenes: 2, Rank: 2}); err != nil {
		t.Errorf("lora on the 8-channel model: %v", err)
	}
}
