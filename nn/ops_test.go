package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		rows, in, out int
		bias          bool
	}{{1, 1, 1, true}, {3, 7, 5, false}, {77, 31, 13, true}, {2, 257, 3, true}, {13, 1, 17, false}} {
		x, w := randTensor(r, tc.rows, tc.in), randTensor(r, tc.out, tc.in)
		var b *Tensor
		if tc.bias {
			b = randTensor(r, tc.out)
		}
		want := make([]float64, tc.rows*tc.out)
		for i := 0; i < tc.rows; i++ {
			for o := 0; o < tc.out; o++ {
				s := 0.0
				if b != nil {
					s = float64(b.Data[o])
				}
				for k := 0; k < tc.in; k++ {
					s += float64(x.Data[i*tc.in+k]) * float64(w.Data[o*tc.in+k])
				}
				want[i*tc.out+o] = s
			}
		}
		checkClose(t, "linear", Linear(x, w, b).Data, want, 1e-5)
	}
}

func TestGroupNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ n, c, h, w, groups int }{
		{1, 1, 1, 1, 1}, {2, 6, 3, 5, 3}, {1, 32, 7, 7, 32}, {3, 64, 4, 1, 32}, {1, 9, 11, 13, 1},
	} {
		x := randTensor(r, tc.n, tc.c, tc.h, tc.w)
		for i := range x.Data {
			x.Data[i] = x.Data[i]*3 + 2 // a non-zero mean
		}
		w, b := randTensor(r, tc.c), randTensor(r, tc.c)
		spatial, cpg := tc.h*tc.w, tc.c/tc.groups
		want := make([]float64, len(x.Data))
		for n := 0; n < tc.n; n++ {
			for g := 0; g < tc.groups; g++ {
				seg := x.Data[(n*tc.c+g*cpg)*spatial : (n*tc.c+(g+1)*cpg)*spatial]
				var m, v float64
				for _, s := range seg {
					m += float64(s)
				}
				m /= float64(len(seg))
				for _, s := range seg {
					v += (float64(s) - m) * (float64(s) - m)
				}
				v /= float64(len(seg))
				for i, s := range seg {
					ch := g*cpg + i/spatial
					want[(n*tc.c+g*cpg)*spatial+i] = (float64(s)-m)/math.Sqrt(v+1e-5)*float64(w.Data[ch]) + float64(b.Data[ch])
				}
			}
		}
		checkClose(t, "groupnorm", GroupNorm(x, tc.groups, w, b, 1e-5).Data, want, 1e-5)
		for i, v := range want {
			want[i] = v / (1 + math.Exp(-v))
		}
		checkClose(t, "groupnorm+silu", GroupNormSiLU(x, tc.groups, w, b, 1e-5).Data, want, 1e-5)
		if y := GroupNormSiLUInPlace(x, tc.groups, w, b, 1e-5); &y.Data[0] != &x.Data[0] {
			t.Errorf("GroupNormSiLUInPlace returned a new tensor")
		}
		checkClose(t, "groupnorm+silu in place", x.Data, want, 1e-5)
	}
}

func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, shape := range [][]int{{1, 1}, {3, 7}, {2, 77, 33}, {1, 5, 1}} {
		x := randTensor(r, shape...)
		d := shape[len(shape)-1]
		w, b := randTensor(r, d), randTensor(r, d)
		want := make([]float64, len(x.Data))
		// LayerNorm computes x·s − m·s (s = 1/σ) in float32, so its error
		// scales with those products, not with the result: with one value
		// per row they cancel exactly, to 0, only where x·s and m·s are
		// rounded alike (not under FMA contraction, as on arm64).
		prod, ref := 1.0, 1.0
		for row := 0; row < len(x.Data)/d; row++ {
			seg := x.Data[row*d : (row+1)*d]
			var m, v float64
			for _, s := range seg {
				m += float64(s)
			}
			m /= float64(d)
			for _, s := range seg {
				v += (float64(s) - m) * (float64(s) - m)
			}
			v /= float64(d)
			for i, s := range seg {
				inv := 1 / math.Sqrt(v+1e-5)
				want[row*d+i] = (float64(s)-m)*inv*float64(w.Data[i]) + float64(b.Data[i])
				prod = max(prod, math.Abs(float64(s)*inv*float64(w.Data[i])))
				ref = max(ref, math.Abs(want[row*d+i]))
			}
		}
		checkClose(t, "layernorm", LayerNorm(x, w, b, 1e-5).Data, want, 1e-5*prod/ref)
	}
}

func TestActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for _, tc := range []struct {
		name string
		op   func(*Tensor) *Tensor
		ref  func(float64) float64
	}{
		{"silu", SiLU, func(x float64) float64 { return x * sigmoid(x) }},
		{"gelu", GELU, func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }},
		{"gelu_tanh", GELUTanh, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
		{"quick_gelu", QuickGELU, func(x float64) float64 { return x * sigmoid(1.702*x) }},
	} {
		for _, n := range []int{1, 7, 40001} {
			x := randTensor(r, n)
			Scale(x, 4)
			want := make([]float64, n)
			for i, v := range x.Data {
				want[i] = tc.ref(float64(v))
			}
			checkClose(t, tc.name, tc.op(x).Data, want, 1e-5)
		}
	}
}

func TestGEGLU(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := randTensor(r, 2, 5, 14)
	want := make([]float64, 2*5*7)
	for row := 0; row < 10; row++ {
		for i := 0; i < 7; i++ {
			v, g := float64(x.Data[row*14+i]), float64(x.Data[row*14+7+i])
			want[row*7+i] = v * 0.5 * g * (1 + math.Erf(g/math.Sqrt2))
		}
	}
	y := GEGLU(x)
	if !SameShape(y.Shape, []int{2, 5, 7}) {
		t.Fatalf("shape %v", y.Shape)
	}
	checkClose(t, "geglu", y.Data, want, 1e-5)
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, shape := range [][]int{{1, 1}, {3, 7}, {2, 5, 77}} {
		x := randTensor(r, shape...)
		Scale(x, 10)
		d := shape[len(shape)-1]
		want := make([]float64, len(x.Data))
		for row := 0; row < len(x.Data)/d; row++ {
			z := 0.0
			for i := 0; i < d; i++ {
				z += math.Exp(float64(x.Data[row*d+i]))
			}
			for i := 0; i < d; i++ {
				want[row*d+i] = math.Exp(float64(x.Data[row*d+i])) / z
			}
		}
		checkClose(t, "softmax", Softmax(x).Data, want, 1e-5)
	}
}

func TestUpsampleConcat(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	x := randTensor(r, 2, 3, 5, 7)
	y := UpsampleNearest2x(x)
	want := make([]float64, len(y.Data))
	for i := range want {
		w := i % 14
		h := (i / 14) % 10
		nc := i / 140
		want[i] = float64(x.Data[(nc*5+h/2)*7+w/2])
	}
	checkClose(t, "upsample", y.Data, want, 0)

	a, b := randTensor(r, 2, 3, 2, 2), randTensor(r, 2, 1, 2, 2)
	c := Concat(a, b)
	if !SameShape(c.Shape, []int{2, 4, 2, 2}) {
		t.Fatalf("concat shape %v", c.Shape)
	}
	for n := 0; n < 2; n++ {
		for ch := 0; ch < 4; ch++ {
			for i := 0; i < 4; i++ {
				var w float32
				if ch < 3 {
					w = a.Data[(n*3+ch)*4+i]
				} else {
					w = b.Data[n*4+i]
				}
				if got := c.Data[(n*4+ch)*4+i]; got != w {
					t.Fatalf("concat[%d,%d,%d] = %g, want %g", n, ch, i, got, w)
				}
			}
		}
	}
}

func TestTimestepEmbedding(t *testing.T) {
	ts := []float32{0, 1, 500.5, 981}
	for _, tc := range []struct {
		dim   int
		flip  bool
		shift float64
	}{{32, true, 0}, {320, true, 0}, {8, false, 1}} {
		y := TimestepEmbedding(ts, tc.dim, tc.flip, tc.shift, 10000)
		half := tc.dim / 2
		want := make([]float64, len(ts)*tc.dim)
		for b, tv := range ts {
			for i := 0; i < half; i++ {
				arg := float64(tv) * math.Exp(-math.Log(10000)*float64(i)/(float64(half)-tc.shift))
				s, c := math.Sin(arg), math.Cos(arg)
				if tc.flip {
					s, c = c, s
				}
				want[b*tc.dim+i], want[b*tc.dim+half+i] = s, c
			}
		}
		// float32 arguments near 1000 carry ~3e-5 absolute rounding, as in torch.
		checkClose(t, "timestep", y.Data, want, 1e-4)
	}
}
