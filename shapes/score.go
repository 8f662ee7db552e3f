package shapes

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
)

// The scorer's thresholds.
const (
	looseDist  = 25.0  // RGB distance from the background that makes a pixel a foreground candidate (a third of the closest palette pair)
	coreFrac   = 0.7   // pixels this close to a component's peak distance are its interior, which names its colour
	minArea    = 0.003 // share of the image a component needs to count as a shape (a small triangle has 0.013)
	maxFound   = 8     // at most this many shapes are reported
	fillCircle = 0.64  // bounding-box fill ratio from which a shape is a circle (π/4 ≈ 0.785; a triangle's is 0.5)
	fillSquare = 0.89  // fill ratio from which a shape is a square (1)
)

// Found is one shape the scorer read from an image.
type Found struct {
	Object         // the attributes read, all stated
	Area   float64 // coverage-weighted area, a fraction of the image
	X, Y   float64 // centre of the bounding box, fractions of width and height
	W, H   float64 // extent, fractions of width and height
	Fill   float64 // area / (W·H), which tells the kind
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
//  2. Pixels further than looseDist from it (in RGB) form candidate regions
//     (8-connected); regions under minArea of the image are noise.
//  3. In each region, the pixels near its largest distance from the
//     background are its interior: their majority palette colour is the
//     shape's colour, their mean its painted colour fg.
//  4. Each pixel's coverage is its position between background and fg
//     (projected onto fg - bg, clamped to [0, 1]). Summing coverage gives
//     the area; the column and row maxima give the width and height; the
//     pixels at least half covered give the bounding box.
//  5. Kind from the fill ratio area/(W·H): under fillCircle a triangle,
//     under fillSquare a circle, else a square. Size from the extent:
//     large when max(W, H) exceeds largeSpan of the image. Position from
//     the box centre: center within centerZone of the middle, else the
//     dominant direction.
func Read(img image.Image) Reading {
	w, h, px := rgbOf(img) // (H, W, 3)
	bg := borderMedian(px, w, h)
	rd := Reading{Background: nearestColour(bg[0], bg[1], bg[2])}
	if w == 0 || h == 0 {
		return rd
	}

	dist := make([]float64, w*h)
	for i := range dist {
		dr, dg, db := px[3*i]-bg[0], px[3*i+1]-bg[1], px[3*i+2]-bg[2]
		dist[i] = math.Sqrt(dr*dr + dg*dg + db*db)
	}

	// Label candidate regions: label[i] is 1 + the region's index, 0 for
	// the background.
	label := make([]int32, w*h)
	var stack, members []int
	regions := int32(0)
	for seed := range dist {
		if dist[seed] <= looseDist || label[seed] != 0 {
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
					if label[j] == 0 && dist[j] > looseDist {
						label[j] = regions
						stack = append(stack, j)
					}
				}
			}
		}
		if float64(len(members)) < minArea*float64(w*h) {
			continue
		}
		rd.Found = append(rd.Found, measure(px, dist, label, regions, members, bg, w, h))
	}
	slices.SortStableFunc(rd.Found, func(a, b Found) int { return -cmpFloat(a.Area, b.Area) })
	if len(rd.Found) > maxFound {
		rd.Found = rd.Found[:maxFound]
	}
	return rd
}

// measure reads one region (step 3 to 5 of Read).
func measure(px, dist []float64, label []int32, id int32, members []int, bg [3]float64, w, h int) Found {
	// 3. Interior: colour vote and mean painted colour.
	peak := 0.0
	x0, y0, x1, y1 := w, h, -1, -1
	for _, i := range members {
		peak = max(peak, dist[i])
		x, y := i%w, i/w
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
	}
	var votes [len(palette)]int
	var fg [3]float64
	n := 0.0
	for _, i := range members {
		if dist[i] < coreFrac*peak {
			continue
		}
		votes[nearestColour(px[3*i], px[3*i+1], px[3*i+2])]++
		fg[0], fg[1], fg[2] = fg[0]+px[3*i], fg[1]+px[3*i+1], fg[2]+px[3*i+2]
		n++
	}
	var f Found
	for _, c := range Colours {
		if votes[c] > votes[f.Colour] {
			f.Colour = c
		}
	}
	v := [3]float64{fg[0]/n - bg[0], fg[1]/n - bg[1], fg[2]/n - bg[2]} // fg - bg
	vv := v[0]*v[0] + v[1]*v[1] + v[2]*v[2]

	// 4. Coverage over the region's box grown by the anti-aliased rim,
	// skipping pixels of other regions.
	x0, y0, x1, y1 = max(x0-1, 0), max(y0-1, 0), min(x1+1, w-1), min(y1+1, h-1)
	colMax := make([]float64, x1-x0+1)
	rowMax := make([]float64, y1-y0+1)
	bx0, by0, bx1, by1 := w, h, -1, -1
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			i := y*w + x
			if label[i] != id && label[i] != 0 {
				continue
			}
			t := ((px[3*i]-bg[0])*v[0] + (px[3*i+1]-bg[1])*v[1] + (px[3*i+2]-bg[2])*v[2]) / vv
			t = min(max(t, 0), 1)
			f.Area += t
			colMax[x-x0] = max(colMax[x-x0], t)
			rowMax[y-y0] = max(rowMax[y-y0], t)
			if t >= 0.5 {
				bx0, by0, bx1, by1 = min(bx0, x), min(by0, y), max(bx1, x), max(by1, y)
			}
		}
	}
	var wp, hp float64 // extent in pixels
	for _, t := range colMax {
		wp += t
	}
	for _, t := range rowMax {
		hp += t
	}
	f.Fill = f.Area / (wp * hp)
	f.Area /= float64(w * h)
	f.W, f.H = wp/float64(w), hp/float64(h)
	if bx1 < 0 { // nothing half covered: fall back to the region's box
		bx0, by0, bx1, by1 = x0+1, y0+1, x1-1, y1-1
	}
	f.X = float64(bx0+bx1+1) / 2 / float64(w)
	f.Y = float64(by0+by1+1) / 2 / float64(h)

	// 5. Attributes.
	switch {
	case f.Fill < fillCircle:
		f.Kind = Triangle
	case f.Fill < fillSquare:
		f.Kind = Circle
	default:
		f.Kind = Square
	}
	f.Size = Small
	if max(f.W, f.H) > largeSpan {
		f.Size = Large
	}
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
	return f
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// borderMedian returns the per-channel median of the image's outermost
// pixels.
func borderMedian(px []float64, w, h int) [3]float64 {
	var m [3]float64
	if w == 0 || h == 0 {
		return m
	}
	var ring []int
	for x := range w {
		ring = append(ring, x, (h-1)*w+x)
	}
	for y := 1; y < h-1; y++ {
		ring = append(ring, y*w, y*w+w-1)
	}
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
