package gemm

import (
	"testing"
	"time"
)

func TestPeak(t *testing.T) {
	for _, p := range paths() {
		t.Run(p.String(), func(t *testing.T) {
			use(t, p)
			g := Peak(1, 20*time.Millisecond)
			if !(g > 0.1) || g > 1e5 {
				t.Errorf("Peak on %s = %g GFLOP/s", p, g)
			}
			c := PeakCore(20 * time.Millisecond)
			if !(c > 0.1) || c > 1e5 {
				t.Errorf("PeakCore on %s = %g GFLOP/s", p, c)
			}
			t.Logf("%s: %.1f GFLOP/s on one thread, %.1f per CPU-second", p, g, c)
		})
	}
}

func TestSetKernel(t *testing.T) {
	old := active
	t.Cleanup(func() { active = old })
	for _, name := range Kernels() {
		if err := SetKernel(name); err != nil || Kernel() != name {
			t.Errorf("SetKernel(%q): %v, Kernel() = %q", name, err, Kernel())
		}
	}
	if err := SetKernel("sse9"); err == nil {
		t.Error("SetKernel(sse9): no error")
	}
	if err := SetKernel("auto"); err != nil || active != bestPath() {
		t.Errorf("SetKernel(auto): %v, %v", err, active)
	}
}

// BenchmarkPeak reports the FMA peak of one thread per path.
func BenchmarkPeak(b *testing.B) {
	for _, p := range paths() {
		b.Run(p.String(), func(b *testing.B) {
			use(b, p)
			var g float64
			for range b.N {
				g = Peak(1, 50*time.Millisecond)
			}
			b.ReportMetric(g, "GFLOP/s")
		})
	}
}
