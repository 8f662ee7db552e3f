//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package nn

import "time"

// cpuTime is unknown here: the benchmarks' cpu metrics read 0.
func cpuTime() time.Duration { return 0 }
