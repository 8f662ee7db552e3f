package sdmini

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sdgo/sdgo/grad"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/shapes"
)

// The composed operations give the values and gradients they stand for.
func TestComposedOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x := grad.Param(grad.Normal(r, 1, 2, 5, 3, 3))
	y := grad.Const(grad.Normal(r, 1, 2, 5, 3, 3))
	w := grad.Uniform(r, 1, 2, 5, 3, 3)
	for i := range w.Data {
		w.Data[i] += 1 // positive weights
	}
	for _, tc := range []struct {
		name    string
		f       func(tp *grad.Tape) *grad.Var
		value   func() float64 // the expected loss
		gradAt0 float64        // d loss / d x[0]
	}{
		{"l1", func(tp *grad.Tape) *grad.Var { return l1(tp, x, y, w) },
			func() float64 {
				s := 0.0
				for i, v := range x.Value.Data {
					s += float64(w.Data[i]) * math.Abs(float64(v-y.Value.Data[i]))
				}
				return s / float64(len(w.Data))
			},
			float64(w.Data[0]) * math.Copysign(1, float64(x.Value.Data[0]-y.Value.Data[0])) / float64(len(w.Data))},
		{"l2", func(tp *grad.Tape) *grad.Var { return l2(tp, x, y, w) },
			func() float64 {
				s := 0.0
				for i, v := range x.Value.Data {
					d := float64(v - y.Value.Data[i])
					s += float64(w.Data[i]) * d * d
				}
				return s / float64(len(w.Data))
			},
			2 * float64(w.Data[0]) * float64(x.Value.Data[0]-y.Value.Data[0]) / float64(len(w.Data))},
		{"selectChannels", func(tp *grad.Tape) *grad.Var { return tp.Mean(selectChannels(tp, x, 2, 2)) },
			func() float64 {
				s := 0.0
				for b := range 2 {
					for _, v := range x.Value.Data[b*45+18 : b*45+36] {
						s += float64(v)
					}
				}
				return s / 36
			}, 0},
	} {
		tp := grad.NewTape()
		x.ZeroGrad()
		loss := tc.f(tp)
		tp.Backward(loss)
		if got, want := float64(loss.Value.Data[0]), tc.value(); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: %g, want %g", tc.name, got, want)
		}
		if got := float64(x.Grad.Data[0]); math.Abs(got-tc.gradAt0) > 1e-6 {
			t.Errorf("%s: gradient at x[0] %g, want %g", tc.name, got, tc.gradAt0)
		}
	}
}

func TestForegroundWeights(t *testing.T) {
	s := shapes.Scene{Shapes: []shapes.Shape{{Kind: shapes.Square, Colour: shapes.Red, Size: shapes.Large, Pos: shapes.Center, X: 0.5, Y: 0.5, R: 0.2}}, Background: shapes.Blue}
	img := nn.From(shapes.ToTensor(nil, s.Render(ImageSize)), 1, 3, ImageSize, ImageSize)
	w := foregroundWeights(img, []shapes.Scene{s}, 0)
	plane := ImageSize * ImageSize
	corner, centre := 0, (ImageSize/2)*ImageSize+ImageSize/2
	for c := range 3 {
		if got := w.Data[c*plane+corner]; got != 1 {
			t.Errorf("background weight %g, want 1", got)
		}
		if got := w.Data[c*plane+centre]; got != foregroundWeight {
			t.Errorf("shape weight %g, want %d", got, foregroundWeight)
		}
	}
}

func TestMinSNRWeights(t *testing.T) {
	sched, err := SchedulerConfig().Schedule()
	if err != nil {
		t.Fatal(err)
	}
	w := minSNRWeights(sched.AlphasCumprod, []float32{0, 999}, 2)
	// At t = 0 SNR is about 1176: weight γ/SNR. At t = 999 SNR < γ: weight 1.
	a := float64(sched.AlphasCumprod[0])
	if want := minSNRGamma / (a / (1 - a)); math.Abs(float64(w.Data[0])-want) > 1e-6 || w.Data[1] != w.Data[0] {
		t.Errorf("t=0: weights %v, want %g", w.Data[:2], want)
	}
	if w.Data[2] != 1 || w.Data[3] != 1 {
		t.Errorf("t=999: weights %v, want 1", w.Data[2:])
	}
}

// foregroundWeights' margin is a square neighbourhood: a pixel is weighed as
// a shape's when any pixel within margin of it (in both axes) is a shape's,
// as the brute-force window says, on scenes of one and two shapes.
func TestForegroundMargin(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	imgs, scenes := trainingImages(r, 6, shapes.Recipe{PairShare: 0.5})
	base := foregroundWeights(imgs, scenes, 0)
	for _, margin := range []int{1, 2, 3} {
		got := foregroundWeights(imgs, scenes, margin)
		for p := range imgs.Shape[0] * 3 { // each (image, channel) plane
			src := base.Data[p*ImageSize*ImageSize:]
			for y := range ImageSize {
				for x := range ImageSize {
					want := float32(1)
					for yy := max(0, y-margin); yy <= min(ImageSize-1, y+margin); yy++ {
						for xx := max(0, x-margin); xx <= min(ImageSize-1, x+margin); xx++ {
							want = max(want, src[yy*ImageSize+xx])
						}
					}
					if g := got.Data[p*ImageSize*ImageSize+y*ImageSize+x]; g != want {
						t.Fatalf("margin %d, plane %d, pixel (%d, %d): weight %g, want %g", margin, p, x, y, g, want)
					}
				}
			}
		}
	}
}
