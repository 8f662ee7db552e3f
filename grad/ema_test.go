package grad

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// TestEMA follows the averages of a small model's training against a
// float64 reference of the update rule, and checks that averages saved with
// a checkpoint and loaded again continue as if never interrupted.
func TestEMA(t *testing.T) {
	ps := NewParams()
	m := newMLP(ps, rand.New(rand.NewPCG(1, 1)), 3, 8, 1)
	opt := NewAdamW(ps, 1e-2)
	ema := NewEMA(ps, 0.95)
	ref := map[string][]float64{}
	for _, name := range ps.Names() {
		for _, v := range ps.Get(name).Value.Data {
			ref[name] = append(ref[name], float64(v))
		}
	}
	src := rand.NewPCG(2, 2)
	data := rand.New(src)
	for n := range 40 {
		trainSteps(t, m, ps, opt, data, 1)
		ema.Update()
		d := math.Min(0.95, float64(1+n)/float64(10+n))
		for _, name := range ps.Names() {
			for i, v := range ps.Get(name).Value.Data {
				ref[name][i] = d*ref[name][i] + (1-d)*float64(v)
			}
		}
	}
	if ema.Updates != 40 {
		t.Errorf("Updates = %d, want 40", ema.Updates)
	}
	for _, name := range ps.Names() {
		for i, got := range ema.Averages().Get(name).Value.Data {
			if want := ref[name][i]; math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("%s[%d]: average %g, want %g", name, i, got, want)
			}
		}
	}

	// Saved and loaded into a fresh model, the averages continue the same.
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := ps.Save(path, opt, ema); err != nil {
		t.Fatal(err)
	}
	snap := *src // the data stream as it stands at the checkpoint
	psB := NewParams()
	b := newMLP(psB, rand.New(rand.NewPCG(9, 9)), 3, 8, 1)
	optB, emaB := NewAdamW(psB, 1e-2), NewEMA(psB, 0.95)
	if err := psB.Load(path, optB, emaB); err != nil {
		t.Fatal(err)
	}
	if emaB.Updates != 40 {
		t.Errorf("loaded Updates = %d, want 40", emaB.Updates)
	}
	resume := rand.New(&snap)
	for range 5 {
		trainSteps(t, m, ps, opt, data, 1)
		ema.Update()
		trainSteps(t, b, psB, optB, resume, 1)
		emaB.Update()
	}
	for _, name := range ps.Names() {
		a, c := ema.Averages().Get(name).Value.Data, emaB.Averages().Get(name).Value.Data
		for i := range a {
			if a[i] != c[i] {
				t.Fatalf("%s[%d]: resumed average %g, uninterrupted %g", name, i, c[i], a[i])
			}
		}
	}

	// A checkpoint without averages is an error for a loader that wants them.
	if err := ps.Save(path, opt, nil); err != nil {
		t.Fatal(err)
	}
	if err := psB.Load(path, optB, emaB); err == nil {
		t.Error("loading averages from a checkpoint without them succeeded")
	}
}
