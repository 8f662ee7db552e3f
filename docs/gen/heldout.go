package main

import (
	"fmt"
	fig "github.com/sdgo/sdgo/internal/figure"
	"image"
	"image/color"
	"strings"

	"golang.org/x/image/draw"

	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/shapes"
)

// The held-out figure: the first images `sdgo eval` scores, each with its
// caption and the pixel scorer's verdict on every attribute the caption
// names.

const (
	heldOutCols  = 6  // pictures per row
	heldOutChars = 24 // characters per line of caption and verdict (basicfont: 7 pixels each)
)

var (
	red  = color.RGBA{200, 0, 0, 255}  // the attributes the scorer finds wrong
	dark = color.RGBA{90, 90, 90, 255} // the ones it finds right
)

// evalDefaults are the settings `sdgo eval` runs sdmini.Evaluate with when
// given no flags (sdmini.DefaultEvalOptions), for the first n held-out
// captions.
func evalDefaults(n int) sdmini.EvalOptions {
	o := sdmini.DefaultEvalOptions()
	o.N = n
	return o
}

// verdict is the scorer's finding on one attribute.
type verdict struct {
	Name string // "colour", "position", …
	OK   bool
}

// String writes the verdict compactly, in ASCII: "colour ok", "shape NO".
func (v verdict) String() string {
	if v.OK {
		return v.Name + " ok"
	}
	return v.Name + " NO"
}

// verdicts lists r's verdict on each attribute spec states, in the order of
// sd-mini's eval table: colour, position, shape, size, background, count.
// Size, position and background appear only when the caption names them
// (shapes.Result counts an unstated one as shown); colour, shape and count
// are named by every caption.
func verdicts(spec shapes.Spec, r shapes.Result) []verdict {
	var sized, placed bool
	for _, o := range spec.Objects {
		sized = sized || o.Size != shapes.AnySize
		placed = placed || o.Pos != shapes.AnyPos
	}
	out := []verdict{{"colour", r.Colour}}
	if placed {
		out = append(out, verdict{"position", r.Position})
	}
	out = append(out, verdict{"shape", r.Shape})
	if sized {
		out = append(out, verdict{"size", r.Size})
	}
	if spec.Background != shapes.NoColour {
		out = append(out, verdict{"background", r.Background})
	}
	return append(out, verdict{"count", r.Count})
}

// wrap breaks s at spaces into lines of at most n characters (a longer word
// gets a line of its own).
func wrap(s string, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= n:
			cur += " " + w
		default:
			lines, cur = append(lines, cur), w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// verdictLines packs verdicts into lines of at most n characters, two
// spaces apart.
func verdictLines(vs []verdict, n int) [][]verdict {
	var lines [][]verdict
	width := 0
	for _, v := range vs {
		w := len(v.String())
		if len(lines) > 0 && width+2+w <= n {
			lines[len(lines)-1] = append(lines[len(lines)-1], v)
			width += 2 + w
			continue
		}
		lines = append(lines, []verdict{v})
		width = w
	}
	return lines
}

// figHeldOut makes the first g.s.HeldOut.N held-out captions as `sdgo eval`
// does (sdmini.EvaluateModel) and shows each image at g.s.Side pixels (sd-mini's
// 64×64 doubled, nearest neighbour, at the default 128), its caption
// wrapped below it, and the scorer's verdict on each attribute the caption
// names, the wrong ones in red.
func (g *gen) figHeldOut() (image.Image, error) {
	o := g.s.HeldOut
	ev, err := sdmini.EvaluateModel(g.model, o)
	if err != nil {
		return nil, err
	}
	if len(ev.Images) == 0 {
		return nil, fmt.Errorf("no held-out captions (N = %d)", o.N)
	}
	const pad, gap = 6, 20 // around the figure; between columns
	side := g.s.Side
	colW := max(side, heldOutChars*fig.CharW)
	type laidOut struct {
		caption  []string
		verdicts [][]verdict
	}
	cells := make([]laidOut, len(ev.Images))
	capLines, verLines, allOK := 0, 0, 0
	for i, spec := range ev.Specs {
		c := laidOut{wrap(spec.String(), colW/fig.CharW), verdictLines(verdicts(spec, ev.Results[i]), colW/fig.CharW)}
		cells[i] = c
		capLines, verLines = max(capLines, len(c.caption)), max(verLines, len(c.verdicts))
		if ev.Results[i].All() {
			allOK++
		}
	}
	n := len(ev.Images)
	first, last := o.Seed<<20, o.Seed<<20|uint64(n-1)
	title := []string{
		fmt.Sprintf("the first %d held-out captions sdgo eval scores, and the images it makes for them", n),
		fmt.Sprintf("eval's settings, not the running example's: %s, %d steps, guidance %g, seeds %d-%d", o.Sampler, o.Steps, o.CFGScale, first, last),
		fmt.Sprintf("under each, the pixel scorer's verdict per attribute (wrong: NO, in red); all right: %d of %d", allOK, n),
	}
	cols := min(heldOutCols, n)
	rows := (n + cols - 1) / cols
	titleH := len(title)*fig.LineH + 2*pad
	cellH := side + pad + (capLines+verLines)*fig.LineH + 4 + 2*pad
	gridW := cols*colW + (cols-1)*gap
	w := gridW + 2*pad
	for _, l := range title {
		w = max(w, fig.TextWidth(l)+2*pad)
	}
	img := fig.NewCanvas(w, titleH+rows*cellH)
	for k, l := range title {
		fig.TextCentered(img, w/2, pad+k*fig.LineH, l, fig.Black)
	}
	left := (w - gridW) / 2 // centre the grid under a wider title
	for i, pic := range ev.Images {
		x := left + (i%cols)*(colW+gap) // the column's left edge
		y := titleH + (i/cols)*cellH    // the picture's top
		px := x + (colW-side)/2
		r := image.Rect(px, y, px+side, y+side)
		draw.Draw(img, r.Inset(-1), image.NewUniform(fig.Gray), image.Point{}, draw.Src) // a frame, for white backgrounds
		fig.ScaleTo(img, r, pic)
		ty := y + side + pad
		for _, l := range cells[i].caption {
			fig.Text(img, x, ty, l, fig.Black)
			ty += fig.LineH
		}
		ty = y + side + pad + capLines*fig.LineH + 4 // verdicts line up across a row
		for _, l := range cells[i].verdicts {
			tx := x
			for _, v := range l {
				c := dark
				if !v.OK {
					c = red
				}
				fig.Text(img, tx, ty, v.String(), c)
				tx += (len(v.String()) + 2) * fig.CharW
			}
			ty += fig.LineH
		}
	}
	return img, nil
}
