package weights

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sdgo/sdgo/nn"
)

// Source is anything that holds named tensors: one safetensors file, a set
// of files, a .ckpt, or a view of another source under other names.
type Source interface {
	// Names lists every tensor name the source holds.
	Names() []string
	// Info describes a tensor without reading it.
	Info(name string) (Info, bool)
	// Tensor reads a floating-point tensor as float32.
	Tensor(name string) (*nn.Tensor, error)
}

// Loader reads a model's tensors from a Source under a name prefix, checking
// each shape, and remembers every name it was asked for so that [Loader.Check]
// can report what the checkpoint lacks and what it holds that nobody read.
//
// Typical use mirrors the module tree:
//
//	ld := weights.NewLoader(src, "model.diffusion_model.")
//	conv := ld.Sub("input_blocks.0.0")
//	w := conv.Tensor("weight", 320, 4, 3, 3)
//
// Errors are collected, not returned one by one: after loading, call
// [Loader.Err] once; it names every tensor that was missing or mis-shaped.
type Loader struct {
	src       Source
	prefix    string
	precision Precision
	st        *loadState
}

// Precision says in which precision a [Loader] keeps weight matrices: the
// tensors of two or more dimensions, which in Stable Diffusion are the
// weights of linear layers and convolutions and hold nearly all of a model's
// bytes. Vectors (norm weights, biases) are always read as float32. Half
// precision matrices (nn.Tensor.Half) take half the memory and compute to the
// same numbers: the products convert them exactly to float32.
//
// A model that reads some matrix other than through a product (an embedding
// table looked up row by row) either reads nn.Tensor.Half itself or asks for
// that matrix through a loader set to KeepFloat32.
type Precision int

const (
	// KeepFloat32 reads every tensor as float32 (the default).
	KeepFloat32 Precision = iota
	// KeepStored keeps the matrices a checkpoint stores as F16 in half
	// precision, read without a copy where the source allows it (see
	// [File.Half]); matrices stored otherwise are read as float32. An fp16
	// checkpoint then costs its file size, an fp32 one what it always did.
	KeepStored
	// KeepHalf keeps every matrix in half precision, converting F32 and
	// BF16 ones once at load: half the memory of an fp32 checkpoint, at the
	// cost of rounding its weights to fp16.
	KeepHalf
)

// String names the precision as the sdgo command's flags do.
func (p Precision) String() string {
	switch p {
	case KeepFloat32:
		return "fp32"
	case KeepStored:
		return "stored"
	case KeepHalf:
		return "fp16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

type loadState struct {
	mu      sync.Mutex
	used    map[string]bool
	errs    []error
	tensors map[string]*nn.Tensor // what Tensor returned, by full name
}

// NewLoader returns a loader reading src under prefix ("" for none).
func NewLoader(src Source, prefix string) *Loader {
	return &Loader{src: src, prefix: prefix, st: &loadState{used: map[string]bool{}}}
}

// Sub returns a loader one level deeper: Sub("mid_block") of a loader at
// "unet." reads "unet.mid_block.*". It keeps l's precision.
func (l *Loader) Sub(name string) *Loader {
	return &Loader{src: l.src, prefix: l.prefix + name + ".", precision: l.precision, st: l.st}
}

// WithPrecision returns a loader like l (same prefix, sharing the record of
// what was read and the errors) that keeps weight matrices in precision p.
//
//	ld := weights.NewLoader(src, "").WithPrecision(weights.KeepStored)
func (l *Loader) WithPrecision(p Precision) *Loader {
	return &Loader{src: l.src, prefix: l.prefix, precision: p, st: l.st}
}

// Precision reports the precision l keeps weight matrices in.
func (l *Loader) Precision() Precision { return l.precision }

// Subf is Sub with a formatted name, for numbered children: Subf("layers.%d", i).
func (l *Loader) Subf(format string, a ...any) *Loader { return l.Sub(fmt.Sprintf(format, a...)) }

// Prefix is the loader's full name prefix.
func (l *Loader) Prefix() string { return l.prefix }

// Has reports whether the source holds name under the loader's prefix.
func (l *Loader) Has(name string) bool {
	_, ok := l.src.Info(l.prefix + name)
	return ok
}

// Shape returns the shape of name under the prefix, or nil when absent.
func (l *Loader) Shape(name string) []int {
	in, ok := l.src.Info(l.prefix + name)
	if !ok {
		return nil
	}
	return in.Shape
}

// Tensor reads name under the prefix and checks that its shape is shape
// (when shape is given). On error it records the error and returns a zero
// tensor of the wanted shape, so loading continues and reports every problem.
func (l *Loader) Tensor(name string, shape ...int) *nn.Tensor {
	full := l.prefix + name
	if r, ok := l.src.(*ShapeRecorder); ok {
		return r.record(full, shape, l.precision) // listing a model's tensors: see record.go
	}
	l.st.mu.Lock()
	l.st.used[full] = true
	l.st.mu.Unlock()
	t, err := l.read(full)
	if err == nil && len(shape) > 0 && !nn.SameShape(t.Shape, shape) {
		// A (C, C, 1, 1) convolution and a (C, C) linear hold the same numbers:
		// SD 1.x and SD 2.x store proj_in/proj_out differently.
		if nn.Numel(t.Shape) == nn.Numel(shape) && squeezeEqual(t.Shape, shape) {
			t = t.Reshape(shape...)
		} else {
			err = fmt.Errorf("%s: shape %v, want %v", full, t.Shape, shape)
		}
	}
	if err != nil {
		l.Fail(err)
		if len(shape) == 0 {
			return nn.New(0)
		}
		return nn.New(shape...)
	}
	l.st.mu.Lock()
	if l.st.tensors == nil {
		l.st.tensors = map[string]*nn.Tensor{}
	}
	l.st.tensors[full] = t
	l.st.mu.Unlock()
	return t
}

// Tensors maps the full name of every tensor [Loader.Tensor] has returned
// (by any loader sharing l's record) to the tensor itself: the model's own
// weights, by their checkpoint names. Adapters (package lora) change a model
// through it, replacing a weight's values in place.
func (l *Loader) Tensors() map[string]*nn.Tensor {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	out := make(map[string]*nn.Tensor, len(l.st.tensors))
	for k, v := range l.st.tensors {
		out[k] = v
	}
	return out
}

// read reads the tensor full in the loader's precision.
func (l *Loader) read(full string) (*nn.Tensor, error) {
	if l.precision == KeepFloat32 {
		return l.src.Tensor(full)
	}
	in, ok := l.src.Info(full)
	if !ok || len(in.Shape) < 2 || (l.precision == KeepStored && in.DType != F16) {
		return l.src.Tensor(full)
	}
	return ReadHalf(l.src, full)
}

// HalfReader is implemented by sources that read tensors in half precision
// themselves, sharing the file's memory where they can (see [File.Half]).
type HalfReader interface {
	Half(name string) (*nn.Tensor, error)
}

// ReadHalf reads the floating-point tensor name of src in half precision
// (nn.Tensor.Half). Safetensors files, and the views of them this package
// makes (Renamed, Prefixed, Multi, sharded folders and the single-file
// views UNetFromLDM, VAEFromLDM and TextFromLDM), hand out F16 tensors
// without a copy, as views of the file's memory: the file must stay open
// while the tensor is used. Other sources' tensors are read as float32 and
// converted.
func ReadHalf(src Source, name string) (*nn.Tensor, error) {
	switch s := src.(type) {
	case HalfReader:
		return s.Half(name)
	case *Renamed:
		if n := s.ToSource(name); n != "" {
			return ReadHalf(s.Src, n)
		}
	case Multi:
		for _, sub := range s {
			if _, ok := sub.Info(name); ok {
				return ReadHalf(sub, name)
			}
		}
	case *view:
		e, ok := s.entries[name]
		if !ok || e.transpose {
			break // a transposed matrix is read as float32 and converted
		}
		t, err := ReadHalf(s.src, e.src)
		if err != nil {
			return nil, err
		}
		if e.parts > 0 {
			if len(t.Shape) == 0 || t.Shape[0]%e.parts != 0 {
				return nil, fmt.Errorf("weights: %s: shape %v does not split into %d row blocks for %s", e.src, t.Shape, e.parts, name)
			}
			// (3·D, …) -> (D, …): rows of one block are contiguous, so the
			// block is a sub-slice, still without a copy.
			n := len(t.Half) / e.parts
			t = &nn.Tensor{Shape: t.Shape, Half: t.Half[e.part*n : (e.part+1)*n : (e.part+1)*n]}
		}
		return t.Reshape(e.shape(t.Shape)...), nil
	}
	t, err := src.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.ToHalf(), nil
}

// Optional reads name if the source holds it and returns nil otherwise.
func (l *Loader) Optional(name string, shape ...int) *nn.Tensor {
	if !l.Has(name) {
		return nil
	}
	return l.Tensor(name, shape...)
}

// Skip marks name as read without reading it (for tensors a checkpoint
// carries but the model does not use, such as position_ids).
func (l *Loader) Skip(name string) {
	l.st.mu.Lock()
	l.st.used[l.prefix+name] = true
	l.st.mu.Unlock()
}

// Fail records a loading error.
func (l *Loader) Fail(err error) {
	l.st.mu.Lock()
	l.st.errs = append(l.st.errs, err)
	l.st.mu.Unlock()
}

// Err returns every error recorded so far, joined, or nil.
func (l *Loader) Err() error {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	if len(l.st.errs) == 0 {
		return nil
	}
	const show = 8
	errs := l.st.errs
	if len(errs) > show {
		errs = append(errs[:show:show], fmt.Errorf("… and %d more", len(l.st.errs)-show))
	}
	return errors.Join(errs...)
}

// Unused lists the source's names under the loader's prefix that were never
// read or skipped: tensors the checkpoint holds that the model does not know.
func (l *Loader) Unused() []string {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	var out []string
	for _, n := range l.src.Names() {
		if strings.HasPrefix(n, l.prefix) && !l.st.used[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Check returns Err, plus an error listing unexpected tensors when strict.
func (l *Loader) Check(strict bool) error {
	err := l.Err()
	if strict {
		if u := l.Unused(); len(u) > 0 {
			more := ""
			if len(u) > 8 {
				more = fmt.Sprintf(" (and %d more)", len(u)-8)
				u = u[:8]
			}
			err = errors.Join(err, fmt.Errorf("unexpected tensors: %s%s", strings.Join(u, ", "), more))
		}
	}
	return err
}

func squeezeEqual(a, b []int) bool {
	sq := func(s []int) []int {
		var o []int
		for _, d := range s {
			if d != 1 {
				o = append(o, d)
			}
		}
		return o
	}
	return nn.SameShape(sq(a), sq(b))
}
