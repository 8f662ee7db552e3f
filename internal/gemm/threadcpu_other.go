//go:build !linux

package gemm

import "time"

// threadCPU is not available here: PeakCore falls back to the clock.
func threadCPU() (time.Duration, bool) { return 0, false }
