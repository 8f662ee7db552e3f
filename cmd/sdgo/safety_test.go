package main

import (
	"strings"
	"testing"
)

// Every float flag rejects NaN, ±Inf and values out of its range with one
// line naming the flag (issue 16: --cfg-scale NaN and 1e39 wrote a PNG).
func TestFloatFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cfg-scale", "NaN"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "nan"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "1e39"}, "--cfg-scale must be in [0, 100], got 1e+39: guidance beyond 100"},
		{[]string{"--cfg-scale", "+Inf"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "-Inf"}, "--cfg-scale must be a finite number"},
		{[]string{"--cfg-scale", "-1"}, "--cfg-scale must be in [0, 100]"},
		{[]string{"--strength", "NaN"}, "--strength must be in (0, 1]"},
		{[]string{"--strength", "Inf"}, "--strength must be in (0, 1]"},
		{[]string{"-p", "a (cat:1000) and a dog"}, `-p/--prompt: the weight of "cat" must be in [-10, 10], got 1000`},
		{[]string{"-p", "x", "-n", "(blurry:99999)"}, `-n/--negative-prompt: the weight of "blurry"`},
	} {
		args := append([]string{"-m", dir}, tc.args...)
		if !contains(args, "-p") {
			args = append(args, "-p", "x")
		}
		code, _, stderr := sdgo(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
