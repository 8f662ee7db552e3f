//go:build race

package gemm

// raceEnabled reports a build with the race detector, in which sync.Pool
// drops some of what it is given.
const raceEnabled = true
