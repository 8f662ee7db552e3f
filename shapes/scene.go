package shapes

import "math/rand/v2"

// Shape is one shape of a scene: its attributes and its exact geometry.
// X, Y and R are fractions of the image side, so a scene renders at any
// size: the shape's bounding box is the square [X-R, X+R] × [Y-R, Y+R].
type Shape struct {
	Kind   Kind
	Colour Colour
	Size   Size
	Pos    Pos
	X, Y   float64 // centre of the bounding box, y down
	R      float64 // half-extent: circle radius, half the square's side, half the triangle's base and height
}

// Scene is one image of the world: one or two shapes on a plain background.
// Two shapes sit side by side (Left, Right) or one above the other (Top,
// Bottom) and never touch.
type Scene struct {
	Shapes     []Shape
	Background Colour
}

// Object returns the shape's attributes.
func (s Shape) Object() Object { return Object{s.Kind, s.Colour, s.Size, s.Pos} }

// Spec returns the scene's full spec: every attribute stated, the
// background included.
func (s Scene) Spec() Spec {
	objs := make([]Object, len(s.Shapes))
	for i, sh := range s.Shapes {
		objs[i] = sh.Object()
	}
	return Spec{Objects: objs, Background: s.Background}
}

// Sampling probabilities.
const (
	twoShapeProb    = 0.3 // a scene has two shapes
	twinProb        = 0.4 // the second of two shapes copies the first's kind and colour ("two green triangles")
	defaultBackProb = 0.5 // the background is DefaultBackground (otherwise uniform over the colours not used by a shape)
)

// Sample draws a scene of the given split, using only r, so a generator
// seeded the same way (rand.New(rand.NewPCG(seed1, seed2))) gives the same
// scenes. Scenes are drawn from the whole world and redrawn until their
// attribute combination (Spec.Split) belongs to split.
func Sample(r *rand.Rand, split Split) Scene {
	for {
		s := drawScene(r)
		if s.Spec().Split() == split {
			return s
		}
	}
}

// drawScene draws one scene from the whole world.
func drawScene(r *rand.Rand) Scene {
	var s Scene
	if r.Float64() < twoShapeProb {
		a, b := Left, Right
		if r.IntN(2) == 0 {
			a, b = Top, Bottom
		}
		first := drawShape(r, a)
		second := drawShape(r, b)
		if r.Float64() < twinProb {
			second.Kind, second.Colour = first.Kind, first.Colour
		}
		s.Shapes = []Shape{first, second}
	} else {
		s.Shapes = []Shape{drawShape(r, Positions[r.IntN(len(Positions))])}
	}

	def, ok := DefaultBackground(s.Spec().Objects)
	if ok && r.Float64() < defaultBackProb {
		s.Background = def
		return s
	}
	var free []Colour
	for _, c := range Colours {
		if !s.uses(c) {
			free = append(free, c)
		}
	}
	s.Background = free[r.IntN(len(free))]
	return s
}

// uses reports whether a shape of s has colour c.
func (s Scene) uses(c Colour) bool {
	for _, sh := range s.Shapes {
		if sh.Colour == c {
			return true
		}
	}
	return false
}

// drawShape draws a shape at position p: a uniform kind, colour and size
// class, the half-extent uniform within the class, the centre jittered
// around the position's anchor. Every shape stays inside the image.
func drawShape(r *rand.Rand, p Pos) Shape {
	sh := Shape{
		Kind:   Kinds[r.IntN(len(Kinds))],
		Colour: Colours[r.IntN(len(Colours))],
		Size:   Small,
		Pos:    p,
	}
	lo, hi := smallMin, smallMax
	if r.IntN(2) == 0 {
		sh.Size, lo, hi = Large, largeMin, largeMax
	}
	sh.R = lerp(lo, hi, r.Float64())
	ax, ay := p.anchor()
	sh.X = lerp(ax-posJitter, ax+posJitter, r.Float64())
	sh.Y = lerp(ay-posJitter, ay+posJitter, r.Float64())
	return sh
}

// lerp returns a + (b-a)·t. The conversion keeps the compiler from fusing
// the multiply and add, so every architecture computes the same bits.
func lerp(a, b, t float64) float64 { return a + float64((b-a)*t) }
