// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU-seconds beside wall time: on a shared machine the wall
// clock says how busy the others were, the CPU time what the work cost.
package cputime
