package vae

import (
	"fmt"
	"math"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
)

func TestSpans(t *testing.T) {
	for _, tc := range []struct{ n, tile, overlap int }{
		{10, 16, 4}, {16, 16, 4}, {17, 16, 4}, {40, 16, 4}, {128, 64, 16}, {100, 64, 16}, {33, 8, 0},
	} {
		s := spans(tc.n, tc.tile, tc.overlap)
		if s[0].Lo != 0 || s[len(s)-1].Hi != tc.n {
			t.Errorf("%v: spans %v do not cover [0, %d)", tc, s, tc.n)
		}
		for i := 1; i < len(s); i++ {
			if ov := s[i-1].Hi - s[i].Lo; ov < tc.overlap || s[i].Hi-s[i].Lo != tc.tile {
				t.Errorf("%v: spans %v: overlap %d", tc, s, ov)
			}
		}
		// The blend weights of every position sum to 1.
		for p := 0; p < tc.n; p++ {
			var sum float32
			for _, sp := range s {
				if p >= sp.Lo && p < sp.Hi {
					sum += sp.weight(p)
				}
			}
			if math.Abs(float64(sum)-1) > 1e-6 {
				t.Errorf("%v: weights at %d sum to %g", tc, p, sum)
			}
		}
	}
}

// TestTiled decodes and encodes a 96×96 photo (latent 48×48) in 3×3 tiles
// of 24 latents overlapping by 12 and compares with the untiled result.
//
// The reference VAE is a hard case: random weights amplify any change of
// the GroupNorm statistics, and its receptive field (about 10 latents) is
// nearly half a tile, where SD's (about 12) is a fifth of its 64-latent
// tile. The bounds are about 1.5× the differences measured here: decoding,
// max abs 2.35 with each tile's own statistics (diffusers' way), 1.27 after
// two stats passes, 0.24 when only the last level is tiled; and 0.047
// given the whole image's statistics (TestTiledExactStats). Each stats
// pass makes one more GroupNorm's statistics exact, so with as many passes
// as GroupNorms the result is the last figure. A tiled decode is an
// approximation, like diffusers' and ComfyUI's, not a reproduction.
func TestTiled(t *testing.T) {
	m := loadRef(t, "diffusion_pytorch_model.safetensors")
	if tl := m.DefaultTiling(); tl != (Tiling{Tile: 16, Overlap: 4, StatsPasses: 1}) {
		t.Errorf("default tiling %+v, want {16 4 1}", tl)
	}
	img, err := ReadImage(testdata.Path(t, "taesd/photo.png"))
	if err != nil {
		t.Fatal(err)
	}
	x := ImageToTensor(img, 96, 96) // (1, 3, 96, 96)
	d, err := m.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Decode(d.Mean)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tl              Tiling
		maxDec, meanDec float64 // bounds: about 1.5× what was measured
		maxEnc, meanEnc float64
	}{
		{Tiling{Tile: 24, Overlap: 8}, 3.5, 0.25, 5, 0.35},
		{Tiling{Tile: 24, Overlap: 8, StatsPasses: 2}, 1.9, 0.16, 2.2, 0.19},
		// Only the last (decoder) or first (encoder) level in tiles.
		{Tiling{Tile: 24, Overlap: 8, StatsPasses: 0, Budget: 1 << 30}, 2.5, 0.2, 4.5, 0.35},
		{Tiling{Tile: 24, Overlap: 8, StatsPasses: 2, Budget: 1 << 30}, 0.36, 0.045, 1.4, 0.1},
		{Tiling{Tile: 48, StatsPasses: 1}, 1e-5, 1e-6, 1e-5, 1e-6}, // one tile: the untiled computation
	} {
		got, err := m.DecodeTiled(d.Mean, tc.tl)
		if err != nil {
			t.Fatal(err)
		}
		if mx, mean := report(t, fmt.Sprintf("decode %+v", tc.tl), got, want); mx > tc.maxDec || mean > tc.meanDec {
			t.Errorf("decode %+v: max %.3g, mean %.3g; want ≤ %g, %g", tc.tl, mx, mean, tc.maxDec, tc.meanDec)
		}
		dt, err := m.EncodeTiled(x, tc.tl)
		if err != nil {
			t.Fatal(err)
		}
		if mx, mean := report(t, fmt.Sprintf("encode mean %+v", tc.tl), dt.Mean, d.Mean); mx > tc.maxEnc || mean > tc.meanEnc {
			t.Errorf("encode %+v: max %.3g, mean %.3g; want ≤ %g, %g", tc.tl, mx, mean, tc.maxEnc, tc.meanEnc)
		}
	}
}

// TestTiledExactStats separates the two sources of tiling error: given the
// whole image's GroupNorm statistics, what remains is the zero padding the
// convolutions see at tile edges, which the blend weights down.
func TestTiledExactStats(t *testing.T) {
	m := loadRef(t, "diffusion_pytorch_model.safetensors")
	img, err := ReadImage(testdata.Path(t, "taesd/photo.png"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Encode(ImageToTensor(img, 96, 96))
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Decode(d.Mean)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Decoder.Mid(m.postQuant(d.Mean)) // (1, 64, 48, 48)
	ns := &normState{}
	ns.startTile(span{0, 48, 0, 0}, span{0, 48, 0, 0}) // one pass over the whole image for the statistics
	m.Decoder.out(m.Decoder.upBlocks(h, ns, 0, 2), ns)
	ns.endPass()
	bl := newBlender(nn.New(1, 3, 96, 96))
	for _, ty := range spans(48, 24, 8) {
		for _, tx := range spans(48, 24, 8) {
			ns.startTile(ty, tx)
			bl.add(m.Decoder.out(m.Decoder.upBlocks(crop(h, ty, tx), ns, 0, 2), ns), ty.scale(2), tx.scale(2))
		}
	}
	if mx, mean := report(t, "decode, exact stats", bl.finish(), want); mx > 0.08 || mean > 0.003 {
		t.Errorf("tiled decode with exact statistics: max %.3g, mean %.3g; want ≤ 0.08, 0.003", mx, mean)
	}
}

// report logs max and mean abs differences.
func report(t *testing.T, name string, got, want *nn.Tensor) (maxAbs, meanAbs float64) {
	t.Helper()
	var maxRef float64
	for i, w := range want.Data {
		d := math.Abs(float64(got.Data[i]) - float64(w))
		maxAbs, meanAbs = max(maxAbs, d), meanAbs+d
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	meanAbs /= float64(len(want.Data))
	t.Logf("%-20s max abs %.3g  mean abs %.3g  (max|ref| %.3g)", name, maxAbs, meanAbs, maxRef)
	return maxAbs, meanAbs
}
