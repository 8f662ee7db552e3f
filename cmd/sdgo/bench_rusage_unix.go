//go:build unix

package main

import (
	"math"
	"syscall"
	"time"
)

// preciseCPU is the process's user+system CPU time in seconds, to the
// microsecond (getrusage), or NaN.
func preciseCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
