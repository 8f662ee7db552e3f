package figure

import (
	"errors"
	"image/color"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
)

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   int
	}{{0, 1, 6}, {0, 19, 4}, {-1, 1, 5}, {0.5, 3.2, 6}} {
		got := ticks(c.lo, c.hi)
		if len(got) < 2 || len(got) > c.want+1 || got[0] < c.lo || got[len(got)-1] > c.hi+1e-9 {
			t.Errorf("ticks(%g, %g) = %v", c.lo, c.hi, got)
		}
	}
}

// The Explore page's figures have the sizes they promise and do not fail on
// odd input: a constant matrix, no curve, a step outside the run.
func TestExploreFigures(t *testing.T) {
	if b := Matrix(make([]float32, 77*32), 77, 32).Bounds(); b.Dx() != 32 || b.Dy() != 77 {
		t.Errorf("matrix %v", b)
	}
	if b := Curves("t", "i", 300, 150, nil).Bounds(); b.Dx() != 300 || b.Dy() != 150 {
		t.Errorf("curves %v", b)
	}
	Curves("t", "i", 300, 150, []string{"a", "b"}, []float32{1, 2, 3}, []float32{1, 1, 1})
	for _, cur := range []int{-1, 0, 3, 99} {
		img, err := StepOnSchedule(scheduler.SD15(), []float64{999, 666, 333, 0}, cur)
		if err != nil || img.Bounds().Dx() != 400 || img.Bounds().Dy() != 280 {
			t.Errorf("step %d: %v", cur, err)
		}
	}
}

// fakeDecoder "decodes" a (1, 4, h, w) latent into a (1, 3, 2h, 2w) image of
// its first channel, or fails.
type fakeDecoder struct{ err error }

func (d fakeDecoder) DecodeLatents(l *nn.Tensor) (*nn.Tensor, error) {
	if d.err != nil {
		return nil, d.err
	}
	h, w := l.Shape[2], l.Shape[3]
	x := nn.New(1, 3, 2*h, 2*w)
	for i := range x.Data {
		x.Data[i] = l.Data[0]
	}
	return x, nil
}

// Decoded shows what the decoder makes of a latent, at its size, and passes
// its error on.
func TestDecoded(t *testing.T) {
	l := nn.New(1, 4, 3, 5)
	l.Data[0] = 1 // white, in [-1, 1]
	img, err := Decoded(fakeDecoder{}, l)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 6 {
		t.Errorf("decoded %v, want 10×6", b)
	}
	if c := color.NRGBAModel.Convert(img.At(9, 5)).(color.NRGBA); c != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("pixel %v, want white", c)
	}
	want := errors.New("no decoder")
	if _, err := Decoded(fakeDecoder{want}, l); !errors.Is(err, want) {
		t.Errorf("error %v, want %v", err, want)
	}
}
