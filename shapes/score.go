package shapes

import (
	"cmp"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
)

// The scorer's thresholds.
const (
	looseDist   = 25.0  // RGB distance from the background that makes a pixel a foreground candidate (a third of the closest palette pair)
	coreFrac    = 0.7   // pixels this close to a region's peak distance are its interior, which names its colour
	minArea     = 0.003 // share of the image a region needs to count as a shape (a small triangle has 0.013)
	maxFound    = 8     // at most this many shapes are reported
	noiseFactor = 2.6   // in noisy images the threshold rises to this many times the border's median distance (about 4σ of the smoothed noise)
	ringWidth   = 1     // pixels added around a region to take in a soft edge
	skewTri     = 0.006 // Skew from which a shape is a triangle (a triangle's is 0.021, a circle's and a square's 0)
	cornersSqr  = 0.007 // Corners from which a shape is a square (a square's is 1/60 ≈ 0.017, a circle's 0, a triangle's ≈ -0.002)
)

// Found is one shape the scorer read from an image.
//
// Its measurements are moments of the shape's coverage, which a blur
// leaves alone: a blur spreads coverage without changing its sum (the
// area), its mean (the centroid) or its third central moments, and a
// Gaussian blur does not change the fourth-order quantity in Corners
// either. So a
// soft-edged shape from a model reads as the shape it is.
type Found struct {
	Object          // the attributes read, all stated
	Area    float64 // coverage, summed: the area as a fraction of the image
	X, Y    float64 // centre of the shape's bounding box, fractions of width and height
	Span    float64 // width of the bounding box, a fraction of the image side, from the area and the kind
	Skew    float64 // lopsidedness: |(μ30, μ03)| / m0^1.5, zero for shapes symmetric about their centre
	Corners float64 // squareness: -(μ40 + μ04 - 6μ22) / m0², the 4-fold harmonic of the shape, zero for a disc
}

// Reading is what the scorer sees in an image, from pixel statistics alone.
type Reading struct {
	Background Colour
	Found      []Found // largest first
}

// Spec returns the reading as a full spec (the scorer's caption of the
// image).
func (rd Reading) Spec() Spec {
	s := Spec{Background: rd.Background}
	for _, f := range rd.Found {
		s.Objects = append(s.Objects, f.Object)
	}
	return s
}

// Read reads the background and the shapes of an image, knowing nothing of
// how it was made:
//
//  1. The background is the per-channel median of the border pixels, named
//     by the nearest palette colour in CIELAB.
//  2. Pixels further than looseDist from it (in RGB, after a 3×3 box blur
//     that tames pixel noise; further still in a noisy image) form
//     candidate regions (8-connected); regions under minArea of the image
//     are noise. Each region grows by a ring of ringWidth pixels to take in
//     the faint edge of a soft shape. The rest of the measurements use the
//     unblurred pixels of each region.
//  3. In a region, the pixels near its largest distance from the
//     background are its interior: their majority palette colour is the
//     shape's colour, their mean its painted colour fg.
//  4. A pixel's coverage t is its place between background and fg (its
//     projection onto fg - bg: 0 at the background, 1 at fg). The moments
//     of t give the area m0, the centroid, and, with μpq the central
//     moments Σ t·dxᵖ·dyᵠ / m0, Skew and Corners (see Found).
//  5. Kind: a triangle if Skew exceeds skewTri, else a square if Corners
//     exceeds cornersSqr, else a circle. Size: the box's side is
//     √(area / fill), fill being the share of its box the kind fills
//     (π/4, 1, 1/2); large if over largeSpan of the image. Position: the
//     box centre (the centroid, moved up a sixth of the side for a
//     triangle, whose mass sits low): center within centerZone of the
//     middle, else the dominant direction.
func Read(img image.Image) Reading {
	w, h, px := rgbOf(img) // (H, W, 3)
	bg := borderMedian(px, w, h)
	rd := Reading{Background: nearestColour(bg[0], bg[1], bg[2])}
	if w == 0 || h == 0 {
		return rd
	}

	// Distances from the background, on a 3×3-smoothed copy so that pixel
	// noise does not join regions or make new ones.
	sm := blur3(px, w, h)
	dist := make([]float64, w*h)
	for i := range dist {
		dr, dg, db := sm[3*i]-bg[0], sm[3*i+1]-bg[1], sm[3*i+2]-bg[2]
		dist[i] = math.Sqrt(dr*dr + dg*dg + db*db)
	}
	// The threshold rises with the noise, to noiseFactor times the median
	// distance of the border pixels from the background.
	ring := borderIndices(w, h)
	ds := make([]float64, len(ring))
	for k, i := range ring {
		ds[k] = dist[i]
	}
	slices.Sort(ds)
	loose := max(looseDist, noiseFactor*ds[len(ds)/2])

	// Label candidate regions: label[i] is the region's number (from 1),
	// its negative for the region's ring, 0 for the background.
	label := make([]int32, w*h)
	var stack, members []int
	regions := int32(0)
	for seed := range dist {
		if dist[seed] <= loose || label[seed] != 0 {
			continue
		}
		regions++
		label[seed] = regions
		stack = append(stack[:0], seed)
		members = members[:0]
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, i)
			x, y := i%w, i/w
			for ny := max(y-1, 0); ny <= min(y+1, h-1); ny++ {
				for nx := max(x-1, 0); nx <= min(x+1, w-1); nx++ {
					j := ny*w + nx
					if label[j] == 0 && dist[j] > loose {
						label[j] = regions
						stack = append(stack, j)
					}
				}
			}
		}
		if float64(len(members)) < minArea*float64(w*h) {
			continue
		}
		// Grow the region by a ring of pixels, to take in the faint edge
		// of a soft shape.
		for range ringWidth {
			for _, i := range members {
				x, y := i%w, i/w
				for ny := max(y-1, 0); ny <= min(y+1, h-1); ny++ {
					for nx := max(x-1, 0); nx <= min(x+1, w-1); nx++ {
						if j := ny*w + nx; label[j] == 0 {
							label[j] = -regions
							members = append(members, j)
						}
					}
				}
			}
		}
		if f, ok := measure(px, dist, members, bg, w, h); ok {
			rd.Found = append(rd.Found, f)
		}
	}
	slices.SortStableFunc(rd.Found, func(a, b Found) int { return cmp.Compare(b.Area, a.Area) })
	if len(rd.Found) > maxFound {
		rd.Found = rd.Found[:maxFound]
	}
	return rd
}

// measure reads one region (steps 3 to 5 of Read); ok is false if the
// region has no positive coverage to measure.
func measure(px, dist []float64, members []int, bg [3]float64, w, h int) (f Found, ok bool) {
	// 3. Interior: colour vote and mean painted colour.
	peak := 0.0
	for _, i := range members {
		peak = max(peak, dist[i])
	}
	var votes [len(palette)]int
	var fg [3]float64
	n := 0.0
	var last [3]float64 // the last pixel, whose nearest colour flat neighbours share
	lastC := NoColour
	for _, i := range members {
		if dist[i] < coreFrac*peak {
			continue
		}
		if p := [3]float64(px[3*i : 3*i+3]); p != last || lastC == NoColour {
			last, lastC = p, nearestColour(p[0], p[1], p[2])
		}
		votes[lastC]++
		fg[0], fg[1], fg[2] = fg[0]+px[3*i], fg[1]+px[3*i+1], fg[2]+px[3*i+2]
		n++
	}
	for _, c := range Colours {
		if votes[c] > votes[f.Colour] {
			f.Colour = c
		}
	}
	v := [3]float64{fg[0]/n - bg[0], fg[1]/n - bg[1], fg[2]/n - bg[2]} // fg - bg
	vv := v[0]*v[0] + v[1]*v[1] + v[2]*v[2]
	coverage := func(i int) float64 {
		return ((px[3*i]-bg[0])*v[0] + (px[3*i+1]-bg[1])*v[1] + (px[3*i+2]-bg[2])*v[2]) / vv
	}

	// 4. Moments of the coverage, in pixel units, pixel centres at +0.5.
	var m0, mx, my float64
	for _, i := range members {
		t := coverage(i)
		m0, mx, my = m0+t, mx+t*float64(i%w), my+t*float64(i/w)
	}
	if !(m0 > 0) {
		return f, false
	}
	cx, cy := mx/m0+0.5, my/m0+0.5
	var m30, m03, m40, m04, m22 float64
	for _, i := range members {
		t := coverage(i)
		dx, dy := float64(i%w)+0.5-cx, float64(i/w)+0.5-cy
		dx2, dy2 := dx*dx, dy*dy
		m30, m03 = m30+t*dx2*dx, m03+t*dy2*dy
		m40, m04, m22 = m40+t*dx2*dx2, m04+t*dy2*dy2, m22+t*dx2*dy2
	}
	// Central moments are these sums / m0; normalising by powers of the
	// area makes them independent of the shape's size.
	f.Skew = math.Hypot(m30, m03) / m0 / math.Pow(m0, 1.5)
	f.Corners = -(m40 + m04 - 6*m22) / m0 / (m0 * m0)
	side := math.Sqrt(float64(w * h)) // the image's side (they are square)
	f.Area = m0 / float64(w*h)

	// 5. Attributes.
	fill := math.Pi / 4
	switch {
	case f.Skew > skewTri:
		f.Kind, fill = Triangle, 0.5
	case f.Corners > cornersSqr:
		f.Kind, fill = Square, 1
	default:
		f.Kind = Circle
	}
	span := math.Sqrt(m0 / fill) // pixels
	f.Span = span / side
	f.Size = Small
	if f.Span > largeSpan {
		f.Size = Large
	}
	if f.Kind == Triangle {
		cy -= span / 6
	}
	f.X, f.Y = cx/float64(w), cy/float64(h)
	dx, dy := f.X-0.5, f.Y-0.5
	switch {
	case max(math.Abs(dx), math.Abs(dy)) < centerZone:
		f.Pos = Center
	case math.Abs(dx) >= math.Abs(dy) && dx < 0:
		f.Pos = Left
	case math.Abs(dx) >= math.Abs(dy):
		f.Pos = Right
	case dy < 0:
		f.Pos = Top
	default:
		f.Pos = Bottom
	}
	return f, true
}

// rgbOf returns an image's pixels as (H, W, 3) sRGB values in 0…255,
// composited over black where not opaque.
func rgbOf(img image.Image) (w, h int, px []float64) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	px = make([]float64, 3*w*h)
	if m, ok := img.(*image.NRGBA); ok && allOpaque(m) {
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				i := 3 * (y*w + x)
				px[i], px[i+1], px[i+2] = float64(row[4*x]), float64(row[4*x+1]), float64(row[4*x+2])
			}
		}
		return w, h, px
	}
	for y := range h {
		for x := range w {
			c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			i := 3 * (y*w + x)
			px[i], px[i+1], px[i+2] = float64(c.R), float64(c.G), float64(c.B)
		}
	}
	return w, h, px
}

func allOpaque(m *image.NRGBA) bool {
	for y := range m.Rect.Dy() {
		row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
		for x := 3; x < len(row); x += 4 {
			if row[x] != 255 {
				return false
			}
		}
	}
	return true
}

// borderIndices returns the indices of an image's outermost pixels.
func borderIndices(w, h int) []int {
	var ring []int
	for x := range w {
		ring = append(ring, x)
		if h > 1 {
			ring = append(ring, (h-1)*w+x)
		}
	}
	for y := 1; y < h-1; y++ {
		ring = append(ring, y*w)
		if w > 1 {
			ring = append(ring, y*w+w-1)
		}
	}
	return ring
}

// borderMedian returns the per-channel median of the image's outermost
// pixels.
func borderMedian(px []float64, w, h int) [3]float64 {
	var m [3]float64
	if w == 0 || h == 0 {
		return m
	}
	ring := borderIndices(w, h)
	vals := make([]float64, len(ring))
	for c := range 3 {
		for k, i := range ring {
			vals[k] = px[3*i+c]
		}
		slices.Sort(vals)
		m[c] = vals[len(vals)/2]
	}
	return m
}

// Result says which attributes of a spec an image shows. An attribute the
// spec leaves unstated counts as shown (the background: unless the image's
// contradicts DefaultBackground). With two objects, each attribute must hold
// for both.
type Result struct {
	Count      bool // as many shapes as the spec has objects
	Shape      bool
	Colour     bool
	Size       bool
	Position   bool
	Background bool
}

// All reports whether every attribute holds.
func (r Result) All() bool {
	return r.Count && r.Shape && r.Colour && r.Size && r.Position && r.Background
}

// Score checks an image against a spec (as from ParseCaption): Read, then
// Reading.Score.
func Score(img image.Image, spec Spec) Result { return Read(img).Score(spec) }

// Score checks the reading against a spec. The largest shapes found are
// matched to the spec's objects (with two objects, in whichever order
// agrees on more attributes).
func (rd Reading) Score(spec Spec) Result {
	var r Result
	r.Count = len(rd.Found) == len(spec.Objects)
	if bg, ok := spec.ExpectedBackground(); ok {
		r.Background = rd.Background == bg
	} else {
		r.Background = true
		for _, o := range spec.Objects {
			r.Background = r.Background && rd.Background != o.Colour
		}
	}
	if len(rd.Found) < len(spec.Objects) || len(spec.Objects) == 0 {
		return r
	}
	r.Shape, r.Colour, r.Size, r.Position = true, true, true, true
	perms := [][]int{make([]int, len(spec.Objects))}
	for k := range perms[0] {
		perms[0][k] = k
	}
	if len(spec.Objects) == 2 {
		perms = append(perms, []int{1, 0})
	}
	best := -1
	for _, perm := range perms {
		var c [4]bool // shape, colour, size, position
		c[0], c[1], c[2], c[3] = true, true, true, true
		for k, o := range spec.Objects {
			f := rd.Found[perm[k]].Object
			c[0] = c[0] && f.Kind == o.Kind
			c[1] = c[1] && f.Colour == o.Colour
			c[2] = c[2] && (o.Size == AnySize || f.Size == o.Size)
			c[3] = c[3] && (o.Pos == AnyPos || f.Pos == o.Pos)
		}
		n := 0
		for _, ok := range c {
			if ok {
				n++
			}
		}
		if n > best {
			best = n
			r.Shape, r.Colour, r.Size, r.Position = c[0], c[1], c[2], c[3]
		}
	}
	return r
}

// Table summarises results as the share of images showing each attribute,
// one line per attribute, and the share showing all of them.
func Table(results []Result) string {
	rows := []struct {
		name string
		ok   func(Result) bool
	}{
		{"count", func(r Result) bool { return r.Count }},
		{"shape", func(r Result) bool { return r.Shape }},
		{"colour", func(r Result) bool { return r.Colour }},
		{"size", func(r Result) bool { return r.Size }},
		{"position", func(r Result) bool { return r.Position }},
		{"background", func(r Result) bool { return r.Background }},
		{"all", Result.All},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s  %7s  %s\n", "attribute", "correct", "of")
	for _, row := range rows {
		n := 0
		for _, r := range results {
			if row.ok(r) {
				n++
			}
		}
		pct := 0.0
		if len(results) > 0 {
			pct = 100 * float64(n) / float64(len(results))
		}
		fmt.Fprintf(&b, "%-10s  %6.1f%%  %d/%d\n", row.name, pct, n, len(results))
	}
	return b.String()
}

// blur3 returns px (H, W, 3) averaged over each pixel's 3×3 neighbourhood
// (clipped at the image's edges).
func blur3(px []float64, w, h int) []float64 {
	out := make([]float64, len(px))
	for y := range h {
		for x := range w {
			var s [3]float64
			n := 0.0
			for ny := max(y-1, 0); ny <= min(y+1, h-1); ny++ {
				for nx := max(x-1, 0); nx <= min(x+1, w-1); nx++ {
					j := 3 * (ny*w + nx)
					s[0], s[1], s[2] = s[0]+px[j], s[1]+px[j+1], s[2]+px[j+2]
					n++
				}
			}
			i := 3 * (y*w + x)
			out[i], out[i+1], out[i+2] = s[0]/n, s[1]/n, s[2]/n
		}
	}
	return out
}
