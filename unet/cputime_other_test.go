//go:build !unix

package unet

// cpuSeconds is not measured off Unix.
func cpuSeconds() float64 { return 0 }
