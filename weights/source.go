package weights

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
)

// Multi joins several sources into one; a name is looked up in each in turn.
type Multi []Source

// Names lists every name of every source, sorted, without repeats.
func (m Multi) Names() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range m {
		for _, n := range s.Names() {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Info describes name from the first source that holds it.
func (m Multi) Info(name string) (Info, bool) {
	for _, s := range m {
		if in, ok := s.Info(name); ok {
			return in, true
		}
	}
	return Info{}, false
}

// Tensor reads name from the first source that holds it.
func (m Multi) Tensor(name string) (*nn.Tensor, error) {
	for _, s := range m {
		if _, ok := s.Info(name); ok {
			return s.Tensor(name)
		}
	}
	return nil, fmt.Errorf("weights: %q: %w", name, ErrNotFound)
}

// Renamed is a view of a source under other names: the view's name n is the
// source's name ToSource(n). Models load in one canonical (diffusers) naming
// and see other layouts through a Renamed view.
type Renamed struct {
	Src Source
	// ToSource maps a canonical name to the source's name ("" if none).
	ToSource func(string) string
	// FromSource maps a source name to the canonical one ("" to hide it).
	FromSource func(string) string
}

// Names lists the canonical names of every source tensor that has one.
func (r *Renamed) Names() []string {
	var out []string
	for _, n := range r.Src.Names() {
		if c := r.FromSource(n); c != "" {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// Info describes the tensor of canonical name.
func (r *Renamed) Info(name string) (Info, bool) {
	s := r.ToSource(name)
	if s == "" {
		return Info{}, false
	}
	in, ok := r.Src.Info(s)
	in.Name = name
	return in, ok
}

// Tensor reads the tensor of canonical name.
func (r *Renamed) Tensor(name string) (*nn.Tensor, error) {
	s := r.ToSource(name)
	if s == "" {
		return nil, fmt.Errorf("weights: %q: %w", name, ErrNotFound)
	}
	return r.Src.Tensor(s)
}

// Prefixed is a view of the tensors of src whose names start with Prefix,
// with the prefix removed.
func Prefixed(src Source, prefix string) *Renamed {
	return &Renamed{
		Src:      src,
		ToSource: func(n string) string { return prefix + n },
		FromSource: func(n string) string {
			if strings.HasPrefix(n, prefix) {
				return n[len(prefix):]
			}
			return ""
		},
	}
}

// OpenAny opens a checkpoint file by its extension: .safetensors, or a
// PyTorch zip checkpoint (.ckpt, .pt, .pth, .bin).
func OpenAny(path string) (Source, func() error, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		f, err := Open(path)
		if err != nil {
			return nil, nil, err
		}
		return f, f.Close, nil
	case ".ckpt", ".pt", ".pth", ".bin":
		c, err := OpenCkpt(path)
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	}
	return nil, nil, fmt.Errorf("weights: %s: unknown checkpoint format (want .safetensors, .ckpt, .pt, .pth or .bin)", path)
}
