package main

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
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	gray  = color.RGBA{200, 200, 200, 255}
	// palette colours the series of a plot, in order.
	palette = []color.RGBA{
		{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255},
	}
)

const (
	charW = 7  // basicfont.Face7x13 advance
	lineH = 13 // its line height
)

// newCanvas returns a white w×h image.
func newCanvas(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	return img
}

// text draws s with its top-left corner at (x, y).
func text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(c),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y+11), // the baseline lies 11 pixels below the top
	}
	d.DrawString(s)
}

// textWidth is the width of s in pixels.
func textWidth(s string) int { return len([]rune(s)) * charW }

// textCentered draws s centred on x, with its top at y.
func textCentered(img draw.Image, x, y int, s string, c color.Color) {
	text(img, x-textWidth(s)/2, y, s, c)
}

// line draws a line from (x0, y0) to (x1, y1) (Bresenham), width pixels wide.
func line(img *image.RGBA, x0, y0, x1, y1, width int, c color.Color) {
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

// dot draws a filled square of side 2r+1 centred at (x, y).
func dot(img *image.RGBA, x, y, r int, c color.Color) {
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

// series is one curve of a plot: points (X[i], Y[i]) joined by lines, or
// marked by dots when Dots is set.
type series struct {
	Name  string
	X, Y  []float64
	Color color.RGBA
	Dots  bool
}

// plot is a line plot with axes, ticks and a legend.
type plot struct {
	Title          string
	XLabel         string
	XMin, XMax     float64
	YMin, YMax     float64 // for LogY, the range of the values themselves (> 0)
	LogY           bool
	LegendLeft     bool // legend in the top-left corner instead of the top-right
	XTicks, YTicks []float64
	Series         []series
}

// draw renders p into the rectangle r of img.
func (p *plot) draw(img *image.RGBA, r image.Rectangle) {
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
	textCentered(img, (r.Min.X+r.Max.X)/2, r.Min.Y+4, p.Title, black)
	textCentered(img, (area.Min.X+area.Max.X)/2, area.Max.Y+20, p.XLabel, black)

	// Grid lines and tick labels.
	for _, x := range p.XTicks {
		line(img, px(x), area.Min.Y, px(x), area.Max.Y, 1, gray)
		textCentered(img, px(x), area.Max.Y+4, formatTick(x), black)
	}
	for _, y := range p.YTicks {
		line(img, area.Min.X, py(y), area.Max.X, py(y), 1, gray)
		s := formatTick(y)
		text(img, area.Min.X-6-textWidth(s), py(y)-6, s, black)
	}
	// Axes.
	line(img, area.Min.X, area.Max.Y, area.Max.X, area.Max.Y, 1, black)
	line(img, area.Min.X, area.Min.Y, area.Min.X, area.Max.Y, 1, black)

	clip := func(x, y int) (int, int) {
		return min(max(x, area.Min.X), area.Max.X), min(max(y, area.Min.Y), area.Max.Y)
	}
	for _, s := range p.Series {
		for i := range s.X {
			x, y := clip(px(s.X[i]), py(s.Y[i]))
			if s.Dots {
				dot(img, x, y, 2, s.Color)
				continue
			}
			if i > 0 {
				xp, yp := clip(px(s.X[i-1]), py(s.Y[i-1]))
				line(img, xp, yp, x, y, 2, s.Color)
			}
		}
	}
	// Legend, top right inside the area.
	ly := area.Min.Y + 6
	for _, s := range p.Series {
		lx := area.Max.X - 8 - textWidth(s.Name) - 20
		if p.LegendLeft {
			lx = area.Min.X + 8
		}
		if s.Dots {
			dot(img, lx+7, ly+6, 2, s.Color)
		} else {
			line(img, lx, ly+6, lx+14, ly+6, 2, s.Color)
		}
		text(img, lx+20, ly, s.Name, black)
		ly += lineH + 2
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

// cell is one picture of a grid.
type cell struct {
	Img   image.Image
	Label string // under the picture; may be ""
}

// grid lays out rows of pictures, each scaled (nearest neighbour, so the
// pixels of small images stay visible) to side×side, with a label under each
// and an optional label left of each row.
func grid(rows [][]cell, rowLabels []string, side int, title string) *image.RGBA {
	labelW := 0
	for _, l := range rowLabels {
		labelW = max(labelW, textWidth(l)+10)
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	const pad = 6
	titleH := 0
	if title != "" {
		titleH = lineH + 2*pad
	}
	cellH := side + lineH + pad
	w := max(labelW+pad+cols*(side+pad), textWidth(title)+2*pad)
	h := titleH + pad + len(rows)*cellH
	img := newCanvas(w, h)
	if title != "" {
		textCentered(img, w/2, pad, title, black)
	}
	for i, r := range rows {
		y := titleH + pad + i*cellH
		if i < len(rowLabels) {
			text(img, pad, y+side/2-lineH/2, rowLabels[i], black)
		}
		for j, c := range r {
			x := labelW + pad + j*(side+pad)
			dst := image.Rect(x, y, x+side, y+side)
			if c.Img != nil {
				scaleTo(img, dst, c.Img)
			}
			textCentered(img, x+side/2, y+side+1, c.Label, black)
		}
	}
	return img
}
