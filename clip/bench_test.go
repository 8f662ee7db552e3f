package clip_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sdgo/sdgo/clip"
)

// sd15 is an SD 1.5-size text encoder with random weights, built once.
var sd15 = sync.OnceValues(func() (*clip.Model, error) {
	cfg := clip.SD1()
	return clip.Load(randomWeights(cfg), cfg)
})

// BenchmarkEncode times one SD 1.5 encode of B prompts of 77 tokens.
func BenchmarkEncode(b *testing.B) {
	m, err := sd15()
	if err != nil {
		b.Fatal(err)
	}
	cfg := m.Config
	for _, batch := range []int{1, 2} {
		b.Run(fmt.Sprintf("sd15/batch=%d", batch), func(b *testing.B) {
			ids := make([][]int, batch)
			for i := range ids {
				ids[i] = make([]int, cfg.Positions)
				for j := range ids[i] {
					ids[i][j] = (j*7919 + i) % cfg.VocabSize
				}
			}
			// Multiply-adds: four D×D projections and the two MLP matrices per
			// token, plus q·kᵀ and weights·v (half of them masked out, counted anyway).
			l, d := cfg.Positions, cfg.Width
			flops := 2 * float64(batch*cfg.Layers) * (float64(l)*float64(4*d*d+2*d*cfg.MLPWidth) + 2*float64(l*l*d))
			for b.Loop() {
				if _, err := m.Encode(ids, clip.EncodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
