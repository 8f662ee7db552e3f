package weights

import (
	"math"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// The same tiny text encoder in fp32, fp16 and bf16 loads to the same values
// within each dtype's rounding.
func TestDTypesAgree(t *testing.T) {
	dir := testdata.Dir(t, "clip/sd1")
	open := func(name string) *File {
		f, err := Open(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	f32, f16, bf16 := open("model.safetensors"), open("model.fp16.safetensors"), open("model.bf16.safetensors")
	for _, tc := range []struct {
		f   *File
		rel float64 // half an ulp of the format, relative
	}{{f16, 1.0 / 2048}, {bf16, 1.0 / 256}} {
		for _, name := range f32.Names() {
			want, err := f32.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.f.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want.Data {
				g := got.Data[i]
				// fp16 has subnormals below 2^-14; allow their absolute spacing.
				tol := tc.rel*math.Abs(float64(w)) + 3e-8
				if d := math.Abs(float64(g - w)); d > tol {
					t.Fatalf("%s: %s[%d] = %g, fp32 %g (|Δ| %g > %g)", tc.f.Path(), name, i, g, w, d, tol)
				}
			}
		}
	}
}
