package weights

import (
	"fmt"
	"sort"

	"github.com/sdgo/sdgo/nn"
)

// view is a Source whose tensors are tensors of another source under other
// names, possibly reshaped or cut into row blocks. Unlike [Renamed] it can
// map one source tensor to several (a fused q;k;v projection to q, k and v).
type view struct {
	src     Source
	names   []string
	entries map[string]viewEntry
}

// viewEntry says where a view's tensor comes from.
type viewEntry struct {
	src string
	// part of parts: the tensor is rows [part·n/parts, (part+1)·n/parts) of
	// the source's first dimension n; parts 0 means the whole tensor.
	part, parts int
	// squeeze drops trailing dimensions of size 1: a 1×1 convolution
	// weight (C, C, 1, 1) seen as a linear weight (C, C).
	squeeze bool
	// transpose swaps the two dimensions of a matrix: OpenCLIP's
	// text_projection (D, P), used as x @ W, seen as a Linear weight (P, D).
	transpose bool
}

// newView maps every source name through conv, which returns the view's
// names for it (none to hide the tensor).
func newView(src Source, conv func(name string) []viewName) *view {
	v := &view{src: src, entries: map[string]viewEntry{}}
	for _, n := range src.Names() {
		for _, c := range conv(n) {
			if _, dup := v.entries[c.name]; dup {
				continue
			}
			c.entry.src = n
			v.entries[c.name] = c.entry
			v.names = append(v.names, c.name)
		}
	}
	sort.Strings(v.names)
	return v
}

type viewName struct {
	name  string
	entry viewEntry
}

// Names lists the view's tensor names, sorted.
func (v *view) Names() []string { return v.names }

// Info describes the tensor of the view's name; Begin and End locate its
// part of the source tensor's bytes.
func (v *view) Info(name string) (Info, bool) {
	e, ok := v.entries[name]
	if !ok {
		return Info{}, false
	}
	in, ok := v.src.Info(e.src)
	if !ok {
		return Info{}, false
	}
	in.Name = name
	in.Shape = e.shape(in.Shape)
	if e.parts > 0 {
		n := (in.End - in.Begin) / int64(e.parts)
		in.Begin += int64(e.part) * n
		in.End = in.Begin + n
	}
	return in, true
}

// shape is the view's shape of a source tensor of shape s.
func (e viewEntry) shape(s []int) []int {
	s = append([]int(nil), s...)
	if e.parts > 0 && len(s) > 0 {
		s[0] /= e.parts
	}
	if e.squeeze {
		for len(s) > 2 && s[len(s)-1] == 1 {
			s = s[:len(s)-1]
		}
	}
	if e.transpose && len(s) == 2 {
		s[0], s[1] = s[1], s[0]
	}
	return s
}

// Tensor reads the tensor of the view's name.
func (v *view) Tensor(name string) (*nn.Tensor, error) {
	e, ok := v.entries[name]
	if !ok {
		return nil, fmt.Errorf("weights: %q: %w", name, ErrNotFound)
	}
	t, err := v.src.Tensor(e.src)
	if err != nil {
		return nil, err
	}
	if e.parts > 0 {
		if len(t.Shape) == 0 || t.Shape[0]%e.parts != 0 {
			return nil, fmt.Errorf("weights: %s: shape %v does not split into %d row blocks for %s", e.src, t.Shape, e.parts, name)
		}
		n := len(t.Data) / e.parts
		// (3·D, …) -> (D, …): rows of one block are contiguous.
		t = &nn.Tensor{Shape: t.Shape, Data: append([]float32(nil), t.Data[e.part*n:(e.part+1)*n]...)}
	}
	if e.transpose {
		return transpose2D(e.src, t)
	}
	return t.Reshape(e.shape(t.Shape)...), nil
}

// transpose2D returns the transpose of the matrix t (R, C): (C, R).
func transpose2D(name string, t *nn.Tensor) (*nn.Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("weights: %s: shape %v, want a matrix to transpose", name, t.Shape)
	}
	r, c := t.Shape[0], t.Shape[1]
	out := nn.New(c, r) // (C, R)
	for i := range r {
		for j := range c {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out, nil
}
