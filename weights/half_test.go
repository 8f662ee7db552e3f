package weights

import (
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/sdgo/sdgo/nn"
)

// writeMixed writes a file with an F16 matrix, an F16 vector, an F32 matrix
// and a fused (3·2, 2) F16 matrix, and opens it.
func writeMixed(t *testing.T) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mixed.safetensors")
	entries := []Entry{
		{Name: "h.weight", DType: F16, Shape: []int{2, 3}, Float: []float32{1, -2, 0.5, 3, 65504, -0.25}},
		{Name: "h.bias", DType: F16, Shape: []int{2}, Float: []float32{0.125, -1}},
		{Name: "f.weight", DType: F32, Shape: []int{3, 2}, Float: []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}},
		{Name: "qkv.weight", DType: F16, Shape: []int{6, 2}, Float: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	}
	if err := Write(path, entries, nil, false); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// inMapping reports whether h's storage lies inside f's mapped data.
func inMapping(f *File, h []uint16) bool {
	if len(h) == 0 || len(f.data) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(&h[0])), uintptr(unsafe.Pointer(&f.data[0]))
	return p >= lo && p < lo+uintptr(len(f.data))
}

func TestFileHalf(t *testing.T) {
	f := writeMixed(t)
	for _, tc := range []struct {
		name    string
		aliased bool // F16 is read without a copy
	}{{"h.weight", true}, {"h.bias", true}, {"f.weight", false}} {
		h, err := f.Half(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.Tensor(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if h.Data != nil || len(h.Half) != len(want.Data) || !nn.SameShape(h.Shape, want.Shape) {
			t.Fatalf("%s: Half gave shape %v, %d half values, Data %v", tc.name, h.Shape, len(h.Half), h.Data)
		}
		if got := inMapping(f, h.Half); got != tc.aliased {
			t.Errorf("%s: aliases the mapping = %v, want %v", tc.name, got, tc.aliased)
		}
		// F16 values come back exactly; F32 ones rounded to fp16.
		wantHalf := want.Clone().ToHalf()
		for i, v := range h.Floats() {
			if w := wantHalf.Floats()[i]; v != w {
				t.Errorf("%s[%d] = %g, want %g", tc.name, i, v, w)
			}
		}
	}
	if _, err := f.Half("missing"); err == nil {
		t.Error("Half of a missing tensor: no error")
	}

	// Released pages come back when a view reads them.
	h, err := f.Half("h.weight")
	if err != nil {
		t.Fatal(err)
	}
	before := append([]float32(nil), h.Floats()...)
	if err := ReleasePages(Multi{f}); err != nil {
		t.Fatal(err)
	}
	for i, v := range h.Floats() {
		if v != before[i] {
			t.Errorf("after ReleasePages: h.weight[%d] = %g, want %g", i, v, before[i])
		}
	}
}

func TestLoaderPrecision(t *testing.T) {
	f := writeMixed(t)
	// For each precision: which of the tensors come back in half precision.
	for _, tc := range []struct {
		p    Precision
		half map[string]bool
	}{
		{KeepFloat32, map[string]bool{}},
		{KeepStored, map[string]bool{"h.weight": true, "qkv.weight": true}},
		{KeepHalf, map[string]bool{"h.weight": true, "f.weight": true, "qkv.weight": true}},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			ld := NewLoader(f, "").WithPrecision(tc.p)
			if ld.Precision() != tc.p || ld.Sub("h").Precision() != tc.p {
				t.Fatalf("precision not kept by Sub")
			}
			for _, name := range f.Names() {
				got := ld.Tensor(name)
				if isHalf := got.Half != nil; isHalf != tc.half[name] {
					t.Errorf("%s: half = %v, want %v", name, isHalf, tc.half[name])
				}
				want, _ := f.Tensor(name)
				if tc.p == KeepHalf {
					want.ToHalf()
				}
				for i, w := range want.Floats() {
					if g := got.Floats()[i]; g != w {
						t.Errorf("%s[%d] = %g, want %g", name, i, g, w)
					}
				}
			}
			// The (C, C, 1, 1) ↔ (C, C) reshape works on half tensors too.
			if w := ld.Tensor("h.weight", 2, 3, 1, 1); !nn.SameShape(w.Shape, []int{2, 3, 1, 1}) {
				t.Errorf("reshaped: shape %v", w.Shape)
			}
			if err := ld.Check(true); err != nil {
				t.Error(err)
			}
		})
	}
}

// Views of a file (renamed, joined, split into row blocks) hand out its F16
// tensors without a copy.
func TestReadHalfViews(t *testing.T) {
	f := writeMixed(t)
	split := newView(f, func(name string) []viewName {
		if name != "qkv.weight" {
			return nil
		}
		return []viewName{{"q.weight", viewEntry{part: 0, parts: 3}}, {"k.weight", viewEntry{part: 1, parts: 3}}, {"v.weight", viewEntry{part: 2, parts: 3}}}
	})
	for _, tc := range []struct {
		name string
		src  Source
		key  string
	}{
		{"prefixed", Prefixed(f, "h."), "weight"},
		{"multi", Multi{Prefixed(f, "x."), f}, "h.weight"},
		{"split", split, "k.weight"},
	} {
		h, err := ReadHalf(tc.src, tc.key)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want, err := tc.src.Tensor(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if !inMapping(f, h.Half) || !nn.SameShape(h.Shape, want.Shape) {
			t.Errorf("%s: shape %v (want %v), aliases the mapping = %v", tc.name, h.Shape, want.Shape, inMapping(f, h.Half))
		}
		for i, w := range want.Data {
			if g := h.Floats()[i]; g != w {
				t.Errorf("%s[%d] = %g, want %g", tc.name, i, g, w)
			}
		}
	}
}
