package weights

import (
	"fmt"
	"sort"
	"strings"
)

// CheckError lists, by name, how a source differs from the tensors a model
// expects. Each list is sorted.
type CheckError struct {
	Missing    []string // expected, absent from the source
	Unexpected []string // in the source, not expected
	Misshaped  []string // "name: shape [a b], want [c d]"
}

// Error lists up to 8 names of each kind and counts the rest.
func (e *CheckError) Error() string {
	var parts []string
	for _, k := range []struct {
		what  string
		names []string
	}{{"missing", e.Missing}, {"unexpected", e.Unexpected}, {"mis-shaped", e.Misshaped}} {
		if len(k.names) == 0 {
			continue
		}
		show, more := k.names, ""
		if len(show) > 8 {
			show, more = show[:8], fmt.Sprintf(" (and %d more)", len(k.names)-8)
		}
		parts = append(parts, fmt.Sprintf("%d %s: %s%s", len(k.names), k.what, strings.Join(show, ", "), more))
	}
	return "weights: " + strings.Join(parts, "; ")
}

// Check compares the tensors of src with want (name → shape) and returns a
// *CheckError naming every missing, unexpected and mis-shaped tensor, or nil
// when they agree exactly. A nil shape in want accepts any shape.
func Check(src Source, want map[string][]int) error {
	e := &CheckError{}
	for name, shape := range want {
		in, ok := src.Info(name)
		switch {
		case !ok:
			e.Missing = append(e.Missing, name)
		case shape != nil && !sameShape(in.Shape, shape):
			e.Misshaped = append(e.Misshaped, fmt.Sprintf("%s: shape %v, want %v", name, in.Shape, shape))
		}
	}
	for _, name := range src.Names() {
		if _, ok := want[name]; !ok {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Misshaped) == 0 {
		return nil
	}
	sort.Strings(e.Missing)
	sort.Strings(e.Unexpected)
	sort.Strings(e.Misshaped)
	return e
}

// Shapes lists the name → shape of every tensor of src: what [Check]
// compares against, taken from a reference checkpoint.
func Shapes(src Source) map[string][]int {
	out := map[string][]int{}
	for _, n := range src.Names() {
		if in, ok := src.Info(n); ok {
			out[n] = in.Shape
		}
	}
	return out
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
