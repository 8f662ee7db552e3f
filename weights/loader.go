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
	src    Source
	prefix string
	st     *loadState
}

type loadState struct {
	mu   sync.Mutex
	used map[string]bool
	errs []error
}

// NewLoader returns a loader reading src under prefix ("" for none).
func NewLoader(src Source, prefix string) *Loader {
	return &Loader{src: src, prefix: prefix, st: &loadState{used: map[string]bool{}}}
}

// Sub returns a loader one level deeper: Sub("mid_block") of a loader at
// "unet." reads "unet.mid_block.*".
func (l *Loader) Sub(name string) *Loader {
	return &Loader{src: l.src, prefix: l.prefix + name + ".", st: l.st}
}

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
	l.st.mu.Lock()
	l.st.used[full] = true
	l.st.mu.Unlock()
	t, err := l.src.Tensor(full)
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
	return t
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
