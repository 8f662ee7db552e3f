package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// roundHalf rounds t's values to half precision, keeping float32 storage:
// the float32 twin of a half-precision weight.
func roundHalf(t *Tensor) *Tensor {
	for i, v := range t.Data {
		t.Data[i] = float16.Fromfloat32(v).Float32()
	}
	return t
}

// TestHalfWeights checks that Linear and Conv2d give the same numbers with a
// half-precision weight as with its float32 twin.
func TestHalfWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: [%d] = %g with a half weight, %g with float32", what, i, got[i], want[i])
			}
		}
	}
	for _, tc := range []struct{ rows, in, out int }{{1, 1, 1}, {5, 17, 9}, {77, 64, 40}} {
		x, w, b := randTensor(r, tc.rows, tc.in), roundHalf(randTensor(r, tc.out, tc.in)), randTensor(r, tc.out)
		want := Linear(x, w, b).Data
		same("linear", Linear(x, w.Clone().ToHalf(), b).Data, want)
	}
	for _, tc := range []struct{ c, h, o, k, stride, pad int }{
		{3, 9, 5, 3, 1, 1},  // shifted
		{3, 9, 40, 3, 1, 1}, // shifted, many channels
		{3, 5, 40, 3, 1, 1}, // im2col, one product for the batch
		{4, 8, 6, 3, 2, 1},  // strided
		{8, 5, 7, 1, 1, 0},  // 1×1
		{8, 3, 40, 1, 1, 0}, // 1×1, one product for the batch
	} {
		x, w, b := randTensor(r, 2, tc.c, tc.h, tc.h), roundHalf(randTensor(r, tc.o, tc.c, tc.k, tc.k)), randTensor(r, tc.o)
		want := Conv2d(x, w, b, tc.stride, tc.pad).Data
		same("conv", Conv2d(x, w.Clone().ToHalf(), b, tc.stride, tc.pad).Data, want)
		// Several bands of output rows.
		defer func(c, s int) { colBudget, shiftBudget = c, s }(colBudget, shiftBudget)
		colBudget, shiftBudget = 100, 100
		same("conv bands", Conv2d(x, w.Clone().ToHalf(), b, tc.stride, tc.pad).Data, want)
		colBudget, shiftBudget = 4<<20, 256<<10
	}

	// The tensor methods see through the representation.
	w := roundHalf(randTensor(r, 3, 37))
	h := w.Clone().ToHalf()
	if h.Data != nil || h.Len() != 111 || h.Reshape(37, 3).Half == nil {
		t.Fatalf("half tensor: Data %v, Len %d", h.Data != nil, h.Len())
	}
	same("Floats", h.Floats(), w.Data)
	buf := make([]float32, 200)
	same("FloatsInto half", h.FloatsInto(buf), w.Data)
	same("FloatsInto float", w.FloatsInto(buf), w.Data)
	if h.String() != w.String() {
		t.Errorf("String: %s, want %s", h, w)
	}
}
