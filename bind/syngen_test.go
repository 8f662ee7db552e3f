package bind

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The hand-worked gradient of the loss matches central differences.
func TestSynGenGradient(t *testing.T) {
	const n, m = 9, 6
	r := rand.New(rand.NewPCG(1, 1))
	a := make([]float32, n*m)
	for i := range a {
		a[i] = 0.05 + r.Float32()
	}
	groups := []tokenGroup{{1, 2}, {3, 4}, {5}}
	words := []int{1, 2, 3, 4, 5}
	_, g := synGenLoss(a, n, m, groups, words)
	const eps = 1e-3
	worst := 0.0
	for i := range a {
		v := a[i]
		a[i] = v + eps
		lp, _ := synGenLoss(a, n, m, groups, words)
		a[i] = v - eps
		lm, _ := synGenLoss(a, n, m, groups, words)
		a[i] = v
		num := (lp - lm) / (2 * eps)
		worst = max(worst, math.Abs(num-float64(g[i])))
	}
	if worst > 1e-3 {
		t.Errorf("gradient off by %.2e from central differences", worst)
	}
}

// The loss is lowest when each modifier's map is its noun's and apart from
// the other group's: bound maps score lower than swapped ones.
func TestSynGenLossPrefersBinding(t *testing.T) {
	const n, m = 4, 5 // pixels 0-1 left, 2-3 right; tokens: 1 red, 2 circle, 3 blue, 4 square
	left, right := []float32{1, 1, 0, 0}, []float32{0, 0, 1, 1}
	maps := func(red, circle, blue, square []float32) []float32 {
		a := make([]float32, n*m)
		for i := range n {
			a[i*m+1], a[i*m+2], a[i*m+3], a[i*m+4] = red[i], circle[i], blue[i], square[i]
		}
		return a
	}
	groups := []tokenGroup{{1, 2}, {3, 4}}
	words := []int{1, 2, 3, 4}
	bound, _ := synGenLoss(maps(left, left, right, right), n, m, groups, words)
	leaked, _ := synGenLoss(maps(right, left, left, right), n, m, groups, words)
	if !(bound < leaked) {
		t.Errorf("bound maps lose %g, leaked ones %g: want bound lower", bound, leaked)
	}
}

func TestParseGroups(t *testing.T) {
	for _, tt := range []struct {
		prompt string
		want   [][]string // modifiers..., noun
	}{
		{"a red circle above a blue square", [][]string{{"red", "circle"}, {"blue", "square"}}},
		{"a small red circle on the left and a large blue square on the right on a green background",
			[][]string{{"small", "red", "circle"}, {"large", "blue", "square"}, {"green", "background"}}},
		{"a blue square to the right of a yellow triangle", [][]string{{"blue", "square"}, {"yellow", "triangle"}}},
		{"a (red:1.2) car, a purple bench", [][]string{{"red", "car"}, {"purple", "bench"}}},
		{"a cat", [][]string{{"cat"}}},
		{"", nil},
	} {
		var got [][]string
		for _, g := range ParseGroups(tt.prompt) {
			got = append(got, append(append([]string(nil), g.Modifiers...), g.Noun))
			if len(g.Starts) != len(g.Modifiers)+1 {
				t.Errorf("%q: group %v has %d offsets", tt.prompt, g, len(g.Starts))
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseGroups(%q) = %v, want %v", tt.prompt, got, tt.want)
		}
	}
}
