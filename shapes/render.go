package shapes

import (
	"image"
	"math"
	"slices"
)

// Render paints the scene on a new size×size image.
func (s Scene) Render(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s.RenderInto(img)
	return img
}

// RenderInto paints the scene over all of img, which should be square
// (the geometry is scaled by its width). It allocates nothing, so a
// training loop can reuse one image.
//
// Edges are anti-aliased analytically: a pixel's coverage is
// clamp(0.5 - d, 0, 1), where d is the signed distance in pixels from the
// pixel's centre to the shape's outline (negative inside): the exact share
// of the pixel a straight edge along the pixel grid covers, and close to it
// for other edges. Shapes are blended over the background in sRGB in the
// order of s.Shapes.
func (s Scene) RenderInto(img *image.NRGBA) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	bg := s.Background.RGB()
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < len(row); x += 4 {
			row[x], row[x+1], row[x+2], row[x+3] = bg.R, bg.G, bg.B, 255
		}
	}
	for _, sh := range s.Shapes {
		paint(img, sh, float64(w))
	}
}

// paint blends one shape into img, visiting only the pixels of its
// bounding box (plus one for the anti-aliased rim).
func paint(img *image.NRGBA, sh Shape, side float64) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	cx, cy, r := float64(sh.X*side), float64(sh.Y*side), float64(sh.R*side) // pixel units
	x0, x1 := clampInt(int(math.Floor(cx-r))-1, 0, w), clampInt(int(math.Ceil(cx+r))+1, 0, w)
	y0, y1 := clampInt(int(math.Floor(cy-r))-1, 0, h), clampInt(int(math.Ceil(cy+r))+1, 0, h)
	c := sh.Colour.RGB()
	fr, fg, fb := float64(c.R), float64(c.G), float64(c.B)
	for y := y0; y < y1; y++ {
		py := float64(y) + 0.5 - cy // pixel centre relative to the shape's centre
		row := img.Pix[y*img.Stride:]
		for x := x0; x < x1; x++ {
			px := float64(x) + 0.5 - cx
			a := 0.5 - distance(sh.Kind, px, py, r)
			if a <= 0 {
				continue
			}
			p := row[4*x : 4*x+3 : 4*x+3]
			if a >= 1 {
				p[0], p[1], p[2] = c.R, c.G, c.B
				continue
			}
			p[0] = blend(p[0], fr, a)
			p[1] = blend(p[1], fg, a)
			p[2] = blend(p[2], fb, a)
		}
	}
}

// sqrt5 normalises the triangle's slanted edge normals (±2, -1).
var sqrt5 = math.Sqrt(5)

// distance is the signed distance from (px, py), relative to the shape's
// centre, to the outline of a shape of half-extent r. For the polygons it
// is the largest distance to an edge's line, exact along the edges and a
// little short of the true distance just outside the corners.
func distance(k Kind, px, py, r float64) float64 {
	switch k {
	case Circle:
		return math.Sqrt(float64(px*px)+float64(py*py)) - r
	case Square:
		return max(math.Abs(px), math.Abs(py)) - r
	case Triangle:
		// Apex (0, -r), base from (-r, r) to (r, r). The slanted edges have
		// outward normals (∓2, -1)/√5 and pass through the base corners.
		base := py - r
		left := (float64(-2*(px+r)) - (py - r)) / sqrt5
		right := (float64(2*(px-r)) - (py - r)) / sqrt5
		return max(base, left, right)
	}
	return math.Inf(1)
}

// blend mixes v towards f by coverage a, rounding to the nearest byte.
func blend(v uint8, f, a float64) uint8 {
	bv := float64(v)
	return uint8(bv + float64((f-bv)*a) + 0.5)
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// ToTensor appends img as a float32 tensor of shape (3, H, W), channels
// R, G, B, values mapped from 0…255 to [-1, 1] (v/127.5 - 1), the range a
// diffusion model's VAE or pixel U-Net takes. Append a batch's images one
// after another to get (B, 3, H, W).
func ToTensor(dst []float32, img *image.NRGBA) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := len(dst)
	dst = slices.Grow(dst, 3*w*h)[:n+3*w*h]
	t := dst[n:] // (3, H, W)
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			i := y*w + x
			t[i] = float32(row[4*x])/127.5 - 1
			t[w*h+i] = float32(row[4*x+1])/127.5 - 1
			t[2*w*h+i] = float32(row[4*x+2])/127.5 - 1
		}
	}
	return dst
}
