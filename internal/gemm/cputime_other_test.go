//go:build !unix

package gemm

import "time"

// cpuTime is unknown here; benchmarks then report no CPU-time figure.
func cpuTime() time.Duration { return 0 }
