// Package weights reads Stable Diffusion checkpoints: safetensors files
// (F32, F16, BF16, converted to float32 on access), PyTorch .ckpt zip files
// (a pickle read with an allow-list, never executed), and diffusers folders;
// and it maps tensor names between the original single-file layout and the
// diffusers/transformers layout.
//
// Models load through a [Loader], which walks the module tree with a name
// prefix, checks every shape and remembers what it read, so that missing,
// unexpected and mis-shaped tensors are reported by name.
package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/x448/float16"

	"github.com/sdgo/sdgo/nn"
)

// DType is a tensor element type as safetensors names it.
type DType string

// The element types sdgo reads.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size is the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Float reports whether d is a floating-point type sdgo converts to float32.
func (d DType) Float() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets into the file's data section.
	Begin, End int64
}

// maxHeader bounds the JSON header a safetensors file may declare (the
// format's own reference implementation uses 100 MB).
const maxHeader = 100 << 20

// File is an open safetensors file. Its data is memory-mapped where the
// system allows it, so opening a multi-gigabyte checkpoint costs nothing
// until tensors are read. A File is safe for concurrent reads.
type File struct {
	path     string
	data     []byte // the data section (after the header)
	mapped   []byte // the whole memory mapping, when Open made one
	unmap    func() error
	infos    map[string]*Info
	names    []string
	Metadata map[string]string
}

// Open opens and validates a safetensors file: the header length, the JSON,
// each dtype, that shape × dtype size equals the byte span, and that the
// spans lie inside the file without overlapping. Errors name the file and
// the tensor.
func Open(path string) (*File, error) {
	buf, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	f, err := parse(path, buf)
	if err != nil {
		unmap()
		return nil, err
	}
	f.unmap, f.mapped = unmap, buf
	return f, nil
}

// ReleasePages tells the system that the process no longer needs the pages
// of the file's memory mapping it has read so far: they leave the process's
// resident memory (the system's page cache may keep them). Call it after
// loading, once the tensors read as float32 have been copied out: they
// stay valid, and half-precision views of the file (see [File.Half]) read
// their pages back in as they are used. Where pages cannot be released it
// does nothing.
func (f *File) ReleasePages() error {
	if f.unmap == nil || len(f.mapped) == 0 {
		return nil
	}
	if err := releasePages(f.mapped); err != nil {
		return fmt.Errorf("weights: %s: %w", f.path, err)
	}
	return nil
}

// ReleasePages calls [File.ReleasePages] on the safetensors files of src: a
// File, or a Multi (a sharded checkpoint) of them.
func ReleasePages(src Source) error {
	switch s := src.(type) {
	case *File:
		return s.ReleasePages()
	case Multi:
		var errs []error
		for _, sub := range s {
			errs = append(errs, ReleasePages(sub))
		}
		return errors.Join(errs...)
	}
	return nil
}

// Parse reads a safetensors file already in memory; name is used in errors.
func Parse(name string, buf []byte) (*File, error) { return parse(name, buf) }

func parse(path string, buf []byte) (*File, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("weights: %s: not a valid safetensors file: %s", path, fmt.Sprintf(format, a...))
	}
	if len(buf) < 8 {
		return nil, bad("%d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > maxHeader || n > uint64(len(buf)-8) {
		return nil, bad("header length %d exceeds the file (%d bytes) or the %d-byte limit", n, len(buf), maxHeader)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+n], &raw); err != nil {
		return nil, bad("header JSON: %v", err)
	}
	f := &File{path: path, data: buf[8+n:], infos: make(map[string]*Info, len(raw))}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, bad("__metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		var h struct {
			DType   DType   `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, bad("tensor %q: %v", name, err)
		}
		if h.DType.Size() == 0 {
			return nil, bad("tensor %q: unknown dtype %q", name, h.DType)
		}
		if len(h.Offsets) != 2 {
			return nil, bad("tensor %q: data_offsets has %d values, want 2", name, len(h.Offsets))
		}
		count := int64(1)
		shape := make([]int, len(h.Shape))
		for i, d := range h.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt64/8/d) {
				return nil, bad("tensor %q: bad shape %v", name, h.Shape)
			}
			count *= d
			shape[i] = int(d)
		}
		b, e := h.Offsets[0], h.Offsets[1]
		if b < 0 || e < b || e > int64(len(f.data)) {
			return nil, bad("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", name, b, e, len(f.data))
		}
		if want := count * int64(h.DType.Size()); e-b != want {
			return nil, bad("tensor %q: shape %v of %s needs %d bytes, data_offsets span %d", name, h.Shape, h.DType, want, e-b)
		}
		f.infos[name] = &Info{Name: name, DType: h.DType, Shape: shape, Begin: b, End: e}
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	// Spans must not overlap.
	spans := make([]*Info, 0, len(f.infos))
	for _, in := range f.infos {
		spans = append(spans, in)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Begin < spans[j].Begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].Begin < spans[i-1].End {
			return nil, bad("tensors %q and %q overlap", spans[i-1].Name, spans[i].Name)
		}
	}
	return f, nil
}

// Close releases the file's mapping. Tensors already read stay valid,
// except those [File.Half] returned without a copy: they read the mapping
// itself, so the file must stay open as long as they are used.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data, f.mapped = nil, nil, nil
	return err
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Names lists the tensor names in sorted order.
func (f *File) Names() []string { return f.names }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	if !ok {
		return Info{}, false
	}
	return *in, true
}

// ErrNotFound is wrapped by errors about a tensor a file does not hold.
var ErrNotFound = errors.New("tensor not found")

func (f *File) lookup(name string) (*Info, []byte, error) {
	in, ok := f.infos[name]
	if !ok {
		return nil, nil, fmt.Errorf("weights: %s: %q: %w", f.path, name, ErrNotFound)
	}
	if f.data == nil && in.End > 0 {
		return nil, nil, fmt.Errorf("weights: %s: %q: file is closed", f.path, name)
	}
	return in, f.data[in.Begin:in.End], nil
}

// Tensor reads a floating-point tensor, converted to float32.
func (f *File) Tensor(name string) (*nn.Tensor, error) {
	in, raw, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !in.DType.Float() {
		return nil, fmt.Errorf("weights: %s: %q has dtype %s, want a float type", f.path, name, in.DType)
	}
	out := make([]float32, len(raw)/in.DType.Size())
	DecodeFloat32(out, raw, in.DType)
	return &nn.Tensor{Shape: append([]int(nil), in.Shape...), Data: out}, nil
}

// Half reads a floating-point tensor in half precision: the returned
// tensor's Half holds IEEE 754 binary16 bits and its Data is nil (see
// nn.Tensor.Half). An F16 tensor is not copied: Half is a view of the file's
// memory mapping, read-only and valid until [File.Close], so a model keeps
// the fp16 weights of a checkpoint in no more memory than the file's pages
// (which the system shares and can drop and re-read); the file must not be
// rewritten or truncated meanwhile. Where that is not
// possible — a big-endian machine, or data at an odd address — the bits are
// copied. Other types are converted to half precision (rounded to nearest).
func (f *File) Half(name string) (*nn.Tensor, error) {
	in, raw, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	shape := append([]int(nil), in.Shape...)
	switch {
	case in.DType == F16 && len(raw) == 0:
		return &nn.Tensor{Shape: shape, Half: []uint16{}}, nil
	case in.DType == F16 && nativeLittleEndian && uintptr(unsafe.Pointer(&raw[0]))%2 == 0:
		// The file's little-endian binary16 values are the machine's uint16s.
		h := unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), len(raw)/2)
		return &nn.Tensor{Shape: shape, Half: h[:len(h):len(h)]}, nil
	case in.DType == F16:
		h := make([]uint16, len(raw)/2)
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		return &nn.Tensor{Shape: shape, Half: h}, nil
	}
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.ToHalf(), nil
}

// nativeLittleEndian reports whether this machine stores a uint16's low byte
// first, as safetensors files do.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Int64s reads an integer tensor (I64, I32, I16, I8, U8 or BOOL) as int64.
func (f *File) Int64s(name string) ([]int64, []int, error) {
	in, raw, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	sz := in.DType.Size()
	out := make([]int64, len(raw)/sz)
	for i := range out {
		b := raw[i*sz:]
		switch in.DType {
		case I64:
			out[i] = int64(binary.LittleEndian.Uint64(b))
		case I32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(b)))
		case I16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(b)))
		case I8:
			out[i] = int64(int8(b[0]))
		case U8, Bool:
			out[i] = int64(b[0])
		default:
			return nil, nil, fmt.Errorf("weights: %s: %q has dtype %s, want an integer type", f.path, name, in.DType)
		}
	}
	return out, append([]int(nil), in.Shape...), nil
}

// Float64s reads a floating-point tensor as float64 (F64 exactly; others widened).
func (f *File) Float64s(name string) ([]float64, []int, error) {
	in, raw, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if in.DType == F64 {
		out := make([]float64, len(raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, append([]int(nil), in.Shape...), nil
	}
	t, err := f.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, len(t.Data))
	for i, v := range t.Data {
		out[i] = float64(v)
	}
	return out, t.Shape, nil
}

// DecodeFloat32 converts little-endian raw bytes of dtype dt to float32s in dst.
func DecodeFloat32(dst []float32, raw []byte, dt DType) {
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
}
