package gemm

import (
	"fmt"
	"os"
	"strings"
)

// KernelEnv names the environment variable that chooses Sgemm's path
// instead of the CPU's best: "avx512", "avx2", "gonum" or "go". It lets an
// AVX-512 machine run and measure the AVX2 code (an AVX2 kernel on a Zen 4
// is not a Zen 3: the caches and clocks are the Zen 4's). A name this CPU or
// build cannot run leaves the best path in place; KernelEnvErr says why.
const KernelEnv = "SDGO_GEMM_KERNEL"

// envErr is the error of KernelEnv's value, if any.
var envErr error

func init() {
	if v := os.Getenv(KernelEnv); v != "" {
		if err := SetKernel(v); err != nil {
			envErr = fmt.Errorf("%s: %w", KernelEnv, err)
		}
	}
}

// KernelEnvErr reports why the value of KernelEnv was not applied, or nil.
func KernelEnvErr() error { return envErr }

// Kernels lists the paths this build runs on this CPU, slowest first.
func Kernels() []string {
	var names []string
	for _, p := range paths() {
		names = append(names, p.String())
	}
	return names
}

// SetKernel makes Sgemm run the named path ("avx512", "avx2", "gonum" or
// "go"; "" or "auto" for the CPU's best). It is for benchmarks and
// comparisons, set before any product runs: it is not safe to call while
// products run on other goroutines.
func SetKernel(name string) error {
	if name == "" || name == "auto" {
		active = bestPath()
		return nil
	}
	for _, p := range paths() {
		if p.String() == name {
			active = p
			return nil
		}
	}
	return fmt.Errorf("gemm kernel %q: this CPU and build run %s", name, strings.Join(Kernels(), ", "))
}
