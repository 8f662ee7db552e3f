package gemm

import "testing"

// FastOrder holds on the avx2 path only: the others' bits are pinned.
func TestFastOrder(t *testing.T) {
	defer func(p path) { active = p }(active)
	for _, p := range paths() {
		active = p
		if got, want := FastOrder(), p == pathAVX2; got != want {
			t.Errorf("%s: FastOrder() = %v, want %v", p, got, want)
		}
	}
}
