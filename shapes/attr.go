package shapes

import (
	"image/color"
	"math"
)

// Kind is a shape's outline. The zero value means "not stated".
type Kind uint8

// The shape kinds.
const (
	NoKind Kind = iota
	Circle
	Square
	Triangle // isosceles, apex up, as wide as it is tall
)

// Kinds lists every kind in a fixed order (the order sampling and
// enumeration use).
var Kinds = [...]Kind{Circle, Square, Triangle}

var kindNames = [...]string{NoKind: "", Circle: "circle", Square: "square", Triangle: "triangle"}

// String returns the kind's caption word ("circle"), or "" for NoKind.
func (k Kind) String() string {
	if int(k) >= len(kindNames) {
		return ""
	}
	return kindNames[k]
}

// Plural returns the kind's plural caption word ("circles").
func (k Kind) Plural() string { return k.String() + "s" }

// Colour is one of the eight named colours. The zero value means "not
// stated".
type Colour uint8

// The named colours.
const (
	NoColour Colour = iota
	Red
	Green
	Blue
	Yellow
	Purple
	Orange
	White
	Black
)

// Colours lists every named colour in a fixed order.
var Colours = [...]Colour{Red, Green, Blue, Yellow, Purple, Orange, White, Black}

var colourNames = [...]string{
	NoColour: "", Red: "red", Green: "green", Blue: "blue", Yellow: "yellow",
	Purple: "purple", Orange: "orange", White: "white", Black: "black",
}

// palette is the sRGB value each colour is painted with. The closest pair
// (orange, yellow) is 71 apart in RGB; the scorer's thresholds rely on that.
var palette = [...]color.NRGBA{
	Red:    {220, 40, 40, 255},
	Green:  {40, 170, 60, 255},
	Blue:   {40, 80, 220, 255},
	Yellow: {240, 210, 40, 255},
	Purple: {140, 60, 180, 255},
	Orange: {245, 140, 30, 255},
	White:  {255, 255, 255, 255},
	Black:  {0, 0, 0, 255},
}

// String returns the colour's caption word ("red"), or "" for NoColour.
func (c Colour) String() string {
	if int(c) >= len(colourNames) {
		return ""
	}
	return colourNames[c]
}

// RGB returns the sRGB value the colour is painted with (opaque black for
// NoColour).
func (c Colour) RGB() color.NRGBA {
	if c == NoColour || int(c) >= len(palette) {
		return color.NRGBA{A: 255}
	}
	return palette[c]
}

// Size is a shape's size class. The zero value means "not stated".
type Size uint8

// The size classes. A small shape spans 16–20% of the image side, a large
// one 32–38%.
const (
	AnySize Size = iota
	Small
	Large
)

var sizeNames = [...]string{AnySize: "", Small: "small", Large: "large"}

// String returns the size's caption word ("small"), or "" for AnySize.
func (s Size) String() string {
	if int(s) >= len(sizeNames) {
		return ""
	}
	return sizeNames[s]
}

// Pos is a shape's place in the image. The zero value means "not stated".
type Pos uint8

// The positions.
const (
	AnyPos Pos = iota
	Center
	Left
	Right
	Top
	Bottom
)

// Positions lists every position in a fixed order.
var Positions = [...]Pos{Center, Left, Right, Top, Bottom}

var posNames = [...]string{AnyPos: "", Center: "center", Left: "left", Right: "right", Top: "top", Bottom: "bottom"}

// String returns the position's word ("left"), or "" for AnyPos.
func (p Pos) String() string {
	if int(p) >= len(posNames) {
		return ""
	}
	return posNames[p]
}

// Phrase returns the position's canonical caption phrase ("on the left",
// "at the top", "in the center"), or "" for AnyPos.
func (p Pos) Phrase() string {
	switch p {
	case Left, Right:
		return "on the " + p.String()
	case Top, Bottom:
		return "at the " + p.String()
	case Center:
		return "in the center"
	}
	return ""
}

// opposite returns the position across the centre (Left ↔ Right, Top ↔
// Bottom).
func (p Pos) opposite() Pos {
	switch p {
	case Left:
		return Right
	case Right:
		return Left
	case Top:
		return Bottom
	case Bottom:
		return Top
	}
	return p
}

// Geometry of the world, in fractions of the image side.
const (
	posOffset  = 0.26 // distance of Left/Right/Top/Bottom centres from the image centre
	posJitter  = 0.04 // each centre coordinate moves by up to ± this
	smallMin   = 0.08 // half-extent range of a small shape
	smallMax   = 0.10
	largeMin   = 0.16 // half-extent range of a large shape
	largeMax   = 0.19
	centerZone = 0.13 // the scorer's "center" square: |dx|, |dy| below this
	largeSpan  = 0.26 // the scorer's size threshold on the shape's extent (2·half-extent)
)

// anchor returns the nominal centre of position p.
func (p Pos) anchor() (x, y float64) {
	switch p {
	case Left:
		return 0.5 - posOffset, 0.5
	case Right:
		return 0.5 + posOffset, 0.5
	case Top:
		return 0.5, 0.5 - posOffset
	case Bottom:
		return 0.5, 0.5 + posOffset
	}
	return 0.5, 0.5
}

// lab is a colour in CIELAB (D65), where Euclidean distance follows
// perceived difference far better than in sRGB.
type lab struct{ l, a, b float64 }

// toLab converts 8-bit-range sRGB (0–255, may be fractional) to CIELAB.
func toLab(r, g, b float64) lab {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	lr, lg, lb := lin(r), lin(g), lin(b)
	// linear sRGB -> XYZ, normalised by the D65 white point.
	x := (0.4124*lr + 0.3576*lg + 0.1805*lb) / 0.95047
	y := 0.2126*lr + 0.7152*lg + 0.0722*lb
	z := (0.0193*lr + 0.1192*lg + 0.9505*lb) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return lab{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

var paletteLab = func() (p [len(palette)]lab) {
	for _, c := range Colours {
		v := palette[c]
		p[c] = toLab(float64(v.R), float64(v.G), float64(v.B))
	}
	return p
}()

// nearestColour names the palette colour closest to an sRGB value (0–255)
// in CIELAB.
func nearestColour(r, g, b float64) Colour {
	q := toLab(r, g, b)
	best, bestD := Colours[0], math.Inf(1)
	for _, c := range Colours {
		p := paletteLab[c]
		d := (q.l-p.l)*(q.l-p.l) + (q.a-p.a)*(q.a-p.a) + (q.b-p.b)*(q.b-p.b)
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
