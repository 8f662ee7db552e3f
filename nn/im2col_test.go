package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIm2col checks Im2col against its index formula, on bands that start
// inside the image and reach into the padding, for stride 1 (the copy path)
// and 2, and with a kernel wider than the padded image allows at its edges;
// the "same width" cases take the flat-copy path (shiftRows). Each case runs
// with the small-image gather (im2colGather) and without it.
func TestIm2col(t *testing.T) {
	defer func(g bool) { useGather = g }(useGather)
	for _, tc := range []struct {
		name                         string
		c, h, w, kh, kw, stride      int
		top, bottom, left, right, r0 int
	}{
		{"3x3 pad 1", 2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 0},
		{"3x3 pad 1 band", 2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 2},
		{"3x3 stride 2 right/bottom pad", 3, 7, 8, 3, 3, 2, 0, 1, 0, 1, 1},
		{"1x1 stride 2", 4, 6, 6, 1, 1, 2, 0, 0, 0, 0, 0},
		{"5x2 pad 2", 1, 4, 3, 5, 2, 1, 2, 2, 2, 2, 1},
		{"kernel past the image", 1, 3, 2, 3, 5, 1, 1, 1, 3, 3, 0},
		{"5x5 pad 2 same width", 2, 6, 7, 5, 5, 1, 2, 2, 2, 2, 1},
		{"5x5 pad 2 same width past the image", 1, 2, 2, 5, 5, 1, 2, 2, 2, 2, 0},
		{"1x3 pad 0 rows 1", 1, 4, 5, 1, 3, 1, 0, 0, 1, 1, 2},
	} {
		for _, gather := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gather=%v", tc.name, gather), func(t *testing.T) {
				useGather = gather
				r := rand.New(rand.NewPCG(5, 6))
				x := make([]float32, tc.c*tc.h*tc.w)
				for i := range x {
					x[i] = r.Float32() + 1 // never 0, so zeros mark the padding
				}
				oh := (tc.h+tc.top+tc.bottom-tc.kh)/tc.stride + 1
				ow := (tc.w+tc.left+tc.right-tc.kw)/tc.stride + 1
				rows := oh - tc.r0
				col := make([]float32, tc.c*tc.kh*tc.kw*rows*ow)
				for i := range col {
					col[i] = -1 // every entry must be written
				}
				Im2col(col, x, tc.c, tc.h, tc.w, tc.kh, tc.kw, tc.stride, tc.top, tc.left, tc.r0, rows, ow)
				for ci := range tc.c {
					for i := range tc.kh {
						for j := range tc.kw {
							for rr := range rows {
								for q := range ow {
									iy, ix := (tc.r0+rr)*tc.stride+i-tc.top, q*tc.stride+j-tc.left
									var want float32
									if iy >= 0 && iy < tc.h && ix >= 0 && ix < tc.w {
										want = x[(ci*tc.h+iy)*tc.w+ix]
									}
									if got := col[((ci*tc.kh+i)*tc.kw+j)*rows*ow+rr*ow+q]; got != want {
										t.Fatalf("col[(%d, %d, %d), (%d, %d)] = %g, want %g", ci, i, j, rr, q, got, want)
									}
								}
							}
						}
					}
				}
			})
		}
	}
}
