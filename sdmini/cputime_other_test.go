//go:build !unix

package sdmini

// cpuSeconds is not measured off Unix.
func cpuSeconds() float64 { return 0 }
