// Package testdata finds the shared reference data that HF transformers and
// diffusers computed, so every stage can be checked number for number.
//
// The data lives beside the project root in ../shared/testdata (CI has it too),
// or wherever the SDGO_TESTDATA environment variable points. Where it is
// absent, tests skip with a message instead of failing, so `go test ./...`
// still passes on a fresh clone.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Env is the environment variable that overrides the reference data's location.
const Env = "SDGO_TESTDATA"

// Root returns the reference data's directory and whether it exists.
func Root() (string, bool) {
	if d := os.Getenv(Env); d != "" {
		return d, isDir(d)
	}
	// This file is <root>/internal/testdata/testdata.go; the data is <root>/../shared/testdata.
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata")
	return filepath.Clean(d), isDir(d)
}

// Dir returns the path of the reference folder sub (for example "unet" or
// "clip/sd1"), and skips the test with a clear message when it is absent.
func Dir(tb testing.TB, sub string) string {
	tb.Helper()
	root, ok := Root()
	if !ok {
		tb.Skipf("reference data not found (set %s or place it at ../shared/testdata): skipping", Env)
	}
	d := filepath.Join(root, sub)
	if !isDir(d) {
		tb.Skipf("reference data folder %s not found: skipping", d)
	}
	return d
}

// Path returns the path of a file inside the reference data, skipping the
// test with a clear message when it is absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root, ok := Root()
	if !ok {
		tb.Skipf("reference data not found (set %s or place it at ../shared/testdata): skipping", Env)
	}
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("reference file %s not found: skipping", p)
	}
	return p
}

func isDir(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}
