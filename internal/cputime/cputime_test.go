package cputime

import (
	"runtime"
	"testing"
)

// TestProcessGrows checks that the CPU time moves forward with work where
// the system reports it, and never backward.
func TestProcessGrows(t *testing.T) {
	before := Process()
	x := 1.0
	for i := range 20_000_000 {
		x += float64(i&7) * 1e-9
	}
	after := Process()
	if after < before {
		t.Fatalf("CPU time went backward: %v then %v", before, after)
	}
	if before != 0 && after == before && runtime.GOOS == "linux" {
		t.Errorf("CPU time did not move over a busy loop (x=%g)", x)
	}
}
