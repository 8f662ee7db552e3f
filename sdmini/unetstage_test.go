package sdmini

import (
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
	"github.com/sdgo/sdgo/tokenizer"
)

// The text encoder's context of a caption has the same bits whether the
// caption is encoded alone, in a batch of 16 as the U-Net stage's parts
// encode them, or through contextCache, cached or not, on every GEMM path
// and thread count: caching contexts leaves the trained bytes unchanged.
func TestContextCache(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes a few hundred captions on every GEMM path")
	}
	dir, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	text, err := loadTextEncoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A batch of each recipe as TrainUNet draws it, the empty caption and
	// repeats included.
	var batches [][]string
	for _, rc := range []shapes.Recipe{{}, {PairShare: 0.6, DistinctPairs: true, HoldOutPairs: true, RelationShare: 0.5}} {
		r := rand.New(rand.NewPCG(1, 2))
		captions := make([]string, 16)
		for b := range captions {
			if b%5 != 4 {
				captions[b] = shapes.SampleRecipe(r, shapes.Train, rc).CaptionRecipe(r, rc)
			}
		}
		captions[7] = captions[2]
		batches = append(batches, captions)
	}
	size := tokenizer.ContextLength * text.Config.Width
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: value %d (row %d) is %v, %v in a batch of 16", what, i, i/text.Config.Width, got[i], want[i])
			}
		}
	}
	defer nn.SetThreads(nn.Threads())
	defer gemm.SetKernel(gemm.Kernel())
	for _, k := range gemm.Kernels() {
		if err := gemm.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			nn.SetThreads(threads)
			for _, captions := range batches {
				batch, err := text.Encode(encodeCaptions(tok, captions), clipOptions) // (16, 77, D)
				if err != nil {
					t.Fatal(err)
				}
				// Each caption alone.
				for b, c := range captions {
					alone, err := text.Encode(encodeCaptions(tok, []string{c}), clipOptions) // (1, 77, D)
					if err != nil {
						t.Fatal(err)
					}
					same(k+": caption "+c+" alone", alone.Data, batch.Data[b*size:(b+1)*size])
				}
				// Through caches that keep every caption, 5 and none, in two
				// parts; the first round encodes all (keeping the empty
				// caption), the second keeps the others, the third copies
				// the kept captions and encodes the rest again.
				distinct := map[string]bool{}
				for _, c := range captions {
					distinct[c] = true
				}
				for _, keep := range []int{1 << 30, 5 * size * 4, 0} {
					cache := newContextCache(tok, text, keep)
					for range 3 {
						for _, part := range [][2]int{{0, 5}, {5, len(captions)}} {
							lo, hi := part[0], part[1]
							got, err := cache.encode(captions[lo:hi]) // (hi-lo, 77, D)
							if err != nil {
								t.Fatal(err)
							}
							same(k+": captions through the cache", got.Data, batch.Data[lo*size:hi*size])
						}
					}
					if want := min(keep/(size*4), len(distinct)); len(cache.ctx) != want {
						t.Errorf("a cache of %d bytes holds %d captions, want %d", keep, len(cache.ctx), want)
					}
				}
			}
		}
	}
}
