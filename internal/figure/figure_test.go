package figure

import (
	"testing"

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
