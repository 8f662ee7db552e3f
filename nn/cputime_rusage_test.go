//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package nn

import (
	"syscall"
	"time"
)

// cpuTime is the user+system CPU time of the process so far: on a machine
// shared with other jobs it varies less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
