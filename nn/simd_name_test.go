package nn

import "testing"

// SIMD names the kernels the elementwise loops take.
func TestSIMDName(t *testing.T) {
	defer func(u bool) { useAVX512 = u }(useAVX512)
	for _, tc := range []struct {
		avx512 bool
		want   string
	}{
		{true, "avx512"},
		{false, map[bool]string{true: "avx2", false: "go"}[hasAVX2]},
	} {
		useAVX512 = tc.avx512
		if got := SIMD(); got != tc.want {
			t.Errorf("useAVX512 %v: SIMD() = %q, want %q", tc.avx512, got, tc.want)
		}
	}
}
