package grad

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// trainSteps runs n AdamW steps of the toy MLP task.
func trainSteps(t *testing.T, m *mlp, ps *Params, opt *AdamW, r *rand.Rand, n int) {
	t.Helper()
	tp := NewTape()
	for range n {
		x, y := toyBatch(r, 16)
		tp.Reset()
		loss := tp.MSE(m.forward(tp, Const(x)), Const(y))
		ps.ZeroGrad()
		tp.Backward(loss)
		opt.Step()
	}
}

// TestCheckpointResume checks that training resumed from a checkpoint lands
// on exactly the parameters of uninterrupted training.
func TestCheckpointResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")

	psA := NewParams()
	a := newMLP(psA, rand.New(rand.NewPCG(1, 1)), 3, 8, 1)
	optA := NewAdamW(psA, 1e-2)
	src := rand.NewPCG(2, 2)
	data := rand.New(src)
	trainSteps(t, a, psA, optA, data, 5)
	if err := psA.Save(path, optA, nil); err != nil {
		t.Fatal(err)
	}
	snap := *src // the data stream as it stands at the checkpoint
	resume := rand.New(&snap)
	trainSteps(t, a, psA, optA, data, 5)

	psB := NewParams()
	b := newMLP(psB, rand.New(rand.NewPCG(9, 9)), 3, 8, 1) // a different start, overwritten by Load
	optB := NewAdamW(psB, 1e-2)
	if err := psB.Load(path, optB, nil); err != nil {
		t.Fatal(err)
	}
	if optB.Steps != 5 {
		t.Errorf("loaded Steps = %d, want 5", optB.Steps)
	}
	trainSteps(t, b, psB, optB, resume, 5)

	for _, name := range psA.Names() {
		va, vb := psA.Get(name).Value.Data, psB.Get(name).Value.Data
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("%s[%d]: resumed %g, uninterrupted %g", name, i, vb[i], va[i])
			}
		}
	}
}

// TestExport writes F32 and F16 inference files and reads them back through
// package weights, as sdgo's inference loaders do.
func TestExport(t *testing.T) {
	ps := NewParams()
	newMLP(ps, rand.New(rand.NewPCG(1, 1)), 3, 8, 2)
	dir := t.TempDir()
	for _, c := range []struct {
		dt  weights.DType
		tol float64 // relative to the largest |value|
	}{{weights.F32, 0}, {weights.F16, 1.0 / 1024}} {
		path := filepath.Join(dir, string(c.dt)+".safetensors")
		if err := ps.Export(path, c.dt, false); err != nil {
			t.Fatal(err)
		}
		if err := ps.Export(path, c.dt, false); err == nil {
			t.Errorf("%s: second Export without overwrite succeeded", c.dt)
		}
		f, err := weights.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Names()) != len(ps.Names()) {
			t.Errorf("%s: %d tensors, want %d", c.dt, len(f.Names()), len(ps.Names()))
		}
		for _, name := range ps.Names() {
			want := ps.Get(name).Value
			got, err := f.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if !nn.SameShape(got.Shape, want.Shape) {
				t.Fatalf("%s: %s shape %v, want %v", c.dt, name, got.Shape, want.Shape)
			}
			var maxErr, maxAbs float64
			for i, v := range want.Data {
				maxErr = max(maxErr, float64(abs32(got.Data[i]-v)))
				maxAbs = max(maxAbs, float64(abs32(v)))
			}
			if maxErr > c.tol*maxAbs {
				t.Errorf("%s: %s max abs error %.2e (max |value| %.2e)", c.dt, name, maxErr, maxAbs)
			}
		}
		f.Close()
	}
	if err := ps.Export(filepath.Join(dir, "x"), weights.BF16, true); err == nil {
		t.Errorf("Export BF16 succeeded, want an error")
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	small := NewParams()
	small.Add("a", nn.New(2, 3))
	onlyParams := filepath.Join(dir, "params.safetensors")
	if err := small.Save(onlyParams, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		build func() *Params
		opt   bool
		want  string
	}{
		{"missing", func() *Params { p := NewParams(); p.Add("a", nn.New(2, 3)); p.Add("b", nn.New(1)); return p }, false, "b: missing"},
		{"misshaped", func() *Params { p := NewParams(); p.Add("a", nn.New(3, 2)); return p }, false, "a: shape [2 3], want [3 2]"},
		{"no optimizer state", func() *Params { p := NewParams(); p.Add("a", nn.New(2, 3)); return p }, true, "no optimizer state"},
	} {
		ps := c.build()
		var opt *AdamW
		if c.opt {
			opt = NewAdamW(ps, 1e-3)
		}
		err := ps.Load(onlyParams, opt, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if err := small.Save(filepath.Join(dir, "x"), NewAdamW(NewParams(), 1e-3), nil); err == nil {
		t.Errorf("saving with another parameter set's optimizer succeeded")
	}
	if err := small.Load(filepath.Join(dir, "absent.safetensors"), nil, nil); err == nil {
		t.Errorf("loading an absent file succeeded")
	}
}
