package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/x448/float16"

	"github.com/sdgo/sdgo/internal/atomicfile"
)

// Entry is one tensor to write: its name, element type and shape, and the
// values (Float for F32/F16/BF16, Int for I64).
type Entry struct {
	Name  string
	DType DType
	Shape []int
	Float []float32
	Int   []int64
}

// Write writes entries as a safetensors file, atomically (a temporary file
// renamed into place), refusing to replace an existing file unless overwrite.
// Tensors are laid out in name order, as the safetensors reference writer does.
func Write(path string, entries []Entry, metadata map[string]string, overwrite bool) error {
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, e := range sorted {
		n := int64(1)
		for _, d := range e.Shape {
			n *= int64(d)
		}
		have := len(e.Float)
		if e.DType == I64 {
			have = len(e.Int)
		}
		if int64(have) != n {
			return fmt.Errorf("weights: %s: %s: %d values for shape %v", path, e.Name, have, e.Shape)
		}
		switch e.DType {
		case F32, F16, BF16, I64:
		default:
			return fmt.Errorf("weights: %s: %s: cannot write dtype %s", path, e.Name, e.DType)
		}
		size := n * int64(e.DType.Size())
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		header[e.Name] = map[string]any{"dtype": e.DType, "shape": shape, "data_offsets": []int64{off, off + size}}
		off += size
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("weights: %s: %w", path, err)
	}
	for len(hj)%8 != 0 { // align the data section, as the reference writer does
		hj = append(hj, ' ')
	}
	return atomicfile.WriteFunc(path, overwrite, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		var b8 [8]byte
		binary.LittleEndian.PutUint64(b8[:], uint64(len(hj)))
		w.Write(b8[:])
		w.Write(hj)
		for _, e := range sorted {
			switch e.DType {
			case F32:
				for _, v := range e.Float {
					binary.LittleEndian.PutUint32(b8[:], math.Float32bits(v))
					w.Write(b8[:4])
				}
			case F16:
				for _, v := range e.Float {
					binary.LittleEndian.PutUint16(b8[:], float16.Fromfloat32(v).Bits())
					w.Write(b8[:2])
				}
			case BF16:
				for _, v := range e.Float {
					binary.LittleEndian.PutUint16(b8[:], bf16Bits(v))
					w.Write(b8[:2])
				}
			case I64:
				for _, v := range e.Int {
					binary.LittleEndian.PutUint64(b8[:], uint64(v))
					w.Write(b8[:])
				}
			}
		}
		return w.Flush()
	})
}

// bf16Bits rounds v to bfloat16, to nearest even, as torch does.
func bf16Bits(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v { // NaN stays NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
