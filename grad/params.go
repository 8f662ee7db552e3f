package grad

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Params is the ordered set of a model's trainable parameters, named as the
// inference checkpoints name them (diffusers/transformers names such as
// "down_blocks.0.resnets.0.conv1.weight"), so that a trained model is
// written by Export and loaded by sdgo's inference packages unchanged.
type Params struct {
	names []string
	vars  map[string]*Var
}

// NewParams returns an empty registry.
func NewParams() *Params { return &Params{vars: map[string]*Var{}} }

// Add registers t as the trainable parameter name and returns its Var. A
// name registered twice is a bug in the model code and panics.
func (p *Params) Add(name string, t *nn.Tensor) *Var {
	if _, ok := p.vars[name]; ok {
		panic(fmt.Sprintf("grad.Params.Add: %s registered twice", name))
	}
	v := Param(t)
	p.names = append(p.names, name)
	p.vars[name] = v
	return v
}

// Get returns the parameter name, or nil.
func (p *Params) Get(name string) *Var { return p.vars[name] }

// Names lists the parameters in the order they were added.
func (p *Params) Names() []string { return p.names }

// Count is the total number of scalar values of all parameters.
func (p *Params) Count() int {
	n := 0
	for _, name := range p.names {
		n += p.vars[name].Value.Len()
	}
	return n
}

// minRange is the fewest values of a range of Params.ranges: about 10 µs
// of the cheapest per-value work, a gradient's addition.
const minRange = 1 << 14

// ranges lays the values of the parameters whose index keep accepts end to
// end, splits them into at most nn.Threads() contiguous ranges (nn.Parallel)
// and calls fn(i, lo, hi) for the values [lo, hi) of parameter i, for every
// part of a parameter in a range, the ranges in parallel. A step's
// elementwise updates, most of their parameters small, thus run on every
// thread, each value's arithmetic unchanged.
func (p *Params) ranges(keep func(i int) bool, fn func(i, lo, hi int)) {
	var idx, ends []int // kept parameters and where each ends in the row
	n := 0
	for i, name := range p.names {
		if l := p.vars[name].Value.Len(); l > 0 && keep(i) {
			n += l
			idx, ends = append(idx, i), append(ends, n)
		}
	}
	nn.Parallel(n, minRange, func(lo, hi int) {
		for k := sort.SearchInts(ends, lo+1); k < len(ends); k++ { // the first ending after lo
			start := ends[k] - p.vars[p.names[idx[k]]].Value.Len()
			if start >= hi {
				break
			}
			fn(idx[k], max(lo, start)-start, min(hi, ends[k])-start)
		}
	})
}

// withGrad reports whether parameter i has a gradient.
func (p *Params) withGrad(i int) bool { return p.vars[p.names[i]].Grad != nil }

// ZeroGrad zeroes every parameter's gradient, before the next step's
// Backward (gradients accumulate until then).
func (p *Params) ZeroGrad() {
	p.ranges(p.withGrad, func(i, lo, hi int) {
		clear(p.vars[p.names[i]].Grad.Data[lo:hi])
	})
}

// Gather adds the parameter gradients the local tapes hold (see
// NewLocalTape) into the parameters' Grad: for each parameter, tape after
// tape in the order given, so that the sums do not depend on which tape
// finished first. Call it after the tapes' Backward and before their Reset.
func (p *Params) Gather(tapes ...*Tape) {
	for _, tp := range tapes {
		if tp.local == nil {
			panic("grad.Params.Gather: not a local tape (NewLocalTape)")
		}
	}
	local := make([][]*nn.Tensor, len(p.names)) // each parameter's gradients, tape by tape
	for i, name := range p.names {
		v := p.vars[name]
		for _, tp := range tapes {
			if g := tp.local[v]; g != nil {
				local[i] = append(local[i], g)
			}
		}
		if local[i] != nil && v.Grad == nil {
			v.Grad = nn.New(v.Value.Shape...)
		}
	}
	p.ranges(func(i int) bool { return local[i] != nil }, func(i, lo, hi int) {
		d := p.vars[p.names[i]].Grad.Data[lo:hi]
		for _, g := range local[i] {
			nn.AddTo(d, g.Data[lo:hi])
		}
	})
}

// ClipGradNorm scales all gradients down, when their global Euclidean norm
// exceeds maxNorm, by maxNorm/(norm + 1e-6), as
// torch.nn.utils.clip_grad_norm_. It returns the norm before clipping (NaN
// or +Inf when a gradient diverged, which the caller may use to skip a step).
func (p *Params) ClipGradNorm(maxNorm float64) float64 {
	var ss float64 // one sum, in order: its rounding is part of the result
	for _, name := range p.names {
		if g := p.vars[name].Grad; g != nil {
			for _, v := range g.Data {
				ss += float64(v) * float64(v)
			}
		}
	}
	norm := math.Sqrt(ss)
	if coef := maxNorm / (norm + 1e-6); coef < 1 {
		p.ranges(p.withGrad, func(i, lo, hi int) {
			g := p.vars[p.names[i]].Grad.Data[lo:hi]
			for j := range g {
				g[j] *= float32(coef)
			}
		})
	}
	return norm
}

// Export writes the parameter values as a safetensors file for inference, in
// dt (weights.F16 or weights.F32), atomically; it refuses to replace an
// existing file unless overwrite.
func (p *Params) Export(path string, dt weights.DType, overwrite bool) error {
	if dt != weights.F16 && dt != weights.F32 {
		return fmt.Errorf("grad: export %s: dtype %s, want F16 or F32", path, dt)
	}
	entries := make([]weights.Entry, 0, len(p.names))
	for _, name := range p.names {
		v := p.vars[name].Value
		entries = append(entries, weights.Entry{Name: name, DType: dt, Shape: v.Shape, Float: v.Data})
	}
	return weights.Write(path, entries, nil, overwrite)
}

// LoadFrom copies every parameter's value from src (an inference checkpoint,
// say, to fine-tune it). Each must be present with the same shape; tensors of
// src that are not parameters are ignored.
func (p *Params) LoadFrom(src weights.Source) error {
	for _, name := range p.names {
		if err := readInto(src, name, p.vars[name].Value); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint tensor names: the parameters under their own names, AdamW's
// state under these prefixes (as torch's state_dict keeps exp_avg,
// exp_avg_sq and a scalar step per parameter), the EMA's averages under
// emaPrefix; the optimizer's Steps and the EMA's Updates are metadata.
const (
	emaPrefix      = "ema."
	emaUpdatesKey  = "ema.updates"
	expAvgPrefix   = "adamw.exp_avg."
	expAvgSqPrefix = "adamw.exp_avg_sq."
	stepPrefix     = "adamw.step."
	stepsKey       = "adamw.steps"
)

// Save writes a resumable checkpoint: the parameters in float32 and, when opt
// is not nil, its moments and step count, and when ema is not nil, the
// averages and their update count. The file is replaced atomically, so a
// crash mid-write leaves the previous checkpoint intact.
func (p *Params) Save(path string, opt *AdamW, ema *EMA) error {
	if opt != nil && opt.params != p {
		return fmt.Errorf("grad: save %s: the optimizer updates another parameter set", path)
	}
	if ema != nil && ema.params != p {
		return fmt.Errorf("grad: save %s: the EMA averages another parameter set", path)
	}
	n := len(p.names)
	if opt != nil {
		n *= 4
	}
	if ema != nil {
		n += len(p.names)
	}
	entries := make([]weights.Entry, 0, n)
	for _, name := range p.names {
		v := p.vars[name].Value
		entries = append(entries, weights.Entry{Name: name, DType: weights.F32, Shape: v.Shape, Float: v.Data})
	}
	meta := map[string]string{"format": "sdgo grad checkpoint"}
	if opt != nil {
		opt.grow()
		for i, name := range p.names {
			shape := p.vars[name].Value.Shape
			entries = append(entries,
				weights.Entry{Name: expAvgPrefix + name, DType: weights.F32, Shape: shape, Float: opt.m[i]},
				weights.Entry{Name: expAvgSqPrefix + name, DType: weights.F32, Shape: shape, Float: opt.v[i]},
				weights.Entry{Name: stepPrefix + name, DType: weights.I64, Shape: []int{}, Int: opt.t[i : i+1]})
		}
		meta[stepsKey] = strconv.Itoa(opt.Steps)
	}
	if ema != nil {
		for _, name := range p.names {
			v := ema.avg.vars[name].Value
			entries = append(entries, weights.Entry{Name: emaPrefix + name, DType: weights.F32, Shape: v.Shape, Float: v.Data})
		}
		meta[emaUpdatesKey] = strconv.Itoa(ema.Updates)
	}
	return weights.Write(path, entries, meta, true)
}

// Load reads a checkpoint written by Save into the parameters and, when opt
// is not nil, restores its moments and step counts, and when ema is not nil,
// the averages and their update count. On error the parameters may be partly
// overwritten.
func (p *Params) Load(path string, opt *AdamW, ema *EMA) error {
	if opt != nil && opt.params != p {
		return fmt.Errorf("grad: load %s: the optimizer updates another parameter set", path)
	}
	if ema != nil && ema.params != p {
		return fmt.Errorf("grad: load %s: the EMA averages another parameter set", path)
	}
	f, err := weights.Open(path)
	if err != nil {
		return fmt.Errorf("grad: load: %w", err)
	}
	defer f.Close()
	if err := p.LoadFrom(f); err != nil {
		return fmt.Errorf("grad: load %s: %w", path, err)
	}
	if ema != nil {
		updates, err := strconv.Atoi(f.Metadata[emaUpdatesKey])
		if err != nil || updates < 0 {
			return fmt.Errorf("grad: load %s: no EMA state (metadata %s = %q)", path, emaUpdatesKey, f.Metadata[emaUpdatesKey])
		}
		for _, name := range p.names {
			if err := readInto(f, emaPrefix+name, ema.avg.vars[name].Value); err != nil {
				return fmt.Errorf("grad: load %s: %w", path, err)
			}
		}
		ema.Updates = updates
	}
	if opt == nil {
		return nil
	}
	steps, err := strconv.Atoi(f.Metadata[stepsKey])
	if err != nil || steps < 0 {
		return fmt.Errorf("grad: load %s: no optimizer state (metadata %s = %q)", path, stepsKey, f.Metadata[stepsKey])
	}
	opt.grow()
	for i, name := range p.names {
		shape := p.vars[name].Value.Shape
		for _, mom := range []struct {
			prefix string
			dst    []float32
		}{{expAvgPrefix, opt.m[i]}, {expAvgSqPrefix, opt.v[i]}} {
			if err := readInto(f, mom.prefix+name, &nn.Tensor{Shape: shape, Data: mom.dst}); err != nil {
				return fmt.Errorf("grad: load %s: %w", path, err)
			}
		}
		t, _, err := f.Int64s(stepPrefix + name)
		if err != nil || len(t) != 1 || t[0] < 0 {
			return fmt.Errorf("grad: load %s: %s%s: bad step count (%v)", path, stepPrefix, name, err)
		}
		opt.t[i] = t[0]
	}
	opt.Steps = steps
	return nil
}

// readInto copies tensor name of src into dst, which fixes the shape.
func readInto(src weights.Source, name string, dst *nn.Tensor) error {
	info, ok := src.Info(name)
	if !ok {
		return fmt.Errorf("%s: missing", name)
	}
	if !nn.SameShape(info.Shape, dst.Shape) {
		return fmt.Errorf("%s: shape %v, want %v", name, info.Shape, dst.Shape)
	}
	t, err := src.Tensor(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	copy(dst.Data, t.Data)
	return nil
}
