package rng

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// readF32 reads every F32 tensor of a safetensors file: an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets}}, then the raw data. (Package weights has the real reader;
// this keeps rng's tests free of it.)
func readF32(path string) (map[string][]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%s: too short", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%s: header length %d beyond file", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := b[8+n:]
	out := make(map[string][]float32)
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var info struct {
			Dtype       string
			DataOffsets [2]uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		lo, hi := info.DataOffsets[0], info.DataOffsets[1]
		if info.Dtype != "F32" || lo > hi || hi > uint64(len(data)) || (hi-lo)%4 != 0 {
			return nil, fmt.Errorf("%s: %s: want F32 data within the file, have %s [%d, %d)", path, name, info.Dtype, lo, hi)
		}
		t := make([]float32, (hi-lo)/4)
		for i := range t {
			t[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[lo+4*uint64(i):]))
		}
		out[name] = t
	}
	return out, nil
}

// refKey is one reference tensor's recipe, parsed from its name:
// "{dev}.s{seed}.{shape}.first|second", "{dev}.gen_s{seed}.{shape}" or
// "{dev}.rand_s{seed}.{shape}".
type refKey struct {
	dev     string // "cpu" or "cuda"
	seed    uint64
	calls   int  // which successive torch call the tensor is (1 or 2)
	uniform bool // torch.rand instead of torch.randn
}

func parseKey(name string) (refKey, error) {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return refKey{}, fmt.Errorf("key %q: want dev.seed.shape[.call]", name)
	}
	k := refKey{dev: parts[0], calls: 1}
	seed := parts[1]
	switch {
	case strings.HasPrefix(seed, "rand_s"):
		k.uniform, seed = true, strings.TrimPrefix(seed, "rand_s")
	case strings.HasPrefix(seed, "gen_s"):
		seed = strings.TrimPrefix(seed, "gen_s")
	case strings.HasPrefix(seed, "s"):
		seed = strings.TrimPrefix(seed, "s")
	default:
		return refKey{}, fmt.Errorf("key %q: unknown kind %q", name, seed)
	}
	var err error
	if k.seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		return refKey{}, fmt.Errorf("key %q: seed: %w", name, err)
	}
	if len(parts) == 4 {
		switch parts[3] {
		case "first":
		case "second":
			k.calls = 2
		default:
			return refKey{}, fmt.Errorf("key %q: unknown call %q", name, parts[3])
		}
	}
	return k, nil
}

// draw replays a reference's recipe: k.calls torch calls of n elements on a
// freshly seeded generator, returning the last.
func draw(k refKey, n int) ([]float32, error) {
	type gen interface {
		Source
		Uniform(dst []float32)
	}
	var g gen
	switch k.dev {
	case "cpu":
		g = NewTorchCPU(k.seed)
	case "cuda":
		g = NewPhilox(k.seed)
	default:
		return nil, fmt.Errorf("unknown device %q", k.dev)
	}
	out := make([]float32, n)
	for range k.calls {
		if k.uniform {
			g.Uniform(out)
		} else {
			g.Normal(out)
		}
	}
	return out, nil
}

// TestReference compares every element of every tensor in rng_ref.safetensors.
func TestReference(t *testing.T) {
	path := testdata.Path(t, "rng/rng_ref.safetensors")
	ref, err := readF32(path)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ref))
	for name := range ref {
		names = append(names, name)
	}
	sort.Strings(names)

	type stats struct {
		maxAbs, maxRel float64 // max abs error, and relative to the tensor's max |value|
		exact, total   int
	}
	all := map[string]*stats{} // per generator and distribution
	for _, name := range names {
		want := ref[name]
		t.Run(name, func(t *testing.T) {
			k, err := parseKey(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := draw(k, len(want))
			if err != nil {
				t.Fatal(err)
			}
			maxAbs, maxRef, at, exact := 0.0, 0.0, 0, 0
			for i := range want {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				if d > maxAbs {
					maxAbs, at = d, i
				}
				if d == 0 {
					exact++
				}
				maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
			}
			group := k.dev + " randn"
			if k.uniform {
				group = k.dev + " rand"
			}
			st := all[group]
			if st == nil {
				st = &stats{}
				all[group] = st
			}
			st.maxAbs = math.Max(st.maxAbs, maxAbs)
			st.maxRel = math.Max(st.maxRel, maxAbs/maxRef)
			st.exact += exact
			st.total += len(want)
			if tol := k.tolerance(); maxAbs > tol {
				t.Errorf("max abs error %.3g at %d (got %v, want %v), max rel-to-max %.3g; tolerance %.3g",
					maxAbs, at, got[at], want[at], maxAbs/maxRef, tol)
			}
		})
	}
	for _, group := range []string{"cpu randn", "cpu rand", "cuda randn", "cuda rand"} {
		if st := all[group]; st != nil {
			t.Logf("%-10s max abs error %.3g, max rel-to-max %.3g, bit-identical %d of %d elements",
				group, st.maxAbs, st.maxRel, st.exact, st.total)
		}
	}
}

// tolerance is the largest absolute difference accepted for k's tensor. All
// is bit-exact except the CUDA normals, whose sine the GPU approximates in
// hardware (see boxMullerCUDA): its error, ≈2⁻²⁰·⁶ at most, times a radius
// of at most √(−2 ln 2⁻³³) ≈ 6.8, bounds the difference by 5·10⁻⁶.
func (k refKey) tolerance() float64 {
	if k.dev == "cuda" && !k.uniform {
		return 5e-6
	}
	return 0
}

// TestSpare checks that a small CPU call leaves its spare Box-Muller value for
// the next small call, as torch's generator does.
func TestSpare(t *testing.T) {
	a := NewTorchCPU(7)
	x := make([]float32, 3)
	a.Normal(x) // two pairs drawn, one value spare
	b := NewTorchCPU(7)
	y := make([]float32, 4)
	b.Normal(y)
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("element %d: %v after one call of 3, %v after one call of 4", i, x[i], y[i])
		}
	}
	var z [1]float32
	a.Normal(z[:])
	if z[0] != y[3] {
		t.Fatalf("second call: got %v, want the spare %v", z[0], y[3])
	}
}

// TestPhiloxOffset checks how far one call moves torch's philox offset:
// 4 per 4-value draw each thread makes, the draws depending on the grid.
func TestPhiloxOffset(t *testing.T) {
	tests := []struct {
		n, maxBlocks int
		want         uint64
	}{
		{0, 0, 0}, // torch returns before touching the generator
		{1, 0, 4},
		{1 * 4 * 128 * 128, 0, 4},
		{1 * 4 * 128 * 128, 1056, 4},    // H200: 1056·256·4 elements per draw
		{1056*256*4 + 1, 1056, 8},       // one element more
		{4 * 256 * 4, 4, 4},             // exactly one draw per thread
		{4*256*4 + 1, 4, 8},             // one element more
		{8 * 4 * 128 * 128, 492, 4 * 2}, // RTX 3090: 524288 elements, 2 draws
		{8 * 4 * 128 * 128, 0, 4},       // unbounded grid: always one draw
		{1<<16 + 1, 1, 4 * (1<<16/1024 + 1)},
	}
	for _, tt := range tests {
		g := NewPhilox(0)
		g.MaxBlocks = tt.maxBlocks
		g.Normal(make([]float32, tt.n))
		if got := g.Offset(); got != tt.want {
			t.Errorf("n=%d, MaxBlocks=%d: offset %d, want %d", tt.n, tt.maxBlocks, got, tt.want)
		}
	}
}

// TestPhiloxGridStride checks the element layout of a grid-stride launch:
// with a grid of 256 threads, element e is component (e/256)%4 of draw
// e/1024 of thread e%256, and draw 1 is what a later one-draw call of the
// same threads reads.
func TestPhiloxGridStride(t *testing.T) {
	narrow := NewPhilox(5)
	narrow.MaxBlocks = 1
	all := make([]float32, 2048) // 2 draws per thread
	narrow.Normal(all)

	wide := NewPhilox(5)
	first := make([]float32, 256) // one draw per thread, component 0 only
	wide.Normal(first)
	second := make([]float32, 256)
	wide.Normal(second)
	for tr := range 256 {
		if all[tr] != first[tr] {
			t.Fatalf("thread %d draw 0: %v, want %v", tr, all[tr], first[tr])
		}
		if all[1024+tr] != second[tr] {
			t.Fatalf("thread %d draw 1: %v, want %v", tr, all[1024+tr], second[tr])
		}
	}
}

// TestFMA32 compares fma32 with a·b + c computed exactly and rounded once.
func TestFMA32(t *testing.T) {
	src := NewTorchCPU(1)
	var r [3]float32
	for i := range 100000 {
		src.Uniform(r[:])
		// Spread the operands over a few binades, with both signs.
		a := (r[0] - 0.5) * float32(int(1)<<(i%7))
		b := r[1] - 0.5
		c := (r[2] - 0.5) / float32(int(1)<<(i%11))
		exact := new(big.Float).SetPrec(200).SetFloat64(float64(a))
		exact.Mul(exact, new(big.Float).SetFloat64(float64(b)))
		exact.Add(exact, new(big.Float).SetFloat64(float64(c)))
		want, _ := exact.Float32()
		if got := fma32(a, b, c); got != want {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", a, b, c, got, want)
		}
	}
}

func BenchmarkNormal(b *testing.B) {
	for _, gen := range []struct {
		name string
		src  Source
	}{
		{"cpu", NewTorchCPU(42)},
		{"cuda", NewPhilox(42)},
	} {
		b.Run(gen.name+"/1x4x64x64", func(b *testing.B) {
			dst := make([]float32, 1*4*64*64)
			for b.Loop() {
				gen.src.Normal(dst)
			}
			b.ReportMetric(float64(len(dst))*float64(b.N)/b.Elapsed().Seconds(), "numbers/s")
		})
	}
}
