//go:build !noasm

package gemm

// bestPath is gonum until the assembly kernels land.
func bestPath() path { return pathGonum }

// kernelFor returns the micro-kernel of path p.
func kernelFor(p path) *kernel { return &goKernel }

// paths lists the paths this build can run on this CPU, for tests.
func paths() []path { return []path{pathGo, pathGonum} }
