package weights

import (
	"math"
	"path/filepath"
	"testing"
)

func TestWriteRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	vals := []float32{1, -2.5, 3.14159, 1e-3, 65504, 0}
	err := Write(p, []Entry{
		{Name: "b.f32", DType: F32, Shape: []int{2, 3}, Float: vals},
		{Name: "a.f16", DType: F16, Shape: []int{6}, Float: vals},
		{Name: "c.bf16", DType: BF16, Shape: []int{3, 2}, Float: vals},
		{Name: "ids", DType: I64, Shape: []int{1, 3}, Int: []int64{49406, -1, 7}},
		{Name: "scalar", DType: F32, Shape: nil, Float: []float32{42}},
	}, map[string]string{"by": "sdgo"}, false)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["by"] != "sdgo" {
		t.Fatalf("metadata %v", f.Metadata)
	}
	for name, rel := range map[string]float64{"b.f32": 0, "a.f16": 1.0 / 2048, "c.bf16": 1.0 / 256} {
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range vals {
			if d := math.Abs(float64(got.Data[i] - w)); d > rel*math.Abs(float64(w))+1e-7 {
				t.Errorf("%s[%d] = %g, want %g", name, i, got.Data[i], w)
			}
		}
	}
	ids, shape, err := f.Int64s("ids")
	if err != nil || ids[0] != 49406 || ids[1] != -1 || len(shape) != 2 {
		t.Fatalf("ids %v %v %v", ids, shape, err)
	}
	if s, _ := f.Tensor("scalar"); s.Data[0] != 42 || len(s.Shape) != 0 {
		t.Fatalf("scalar %v", s)
	}
	if err := Write(p, nil, nil, false); err == nil {
		t.Fatal("Write replaced an existing file")
	}
	if err := Write(p, []Entry{{Name: "x", DType: F32, Shape: []int{2}, Float: []float32{1}}}, nil, true); err == nil {
		t.Fatal("no error for a shape/value mismatch")
	}
}
