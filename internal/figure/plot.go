// Package figure draws the pictures that explain Stable Diffusion: the plots,
// heat maps and grids of docs/gen (the walkthrough's figures) and of the
// server's Explore page, one implementation of each, used by both. Only the
// standard library and golang.org/x/image.
package figure

import (
	"image"
	"image/color"
	"math"
	"strconv"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The drawing kit of the figures: a white canvas, 7×13 pixel text, lines,
// axes and image grids. Only the standard library and golang.org/x/image.

var (
	White = color.RGBA{255, 255, 255, 255}
	Black = color.RGBA{0, 0, 0, 255}
	Gray  = color.RGBA{200, 200, 200, 255}
	// Palette colours the series of a plot, in order.
	Palette = []color.RGBA{
		{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255},
	}
)

const (
	CharW = 7  // basicfont.Face7x13 advance
	LineH = 13 // its line height
)

// NewCanvas returns a White w×h image.
func NewCanvas(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(White), image.Point{}, draw.Src)
	return img
}

// Text draws s with its top-left corner at (x, y).
func Text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(c),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y+11), // the baseline lies 11 pixels below the top
	}
	d.DrawString(s)
}

// TextWidth is the width of s in pixels.
func TextWidth(s string) int { return len([]rune(s)) * CharW }

// TextCentered draws s centred on x, with its top at y.
func TextCentered(img draw.Image, x, y int, s string, c color.Color) {
	Text(img, x-TextWidth(s)/2, y, s, c)
}

// Line draws a line from (x0, y0) to (x1, y1) (Bresenham), width pixels wide.
func Line(img *image.RGBA, x0, y0, x1, y1, width int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		for i := 0; i < width; i++ {
			for j := 0; j < width; j++ {
				img.Set(x0+i-width/2, y0+j-width/2, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// Dot draws a filled square of side 2r+1 centred at (x, y).
func Dot(img *image.RGBA, x, y, r int, c color.Color) {
	draw.Draw(img, image.Rect(x-r, y-r, x+r+1, y+r+1), image.NewUniform(c), image.Point{}, draw.Src)
}

// abs is |x|.
func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// sign is −1, 0 or 1 by the sign of x.
func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// Series is one curve of a plot: points (X[i], Y[i]) joined by lines, or
// marked by dots when Dots is set.
type Series struct {
	Name  string
	X, Y  []float64
	Color color.RGBA
	Dots  bool
	R     int // the dots' radius in pixels (default 2)
}

// Plot is a line plot with axes, ticks and a legend.
type Plot struct {
	Title          string
	XLabel         string
	XMin, XMax     float64
	YMin, YMax     float64 // for LogY, the range of the values themselves (> 0)
	LogY           bool
	LegendLeft     bool // legend in the top-left corner instead of the top-right
	XTicks, YTicks []float64
	Series         []Series
}

// Draw renders p into the rectangle r of img.
func (p *Plot) Draw(img *image.RGBA, r image.Rectangle) {
	// The plot area, inside margins for tick labels, title and axis label.
	area := image.Rect(r.Min.X+56, r.Min.Y+22, r.Max.X-12, r.Max.Y-36)
	ymap := func(v float64) float64 { return v }
	if p.LogY {
		ymap = math.Log10
	}
	y0, y1 := ymap(p.YMin), ymap(p.YMax)
	px := func(x float64) int {
		return area.Min.X + int(math.Round((x-p.XMin)/(p.XMax-p.XMin)*float64(area.Dx())))
	}
	py := func(y float64) int {
		return area.Max.Y - int(math.Round((ymap(y)-y0)/(y1-y0)*float64(area.Dy())))
	}
	TextCentered(img, (r.Min.X+r.Max.X)/2, r.Min.Y+4, p.Title, Black)
	TextCentered(img, (area.Min.X+area.Max.X)/2, area.Max.Y+20, p.XLabel, Black)

	// Grid lines and tick labels.
	for _, x := range p.XTicks {
		Line(img, px(x), area.Min.Y, px(x), area.Max.Y, 1, Gray)
		TextCentered(img, px(x), area.Max.Y+4, formatTick(x), Black)
	}
	for _, y := range p.YTicks {
		Line(img, area.Min.X, py(y), area.Max.X, py(y), 1, Gray)
		s := formatTick(y)
		Text(img, area.Min.X-6-TextWidth(s), py(y)-6, s, Black)
	}
	// Axes.
	Line(img, area.Min.X, area.Max.Y, area.Max.X, area.Max.Y, 1, Black)
	Line(img, area.Min.X, area.Min.Y, area.Min.X, area.Max.Y, 1, Black)

	clip := func(x, y int) (int, int) {
		return min(max(x, area.Min.X), area.Max.X), min(max(y, area.Min.Y), area.Max.Y)
	}
	for _, s := range p.Series {
		for i := range s.X {
			x, y := clip(px(s.X[i]), py(s.Y[i]))
			if s.Dots {
				r := s.R
				if r == 0 {
					r = 2
				}
				Dot(img, x, y, r, s.Color)
				continue
			}
			if i > 0 {
				xp, yp := clip(px(s.X[i-1]), py(s.Y[i-1]))
				Line(img, xp, yp, x, y, 2, s.Color)
			}
		}
	}
	// Legend, top right inside the area.
	ly := area.Min.Y + 6
	for _, s := range p.Series {
		if s.Name == "" {
			continue
		}
		lx := area.Max.X - 8 - TextWidth(s.Name) - 20
		if p.LegendLeft {
			lx = area.Min.X + 8
		}
		if s.Dots {
			Dot(img, lx+7, ly+6, 2, s.Color)
		} else {
			Line(img, lx, ly+6, lx+14, ly+6, 2, s.Color)
		}
		Text(img, lx+20, ly, s.Name, Black)
		ly += LineH + 2
	}
}

// formatTick prints a tick value compactly: 0.5, 250, 1e-02.
func formatTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 0.01 && math.Abs(v) < 10000:
		return trimFloat(v)
	}
	return strconv.FormatFloat(v, 'e', 0, 64)
}

// trimFloat prints v with at most 3 decimals and no trailing zeros.
func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// Cell is one picture of a grid.
type Cell struct {
	Img   image.Image
	Label string // under the picture; may be ""
}

// Grid lays out rows of pictures, each scaled (nearest neighbour, so the
// pixels of small images stay visible) to side×side, with a label under each
// and an optional label left of each row.
func Grid(rows [][]Cell, rowLabels []string, side int, title string) *image.RGBA {
	labelW := 0
	for _, l := range rowLabels {
		labelW = max(labelW, TextWidth(l)+10)
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	const pad = 6
	titleH := 0
	if title != "" {
		titleH = LineH + 2*pad
	}
	cellH := side + LineH + pad
	w := max(labelW+pad+cols*(side+pad), TextWidth(title)+2*pad)
	h := titleH + pad + len(rows)*cellH
	img := NewCanvas(w, h)
	if title != "" {
		TextCentered(img, w/2, pad, title, Black)
	}
	for i, r := range rows {
		y := titleH + pad + i*cellH
		if i < len(rowLabels) {
			Text(img, pad, y+side/2-LineH/2, rowLabels[i], Black)
		}
		for j, c := range r {
			x := labelW + pad + j*(side+pad)
			dst := image.Rect(x, y, x+side, y+side)
			if c.Img != nil {
				ScaleTo(img, dst, c.Img)
			}
			TextCentered(img, x+side/2, y+side+1, c.Label, Black)
		}
	}
	return img
}

// ScaleTo draws src into dst's rectangle r: nearest neighbour when
// enlarging (so small images show their pixels), bilinear when shrinking.
func ScaleTo(dst draw.Image, r image.Rectangle, src image.Image) {
	if src.Bounds().Dx() < r.Dx() {
		draw.NearestNeighbor.Scale(dst, r, src, src.Bounds(), draw.Src, nil)
		return
	}
	draw.ApproxBiLinear.Scale(dst, r, src, src.Bounds(), draw.Src, nil)
}

// Heatmap colours a w×h map of values (scaled to its own range) and lays it
// over a grey copy of under; with under nil it is the bare w×h colour map.
func Heatmap(v []float64, w, h int, under image.Image) image.Image {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if under == nil {
		out := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i, val := range v[:w*h] {
			s := 0.0
			if hi > lo {
				s = (val - lo) / (hi - lo)
			}
			c := Inferno(s)
			out.SetNRGBA(i%w, i/w, color.NRGBA{c.R, c.G, c.B, 255})
		}
		return out
	}
	b := under.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			val := v[((y-b.Min.Y)*h/b.Dy())*w+(x-b.Min.X)*w/b.Dx()]
			s := 0.0
			if hi > lo {
				s = (val - lo) / (hi - lo)
			}
			c := Inferno(s)
			r, gg, bb, _ := under.At(x, y).RGBA()
			grey := (0.299*float64(r) + 0.587*float64(gg) + 0.114*float64(bb)) / 257
			mix := func(a uint8) uint8 { return uint8(0.35*grey + 0.65*float64(a)) }
			out.SetNRGBA(x, y, color.NRGBA{mix(c.R), mix(c.G), mix(c.B), 255})
		}
	}
	return out
}

// Inferno maps s ∈ [0, 1] to a dark-to-bright colour (a few stops of
// matplotlib's "inferno", linearly interpolated).
func Inferno(s float64) color.RGBA {
	stops := []color.RGBA{{0, 0, 4, 255}, {87, 16, 110, 255}, {188, 55, 84, 255}, {249, 142, 9, 255}, {252, 255, 164, 255}}
	s = math.Min(math.Max(s, 0), 1) * float64(len(stops)-1)
	i := min(int(s), len(stops)-2)
	f := s - float64(i)
	a, b := stops[i], stops[i+1]
	lerp := func(x, y uint8) uint8 { return uint8(float64(x) + f*(float64(y)-float64(x)) + 0.5) }
	return color.RGBA{lerp(a.R, b.R), lerp(a.G, b.G), lerp(a.B, b.B), 255}
}
