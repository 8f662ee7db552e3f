package shapes

import (
	"crypto/sha256"
	"image"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// digest hashes n scenes of each split, their captions and their 64×64
// pixels, all drawn from one seed.
func digest(seed uint64, n int) [32]byte {
	r := newRand(seed)
	h := sha256.New()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range n {
		s := Sample(r, Split(i%2))
		h.Write([]byte(s.Caption(r)))
		s.RenderInto(img)
		h.Write(img.Pix)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func TestDeterminism(t *testing.T) {
	a, b, c := digest(7, 300), digest(7, 300), digest(8, 300)
	if a != b {
		t.Errorf("seed 7 gave different data on two runs: %x, %x", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same data")
	}
	if !reflect.DeepEqual(HeldOut(200, 3), HeldOut(200, 3)) {
		t.Errorf("HeldOut(200, 3) differs between calls")
	}
}

func TestSplits(t *testing.T) {
	train, eval := AllSingle(Train), AllSingle(Eval)
	// 3 kinds × 8 colours × 2 sizes × 5 positions × 7 backgrounds.
	if got := len(train) + len(eval); got != 1680 {
		t.Errorf("%d single-shape combinations, want 1680", got)
	}
	// The split follows from Spec.String's wording: rewording the
	// canonical caption reshuffles it, and this count is likely to notice.
	if len(eval) != 240 {
		t.Errorf("%d held-out combinations, want 240 (at least 200 for evaluation)", len(eval))
	}
	t.Logf("%d train and %d held-out single-shape combinations", len(train), len(eval))

	held := map[string]bool{}
	for _, s := range HeldOut(len(eval), 1) {
		if s.Split() != Eval {
			t.Fatalf("HeldOut gave %q of split %v", s, s.Split())
		}
		if held[s.String()] {
			t.Fatalf("HeldOut repeats %q", s)
		}
		held[s.String()] = true
	}
	r := newRand(1)
	for range 20000 {
		s := Sample(r, Train).Spec()
		if s.Split() != Train || held[s.String()] {
			t.Fatalf("Sample(Train) drew held-out combination %q", s)
		}
		for _, o := range s.Objects { // nor one beside another shape
			if one := (Spec{Objects: []Object{o}, Background: s.Background}); held[one.String()] {
				t.Fatalf("Sample(Train) drew %q, which shows held-out %q", s, one)
			}
		}
	}
	for range 2000 {
		if s := Sample(r, Eval).Spec(); s.Split() != Eval {
			t.Fatalf("Sample(Eval) drew training combination %q", s)
		}
	}
}

func TestSampleBounds(t *testing.T) {
	r := newRand(2)
	counts := map[int]int{}
	for range 5000 {
		s := Sample(r, Train)
		counts[len(s.Shapes)]++
		for _, sh := range s.Shapes {
			if sh.X-sh.R < 0 || sh.X+sh.R > 1 || sh.Y-sh.R < 0 || sh.Y+sh.R > 1 {
				t.Fatalf("shape %+v leaves the image", sh)
			}
			if sh.Colour == s.Background {
				t.Fatalf("shape %+v has the background's colour", sh)
			}
		}
		if len(s.Shapes) == 2 {
			a, b := s.Shapes[0], s.Shapes[1]
			gap := max(b.X-a.X, b.Y-a.Y) - a.R - b.R
			if gap < 0.05 {
				t.Fatalf("shapes %+v and %+v are %.3f apart", a, b, gap)
			}
		}
	}
	if counts[1] == 0 || counts[2] == 0 {
		t.Errorf("scene sizes %v: want both one and two shapes", counts)
	}
}

// satisfies reports whether a scene shows everything spec states.
func satisfies(s Scene, spec Spec) bool {
	if bg, ok := spec.ExpectedBackground(); !ok || bg != s.Background {
		return false
	}
	if len(spec.Objects) != len(s.Shapes) {
		return false
	}
	match := func(o Object, sh Shape) bool {
		return o.Kind == sh.Kind && o.Colour == sh.Colour &&
			(o.Size == AnySize || o.Size == sh.Size) && (o.Pos == AnyPos || o.Pos == sh.Pos)
	}
	if len(s.Shapes) == 1 {
		return match(spec.Objects[0], s.Shapes[0])
	}
	a, b := spec.Objects[0], spec.Objects[1]
	return match(a, s.Shapes[0]) && match(b, s.Shapes[1]) || match(a, s.Shapes[1]) && match(b, s.Shapes[0])
}

func TestCaptionRoundTrip(t *testing.T) {
	r := newRand(3)
	forms := map[string]bool{}
	for i := range 5000 {
		s := Sample(r, Split(i%2))
		c := s.Caption(r)
		spec, err := ParseCaption(c)
		if err != nil {
			t.Fatal(err)
		}
		if !satisfies(s, spec) {
			t.Fatalf("caption %q parses to %+v, which scene %+v does not satisfy", c, spec, s)
		}
		if len(s.Shapes) == 1 && spec.Objects[0].Kind != s.Shapes[0].Kind {
			t.Fatalf("caption %q: kind %v, want %v", c, spec.Objects[0].Kind, s.Shapes[0].Kind)
		}
		forms[strings.Fields(c)[0]+" "+strings.Fields(c)[1]] = true
	}
	if len(forms) < 10 {
		t.Errorf("captions begin in only %d ways: %v", len(forms), forms)
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	specs := append(AllSingle(Train), AllSingle(Eval)...)
	r := newRand(4)
	for range 500 {
		specs = append(specs, Sample(r, Train).Spec())
	}
	for _, want := range specs {
		got, err := ParseCaption(want.String())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseCaption(%q) = %+v, want %+v", want.String(), got, want)
		}
	}
}

func TestParseCaption(t *testing.T) {
	one := func(k Kind, c Colour, sz Size, p Pos, bg Colour) Spec {
		return Spec{Objects: []Object{{k, c, sz, p}}, Background: bg}
	}
	tests := []struct {
		text string
		want Spec
	}{
		{"a small blue square at the top on a white background", one(Square, Blue, Small, Top, White)},
		{"a red circle", one(Circle, Red, AnySize, AnyPos, NoColour)},
		{"An Orange Triangle, in the middle.", one(Triangle, Orange, AnySize, Center, NoColour)},
		{"a picture of a big green circle on the right side, black background", one(Circle, Green, Large, Right, Black)},
		{"a purple background with a tiny yellow square", one(Square, Yellow, Small, AnyPos, Purple)},
		{"there is a large white triangle in the centre against a blue background", one(Triangle, White, Large, Center, Blue)},
		{"two green triangles", Spec{Objects: []Object{{Triangle, Green, AnySize, AnyPos}, {Triangle, Green, AnySize, AnyPos}}}},
		{"a red circle above an orange square", Spec{Objects: []Object{{Circle, Red, AnySize, Top}, {Square, Orange, AnySize, Bottom}}}},
		{"a red circle to the right of a small black square on a white background", Spec{Objects: []Object{{Circle, Red, AnySize, Right}, {Square, Black, Small, Left}}, Background: White}},
		{"a blue square on the left and a red circle on the right", Spec{Objects: []Object{{Square, Blue, AnySize, Left}, {Circle, Red, AnySize, Right}}}},
	}
	for _, tt := range tests {
		got, err := ParseCaption(tt.text)
		if err != nil {
			t.Errorf("ParseCaption(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCaption(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}

	bad := []string{
		"",
		"a red",
		"a red hexagon",
		"red circle",
		"a circle",
		"a red circle on a red background",
		"a red circle on the left and a blue square on the left",
		"a red circle on the left above a blue square",
		"a red circle on a blue",
		"a red circle on a blue background please",
		"two red circle",
		"a white background with a red circle on a blue background",
	}
	for _, text := range bad {
		if s, err := ParseCaption(text); err == nil {
			t.Errorf("ParseCaption(%q) = %+v, want an error", text, s)
		}
	}
}

func FuzzParseCaption(f *testing.F) {
	f.Add("a small blue square at the top on a white background")
	f.Add("two green triangles")
	f.Add("a red circle above an orange square")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseCaption(text)
		if err != nil {
			return
		}
		again, err := ParseCaption(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("%q parses to %+v, whose String %q parses to %+v, %v", text, s, s.String(), again, err)
		}
	})
}

func TestRender(t *testing.T) {
	r := newRand(5)
	for range 200 {
		s := Sample(r, Train)
		img := s.Render(64)
		bg := s.Background.RGB()
		edge := 0
		for y := range 64 {
			for x := range 64 {
				c := img.NRGBAAt(x, y)
				if c.A != 255 {
					t.Fatalf("pixel (%d, %d) has alpha %d", x, y, c.A)
				}
				if c == bg {
					continue
				}
				in := false // inside some shape's box grown by a pixel
				for _, sh := range s.Shapes {
					if c == sh.Colour.RGB() {
						in = true
						break
					}
					fx, fy, fr := sh.X*64, sh.Y*64, sh.R*64+1
					in = in || float64(x)+0.5 >= fx-fr && float64(x)+0.5 <= fx+fr && float64(y)+0.5 >= fy-fr && float64(y)+0.5 <= fy+fr
				}
				if !in {
					t.Fatalf("scene %+v: pixel (%d, %d) = %v lies outside every shape", s, x, y, c)
				}
				edge++
			}
		}
		if edge == 0 {
			t.Fatalf("scene %+v has no anti-aliased edge pixels", s)
		}
		for _, sh := range s.Shapes {
			x, y := int(sh.X*64), int(sh.Y*64) // every kind covers its box centre
			if sh.Kind == Triangle {
				y = int((sh.Y + sh.R/2) * 64)
			}
			if c := img.NRGBAAt(x, y); c != sh.Colour.RGB() {
				t.Fatalf("scene %+v: pixel (%d, %d) = %v, want the shape's colour", s, x, y, c)
			}
		}
	}
}

func TestToTensor(t *testing.T) {
	s := Scene{Shapes: []Shape{{Kind: Square, Colour: Red, Size: Large, Pos: Center, X: 0.5, Y: 0.5, R: 0.25}}, Background: Black}
	img := s.Render(8)
	prefix := []float32{42}
	x := ToTensor(prefix, img)
	if len(x) != 1+3*8*8 || x[0] != 42 {
		t.Fatalf("len %d, x[0] %v: want 193 values after the prefix", len(x), x[0])
	}
	x = x[1:]        // (3, 8, 8)
	red := Red.RGB() // the centre is red, the corners black
	tests := []struct {
		name string
		i    int
		want float32
	}{
		{"R centre", 0*64 + 4*8 + 4, float32(red.R)/127.5 - 1},
		{"G centre", 1*64 + 4*8 + 4, float32(red.G)/127.5 - 1},
		{"B centre", 2*64 + 4*8 + 4, float32(red.B)/127.5 - 1},
		{"R corner", 0, -1},
		{"B corner", 2*64 + 63, -1},
	}
	for _, tt := range tests {
		if x[tt.i] != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, x[tt.i], tt.want)
		}
	}
}

func TestGrid(t *testing.T) {
	r := newRand(6)
	var imgs []image.Image
	for range 5 {
		imgs = append(imgs, Sample(r, Train).Render(64))
	}
	g := Grid(imgs, 2)
	if b := g.Bounds(); b.Dx() != 2*64+gridGap || b.Dy() != 3*64+2*gridGap {
		t.Fatalf("grid of 5 in 2 columns is %v", b)
	}
	if g.NRGBAAt(64+gridGap+10, 64+gridGap+10) != imgs[3].(*image.NRGBA).NRGBAAt(10, 10) {
		t.Errorf("cell 3 is not image 3")
	}
	if Grid(nil, 3).Bounds().Empty() != true {
		t.Errorf("Grid(nil) is not empty")
	}
}

func BenchmarkRender(b *testing.B) {
	r := newRand(1)
	scenes := make([]Scene, 64)
	for i := range scenes {
		scenes[i] = Sample(r, Train)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := 0; b.Loop(); i++ {
		scenes[i%len(scenes)].RenderInto(img)
	}
}

func BenchmarkSampleCaption(b *testing.B) {
	r := newRand(1)
	for b.Loop() {
		Sample(r, Train).Caption(r)
	}
}

func BenchmarkRead(b *testing.B) {
	img := Sample(newRand(1), Train).Render(64)
	for b.Loop() {
		Read(img)
	}
}
