// Package grad trains sdgo's models: reverse-mode automatic differentiation
// over the operations Stable Diffusion's networks use, an AdamW optimizer,
// and a registry of named parameters that saves checkpoints sdgo's inference
// packages can load.
//
// A training step records its forward pass on a [Tape]: every operation is a
// Tape method that computes its result at once and, when a gradient can flow
// through it, remembers a closure that turns the result's gradient into its
// inputs' gradients. [Tape.Backward] runs those closures newest first.
//
//	params := grad.NewParams()              // named as the inference checkpoint
//	fc1w := params.Add("fc1.weight", grad.Uniform(r, bound, 64, 3))
//	…
//	opt := grad.NewAdamW(params, 1e-4)
//	tp := grad.NewTape()
//	for step := range steps {
//		tp.Reset()                           // reuse last step's buffers
//		h := tp.SiLU(tp.Linear(x, fc1w, fc1b))
//		loss := tp.MSE(tp.Linear(h, fc2w, fc2b), y)
//		params.ZeroGrad()
//		tp.Backward(loss)                    // fills the parameters' Grad
//		params.ClipGradNorm(1)
//		opt.Step()
//	}
//	params.Export("model.safetensors", weights.F16, false)
//
// Heavy work runs on package nn's kernels: forward passes use nn's
// operations where they fit (nn.Conv2dPad, nn.LinearInto, nn.SiLU, …); every
// other matrix product goes through [nn.MatMul], transposing by its flags,
// never by copying; convolution gradients are GEMMs over shifted views of
// the padded input (stride 1) or over im2col matrices (strided); per-row work
// is split with [nn.Parallel].
//
// Small tensors keep several cores busier as independent passes than as one
// pass whose every operation is split: a step may run its batch in parts at
// once, each on a tape from [NewLocalTape] on its own goroutine, and
// [Params.Gather] adds the parts' gradients in a fixed order.
//
// Shapes are checked where an operation is recorded; a mismatch is a bug in
// the model code, not bad input, so it panics with the operation's name and
// both shapes, as nn.From does.
package grad

import (
	"fmt"

	"github.com/sdgo/sdgo/nn"
)

// Var is a value in a computation, with the gradient of the loss with
// respect to it once [Tape.Backward] has run.
type Var struct {
	Value *nn.Tensor
	// Grad has Value's shape. For parameters it is allocated once and
	// accumulates over Backward calls until zeroed; for results of a Tape it
	// is allocated by Backward and lives until the Tape is Reset. It is nil
	// where no gradient reached the Var.
	Grad *nn.Tensor

	param bool // a leaf whose gradient is wanted (a trainable parameter)
	needs bool // a gradient must flow into this Var: a param, or computed from one
}

// Param wraps t as a trainable leaf: Backward accumulates into its Grad.
func Param(t *nn.Tensor) *Var { return &Var{Value: t, param: true, needs: true} }

// Const wraps t as an input that needs no gradient (images, targets,
// timestep embeddings, frozen weights).
func Const(t *nn.Tensor) *Var { return &Var{Value: t} }

// Shape is the shape of v's value.
func (v *Var) Shape() []int { return v.Value.Shape }

// ZeroGrad zeroes v's gradient, if it has one.
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		clear(v.Grad.Data)
	}
}

// node is one recorded operation: back reads out.Grad and adds into the
// gradients of the operation's inputs.
type node struct {
	out  *Var
	back func()
}

// Tape records the operations of one forward pass so that Backward can run
// them in reverse. It is used by one goroutine at a time (the operations
// themselves run in parallel inside).
//
// A Tape owns the values and gradients of the Vars its operations return;
// Reset hands those buffers back for the next step to reuse, so they are
// valid only until then. Parameters and Consts are never touched by Reset.
// Backward reads the operations' inputs again, so their values must not
// change between the forward pass and Backward (update parameters after it).
type Tape struct {
	nodes []node
	used  [][]float32         // buffers handed out since the last Reset
	free  map[int][][]float32 // buffers returned by Reset, by length
	// local, on a tape from NewLocalTape, holds the gradients of the
	// parameters, which Backward adds here instead of into their Grad.
	local map[*Var]*nn.Tensor
}

// NewTape returns an empty tape.
func NewTape() *Tape { return &Tape{free: map[int][][]float32{}} }

// NewLocalTape returns an empty tape that keeps the parameters' gradients to
// itself: Backward adds them into buffers of the tape's, not into the
// parameters' Grad, so that several local tapes may run forward and
// backward passes over the same parameters at once, one goroutine each
// (data parallelism: each tape takes a shard of the batch). [Params.Gather]
// then adds the tapes' gradients into the parameters' Grad, in a fixed
// order. Reset clears them.
func NewLocalTape() *Tape {
	return &Tape{free: map[int][][]float32{}, local: map[*Var]*nn.Tensor{}}
}

// Reset forgets the recorded operations and recycles every buffer the tape
// handed out: values and gradients of its results become invalid.
func (tp *Tape) Reset() {
	// Keep only the buffers of the step just done: a step of other shapes
	// (a new resolution, a shorter prompt) must not pin the old ones.
	clear(tp.free)
	for _, d := range tp.used {
		tp.free[len(d)] = append(tp.free[len(d)], d)
	}
	tp.used = tp.used[:0]
	clear(tp.local)
	clear(tp.nodes) // drop the closures so their captures can be collected
	tp.nodes = tp.nodes[:0]
}

// Backward computes the gradient of loss, a one-element Var, with respect to
// every parameter it depends on, adding into their Grad.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Len() != 1 {
		panic(fmt.Sprintf("grad.Backward: loss has shape %v, want one element", loss.Value.Shape))
	}
	tp.backward(loss, []float32{1})
}

// backward seeds out's gradient with seed (out's shape) and runs the tape
// back to front. Nodes whose result received no gradient are skipped.
func (tp *Tape) backward(out *Var, seed []float32) {
	if !out.needs {
		return
	}
	g := tp.gradOf(out)
	for i, s := range seed {
		g[i] += s
	}
	for i := len(tp.nodes) - 1; i >= 0; i-- {
		if n := tp.nodes[i]; n.out.Grad != nil {
			n.back()
		}
	}
}

// buf returns a float32 buffer of length n, reused from an earlier step when
// one of that length was Reset. Its contents are zero when zero is set and
// arbitrary otherwise (for buffers the caller overwrites entirely).
func (tp *Tape) buf(n int, zero bool) []float32 {
	var d []float32
	if l := tp.free[n]; len(l) > 0 {
		d = l[len(l)-1]
		tp.free[n] = l[:len(l)-1]
		if zero {
			clear(d)
		}
	} else {
		d = make([]float32, n)
	}
	tp.used = append(tp.used, d)
	return d
}

// tensor returns a tape-owned tensor of the given shape (see buf for zero).
func (tp *Tape) tensor(shape []int, zero bool) *nn.Tensor {
	return &nn.Tensor{Shape: append([]int(nil), shape...), Data: tp.buf(nn.Numel(shape), zero)}
}

// result returns the Var for an operation's output of the given shape (value
// buffer not zeroed), needing a gradient when any input does.
func (tp *Tape) result(shape []int, inputs ...*Var) *Var {
	return tp.wrap(tp.tensor(shape, false), inputs...)
}

// wrap makes t the output Var of an operation over inputs.
func (tp *Tape) wrap(t *nn.Tensor, inputs ...*Var) *Var {
	v := &Var{Value: t}
	for _, in := range inputs {
		if in != nil && in.needs {
			v.needs = true
		}
	}
	return v
}

// record remembers back as out's gradient rule, if out needs a gradient.
func (tp *Tape) record(out *Var, back func()) {
	if out.needs {
		tp.nodes = append(tp.nodes, node{out, back})
	}
}

// gradOf returns v's gradient data, allocating it zeroed on first use:
// from the tape for intermediate results and for parameters on a local tape,
// once and for good for parameters otherwise.
func (tp *Tape) gradOf(v *Var) []float32 {
	if v.param && tp.local != nil {
		g := tp.local[v]
		if g == nil {
			g = tp.tensor(v.Value.Shape, true)
			tp.local[v] = g
		}
		return g.Data
	}
	if v.Grad == nil {
		if v.param {
			v.Grad = nn.New(v.Value.Shape...)
		} else {
			v.Grad = tp.tensor(v.Value.Shape, true)
		}
	}
	return v.Grad.Data
}

// accumulate adds g, a fresh tensor of v's shape that nothing else holds,
// into v's gradient, adopting it as the gradient when v has none yet.
func (tp *Tape) accumulate(v *Var, g *nn.Tensor) {
	if v.Grad == nil && !v.param {
		v.Grad = g
		return
	}
	addTo(tp.gradOf(v), g.Data)
}

// wants reports whether a gradient must be computed for v.
func wants(v *Var) bool { return v != nil && v.needs }

// mustShape panics when a and b differ, naming the operation.
func mustShape(op string, a, b []int) {
	if !nn.SameShape(a, b) {
		panic(fmt.Sprintf("grad.%s: shapes %v and %v differ", op, a, b))
	}
}

// addTo adds src into dst elementwise, in parallel for long slices.
func addTo(dst, src []float32) {
	nn.Parallel(len(dst), 1<<15, func(lo, hi int) { nn.AddTo(dst[lo:hi], src[lo:hi]) })
}
