package weights

import (
	"strings"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// small is a valid two-tensor file: a (2, 3) and a (4,) F32 tensor.
func small() []byte {
	return encodeSafetensors(map[string]*nn.Tensor{
		"a": nn.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"b": nn.From([]float32{-1, 0.5, 7, 8}, 4),
	})
}

// Every kind of damage gives an error that names the file and the fault.
func TestParseErrors(t *testing.T) {
	good := small()
	f, err := Parse("good.safetensors", good)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Tensor("b"); b.Data[2] != 7 || !sameShape(b.Shape, []int{4}) {
		t.Fatalf("b = %v", b)
	}
	data8 := make([]byte, 8)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "shorter than the 8-byte header length"},
		{"truncated header", good[:20], "exceeds the file"},
		{"truncated data", good[:len(good)-4], `data_offsets [24, 40] outside the 36-byte data section`},
		{"bad JSON", rawSafetensors(`{"a": {"dtype": "F32",`, nil), "header JSON"},
		{"not an object", rawSafetensors(`[1, 2]`, nil), "header JSON"},
		{"bad dtype", rawSafetensors(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, data8), `tensor "a": unknown dtype "F33"`},
		{"one offset", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, data8), `tensor "a": data_offsets has 1 values`},
		{"span outside", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, data8), `tensor "a": data_offsets [4, 12] outside the 8-byte data section`},
		{"negative span", rawSafetensors(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[-4,0]}}`, data8), `tensor "a": data_offsets [-4, 0] outside`},
		{"overlap", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}`, data8), `tensors "a" and "b" overlap`},
		{"shape × dtype", rawSafetensors(`{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}`, data8), `tensor "a": shape [3] of F16 needs 6 bytes, data_offsets span 8`},
		{"negative dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data8), `tensor "a": bad shape [-2]`},
		{"huge shape", rawSafetensors(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data8), `tensor "a": bad shape`},
		{"bad metadata", rawSafetensors(`{"__metadata__":{"x":1}}`, nil), "__metadata__ is not a map of strings"},
	} {
		_, err := Parse(tc.name+".safetensors", tc.file)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "weights: "+tc.name+".safetensors: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %v\nwant the file name and %q", tc.name, err, tc.want)
		}
	}
}

// FuzzSafetensors: Parse never panics, and whatever it accepts reads
// without panicking.
func FuzzSafetensors(f *testing.F) {
	good := small()
	f.Add(good)
	for _, cut := range []int{0, 7, 8, 20, len(good) - 1} {
		f.Add(good[:cut])
	}
	for _, i := range []int{0, 3, 8, 9, 30, 60, len(good) - 30} {
		b := append([]byte(nil), good...)
		b[i] ^= 0xff
		f.Add(b)
	}
	f.Add(rawSafetensors(`{"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}`, make([]byte, 8)))
	f.Add(rawSafetensors(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}`, make([]byte, 10)))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz.safetensors", b)
		if err != nil {
			return
		}
		for _, n := range file.Names() {
			in, ok := file.Info(n)
			if !ok {
				t.Fatalf("%s listed but has no Info", n)
			}
			if in.DType.Float() {
				if _, err := file.Tensor(n); err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				file.Float64s(n)
			} else {
				file.Int64s(n)
			}
		}
	})
}
