// Package nn holds the shared math of sdgo: a small tensor type and the
// forward operations Stable Diffusion needs (linear, convolution, group and
// layer norm, softmax, activations, attention, resampling, timestep
// embeddings).
//
// Tensors are row-major with a flat []float32, and images are NCHW: element
// (n, c, h, w) of a (N, C, H, W) tensor is Data[((n*C+c)*H+h)*W+w].
// Every matrix product goes through one entry point, [MatMul] (or
// [MatMulF16B] when one operand is a half-precision weight, see
// [Tensor.Half]), so the performance work can swap its kernel in one place.
//
// The elementwise operations compute in float32 (exp and erf by polynomials,
// fastmath.go) within a few float32 ulps of float64; on amd64 their loops run
// AVX2 kernels (exp_amd64.s) whose reference is the plain Go loop beside each
// call in simd.go (the build tag noasm forces it).
package nn

import (
	"fmt"
	"strings"

	"github.com/x448/float16"
)

// Tensor is a dense row-major float32 tensor.
type Tensor struct {
	Shape []int
	Data  []float32

	// Half, when not nil, holds the tensor's values instead of Data (which
	// is then nil) as IEEE 754 half-precision bits: model weights kept in
	// half the memory, as fp16 checkpoints store them. Only the weight
	// argument of Linear, LinearInto, Conv2d and Conv2dPad may be such a
	// tensor; the products convert its values exactly. See ToHalf.
	Half []uint16
}

// ToHalf converts t's values to half precision in place (rounding to
// nearest, exact for values read from an fp16 checkpoint), drops the float32
// copy and returns t. A tensor already in half precision is unchanged.
func (t *Tensor) ToHalf() *Tensor {
	if t.Half != nil || t.Data == nil {
		return t
	}
	h := make([]uint16, len(t.Data))
	for i, v := range t.Data {
		h[i] = float16.Fromfloat32(v).Bits()
	}
	t.Half, t.Data = h, nil
	return t
}

// Floats returns t's values as float32: Data itself, or for a half-precision
// tensor a new slice of the converted values.
func (t *Tensor) Floats() []float32 {
	if t.Half == nil {
		return t.Data
	}
	out := make([]float32, len(t.Half))
	halfToFloat(out, t.Half)
	return out
}

// FloatsInto writes t's values as float32 into dst, which must hold
// t.Len() values, and returns dst[:t.Len()]: Floats into a buffer the
// caller reuses, without allocating.
func (t *Tensor) FloatsInto(dst []float32) []float32 {
	dst = dst[:t.Len()]
	if t.Half == nil {
		copy(dst, t.Data)
	} else {
		halfToFloat(dst, t.Half)
	}
	return dst
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// From wraps data as a tensor of the given shape; it panics when the sizes
// disagree, which is a programming error, not bad input.
func From(data []float32, shape ...int) *Tensor {
	if Numel(shape) != len(data) {
		panic(fmt.Sprintf("nn.From: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements of t.
func (t *Tensor) Len() int {
	if t.Half != nil {
		return len(t.Half)
	}
	return len(t.Data)
}

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	if t.Half != nil {
		c.Data, c.Half = nil, append([]uint16(nil), t.Half...)
	}
	return c
}

// Reshape returns a tensor sharing t's data with a new shape. One dimension
// may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	infer, n := -1, 1
	for i, d := range s {
		if d == -1 {
			infer = i
		} else {
			n *= d
		}
	}
	if infer >= 0 && n > 0 {
		s[infer] = t.Len() / n
	}
	if Numel(s) != t.Len() {
		panic(fmt.Sprintf("nn.Reshape: cannot view %v as %v", t.Shape, shape))
	}
	return &Tensor{Shape: s, Data: t.Data, Half: t.Half}
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// String prints the shape and the first few values, for debugging.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v[", t.Shape)
	for i, v := range t.Floats()[:min(t.Len(), 7)] {
		if i == 6 {
			b.WriteString(" …")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.5g", v)
	}
	b.WriteByte(']')
	return b.String()
}
