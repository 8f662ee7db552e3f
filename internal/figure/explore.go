package figure

import (
	"image"
	"math"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/vae"
)

// The small figures of the server's Explore page: a matrix as a heat map,
// curves over an index, and a latent decoded (docs/gen's step figure too).

// Matrix draws a rows×cols matrix (row-major) as a cols×rows heat map, one
// pixel per element, coloured over the matrix's own range: a text context
// (77 × D) shows one row per token.
func Matrix(v []float32, rows, cols int) image.Image {
	f := make([]float64, rows*cols)
	for i := range f {
		f[i] = float64(v[i])
	}
	return Heatmap(f, cols, rows, nil)
}

// Curves plots each of ys over its index 0, 1, … as a w×h line plot, the
// y range fitted to the values; names label the curves in the legend.
func Curves(title, xlabel string, w, h int, names []string, ys ...[]float32) image.Image {
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, y := range ys {
		n = max(n, len(y))
		for _, v := range y {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	if n == 0 || lo > hi {
		lo, hi, n = 0, 1, 1
	}
	if hi == lo {
		hi = lo + 1
	}
	p := Plot{Title: title, XLabel: xlabel, XMin: 0, XMax: float64(max(n-1, 1)), YMin: lo, YMax: hi,
		XTicks: ticks(0, float64(max(n-1, 1))), YTicks: ticks(lo, hi)}
	for k, y := range ys {
		s := Series{Color: Palette[k%len(Palette)]}
		if k < len(names) {
			s.Name = names[k]
		}
		for i, v := range y {
			s.X = append(s.X, float64(i))
			s.Y = append(s.Y, float64(v))
		}
		p.Series = append(p.Series, s)
	}
	img := NewCanvas(w, h)
	p.Draw(img, img.Bounds())
	return img
}

// ticks returns about five round tick values within [lo, hi].
func ticks(lo, hi float64) []float64 {
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= 5 {
			step *= m
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// LatentDecoder turns latents of the U-Net's scale (B, 4, h, w) into images
// (B, 3, f·h, f·w) in [-1, 1]: the VAE (*vae.Model) or TAESD (*vae.TinyDecoder).
type LatentDecoder interface {
	DecodeLatents(latents *nn.Tensor) (*nn.Tensor, error)
}

// Decoded shows a latent (1, 4, h, w), a step's latent or its x̂₀, as the
// picture dec decodes it to.
func Decoded(dec LatentDecoder, latent *nn.Tensor) (image.Image, error) {
	x, err := dec.DecodeLatents(latent) // (1, 4, h, w) -> (1, 3, f·h, f·w)
	if err != nil {
		return nil, err
	}
	imgs, err := vae.ToImages(x)
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}
