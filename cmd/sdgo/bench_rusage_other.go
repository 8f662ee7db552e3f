//go:build !unix

package main

import "math"

// preciseCPU is unknown here.
func preciseCPU() float64 { return math.NaN() }
