//go:build !(amd64 || arm64) || noasm

package gemm

// bestPath is the pure-Go path where no assembly kernel exists.
func bestPath() path { return pathGo }

// kernelFor returns the micro-kernel of path p.
func kernelFor(p path) *kernel { return &goKernel }

// paths lists the paths this build can run, for tests.
func paths() []path { return []path{pathGo, pathGonum} }
