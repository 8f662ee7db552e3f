package shapes

import (
	"image"
	"math"
	"testing"
)

// accuracy returns the share of results for which each attribute holds, in
// Result's field order.
func accuracy(results []Result) [6]float64 {
	var a [6]float64
	for _, r := range results {
		for k, ok := range [6]bool{r.Count, r.Shape, r.Colour, r.Size, r.Position, r.Background} {
			if ok {
				a[k]++
			}
		}
	}
	for k := range a {
		a[k] /= float64(len(results))
	}
	return a
}

var attrNames = [6]string{"count", "shape", "colour", "size", "position", "background"}

// The scorer reads rendered held-out scenes correctly, at the training size
// and larger.
func TestScoreTruth(t *testing.T) {
	for _, tt := range []struct{ size, n int }{{64, 400}, {128, 200}} {
		size := tt.size
		r := newRand(10)
		var results []Result
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		for range tt.n {
			s := Sample(r, Eval)
			s.RenderInto(img)
			res := Score(img, s.Spec())
			if !res.All() {
				t.Logf("%d×%d %q: %+v read as %+v", size, size, s.Spec(), res, Read(img).Found)
			}
			results = append(results, res)
		}
		t.Logf("%d×%d:\n%s", size, size, Table(results))
		for k, a := range accuracy(results) {
			if a < 0.98 {
				t.Errorf("%d×%d: %s right on %.1f%% of ground-truth images, want ≥ 98%%", size, size, attrNames[k], 100*a)
			}
		}
	}
}

// The scorer is not trivially satisfied: a caption wrong in one attribute
// fails on that attribute.
func TestScoreMismatch(t *testing.T) {
	r := newRand(11)
	other := func(v, n int) int { return 1 + (v-1+1+r.IntN(n-1))%n } // a value of 1…n other than v
	results := make([][]Result, 6)
	for range 300 {
		s := Sample(r, Eval)
		if len(s.Shapes) != 1 {
			continue
		}
		rd := Read(s.Render(64))
		truth := s.Spec()
		o := truth.Objects[0]
		wrong := func(o Object, bg Colour) Result {
			return rd.Score(Spec{Objects: []Object{o}, Background: bg})
		}
		// Count: two objects where there is one.
		results[0] = append(results[0], rd.Score(Spec{Objects: []Object{o, o}, Background: truth.Background}))
		w := o
		w.Kind = Kind(other(int(o.Kind), len(Kinds)))
		results[1] = append(results[1], wrong(w, truth.Background))
		w = o
		for w.Colour == o.Colour || w.Colour == truth.Background {
			w.Colour = Colours[r.IntN(len(Colours))]
		}
		results[2] = append(results[2], wrong(w, truth.Background))
		w = o
		w.Size = Size(other(int(o.Size), 2))
		results[3] = append(results[3], wrong(w, truth.Background))
		w = o
		w.Pos = Pos(other(int(o.Pos), len(Positions)))
		results[4] = append(results[4], wrong(w, truth.Background))
		bg := truth.Background
		for bg == truth.Background || bg == o.Colour {
			bg = Colours[r.IntN(len(Colours))]
		}
		results[5] = append(results[5], wrong(o, bg))
	}
	for k, rs := range results {
		a := accuracy(rs)
		if a[k] > 0.05 {
			t.Errorf("captions with a wrong %s pass on %s %.1f%% of the time, want ≤ 5%%", attrNames[k], attrNames[k], 100*a[k])
		}
		if k == 0 {
			continue
		}
		for j, v := range a { // the other attributes are still right
			if j != k && j != 0 && v < 0.98 {
				t.Errorf("captions with a wrong %s: %s right only %.1f%% of the time", attrNames[k], attrNames[j], 100*v)
			}
		}
	}
}

// Read of a blank image finds nothing; Score fails every object attribute.
func TestScoreBlank(t *testing.T) {
	img := Scene{Background: White}.Render(64)
	rd := Read(img)
	if rd.Background != White || len(rd.Found) != 0 {
		t.Fatalf("blank white image read as %+v", rd)
	}
	res := rd.Score(Spec{Objects: []Object{{Kind: Circle, Colour: Red}}})
	want := Result{Background: true}
	if res != want {
		t.Errorf("blank image scored %+v, want %+v", res, want)
	}
	if rd := Read(image.NewNRGBA(image.Rectangle{})); len(rd.Found) != 0 {
		t.Errorf("empty image read as %+v", rd)
	}
}

// degrade blurs img with a Gaussian of standard deviation blur pixels
// (0: none), then adds Gaussian noise of standard deviation noise (in 0…255
// units) to each channel: what an imperfect model's image looks like.
func degrade(img *image.NRGBA, blur, noise float64, seed uint64) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	v := make([]float64, len(img.Pix))
	for i, p := range img.Pix {
		v[i] = float64(p)
	}
	if blur > 0 {
		const radius = 4
		var k [2*radius + 1]float64
		sum := 0.0
		for i := range k {
			d := float64(i - radius)
			k[i] = math.Exp(-d * d / (2 * blur * blur))
			sum += k[i]
		}
		tmp := make([]float64, len(v))
		for _, step := range [2][2]int{{1, 0}, {0, 1}} { // horizontal, then vertical
			for y := range h {
				for x := range w {
					for c := range 3 {
						s := 0.0
						for i, kv := range k {
							xx := min(max(x+step[0]*(i-radius), 0), w-1)
							yy := min(max(y+step[1]*(i-radius), 0), h-1)
							s += kv * v[4*(yy*w+xx)+c]
						}
						tmp[4*(y*w+x)+c] = s / sum
					}
				}
			}
			for i := range v {
				if i%4 != 3 {
					v[i] = tmp[i]
				}
			}
		}
	}
	r := newRand(seed)
	for i := range v {
		if i%4 != 3 {
			img.Pix[i] = uint8(min(max(math.Round(v[i]+noise*r.NormFloat64()), 0), 255))
		}
	}
}

// The scorer still reads images whose edges are soft and whose pixels are
// noisy, as a model's are: its measurements are moments of the coverage,
// which a blur does not change.
func TestScoreDegraded(t *testing.T) {
	tests := []struct {
		name        string
		blur, noise float64
	}{
		{"blur 1.5", 1.5, 0},
		{"noise 30", 0, 30},
		{"blur 1.5 + noise 20", 1.5, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRand(12)
			var results []Result
			for k := range 200 {
				s := Sample(r, Eval)
				img := s.Render(64)
				degrade(img, tt.blur, tt.noise, uint64(k))
				results = append(results, Score(img, s.Spec()))
			}
			t.Logf("\n%s", Table(results))
			for k, a := range accuracy(results) {
				if a < 0.97 {
					t.Errorf("%s right on %.1f%% of degraded images, want ≥ 97%%", attrNames[k], 100*a)
				}
			}
		})
	}
}

// Read takes any image without panicking: tiny, non-square, offset,
// translucent or pure noise.
func TestReadAnything(t *testing.T) {
	r := newRand(13)
	noise := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(r.IntN(256))
	}
	gray := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(r.IntN(256))
	}
	scene := Sample(r, Train).Render(64)
	imgs := []image.Image{
		image.NewNRGBA(image.Rect(0, 0, 1, 1)),
		image.NewNRGBA(image.Rect(0, 0, 2, 3)),
		noise,
		gray,
		noise.SubImage(image.Rect(5, 5, 25, 20)),
		scene.SubImage(image.Rect(10, 10, 50, 60)),
		image.NewRGBA(image.Rect(-4, -4, 20, 20)),
	}
	for _, img := range imgs {
		rd := Read(img)
		for _, f := range rd.Found {
			if f.Kind == NoKind || f.Colour == NoColour || f.Size == AnySize || f.Pos == AnyPos {
				t.Errorf("%v image: incomplete reading %+v", img.Bounds(), f)
			}
		}
		_ = rd.Score(Spec{Objects: []Object{{Kind: Circle, Colour: Red}, {Kind: Square, Colour: Blue}}})
	}
}
