package lora

import (
	"errors"
	"fmt"

	"github.com/sdgo/sdgo/nn"
)

// Delta returns the module's change of a weight of the given shape,
// including the module's own scale s (alpha/rank where the kind has one)
// but not the user's multiplier: Δ as a flat slice in the weight's
// row-major order. The products are computed in float32 by nn.MatMul
// (within ~1e-7 of float64). It fails, naming the file's tensor, when the
// factors do not make a weight of that shape: an adapter for another model.
func (m *Module) Delta(shape []int) ([]float32, error) {
	if err := m.Check(shape); err != nil {
		return nil, err
	}
	out := shape[0]
	cols := nn.Numel(shape) / out // in·kh·kw
	switch m.Kind {
	case LoRA:
		down, up := m.Parts["down"], m.Parts["up"]
		r := down.Shape[0]
		d := make([]float32, out*cols)
		nn.MatMul(false, false, out, cols, r, up.Data, r, down.Data, cols, 0, d, cols) // (out, r)·(r, cols)
		scale(d, m.scale(r))
		return d, nil
	case LoHa:
		w1a, w1b := m.Parts["hada_w1_a"], m.Parts["hada_w1_b"]
		w2a, w2b := m.Parts["hada_w2_a"], m.Parts["hada_w2_b"]
		r1, r2 := w1b.Shape[0], w2b.Shape[0]
		d := make([]float32, out*cols)
		nn.MatMul(false, false, out, cols, r1, w1a.Data, r1, w1b.Data, cols, 0, d, cols) // (out, r1)·(r1, cols)
		e := make([]float32, out*cols)
		nn.MatMul(false, false, out, cols, r2, w2a.Data, r2, w2b.Data, cols, 0, e, cols) // (out, r2)·(r2, cols)
		s := float32(m.scale(r1))
		for i := range d {
			d[i] *= e[i] * s
		}
		return d, nil
	case LoKr:
		return m.kron(out, cols)
	}
	return append([]float32(nil), m.Parts["diff"].Data...), nil // Full
}

// addTo adds mult·Δ to acc, a weight of shape. A LoRA's Δ is never
// formed: the product up·down is accumulated into acc by one nn.MatMul,
// with up scaled by mult·s first.
func (m *Module) addTo(acc []float32, shape []int, mult float64) error {
	if m.Kind != LoRA {
		d, err := m.Delta(shape)
		if err != nil {
			return err
		}
		f := float32(mult)
		for i, v := range d {
			acc[i] += f * v
		}
		return nil
	}
	if err := m.Check(shape); err != nil {
		return err
	}
	out := shape[0]
	cols := nn.Numel(shape) / out // in·kh·kw
	down, up := m.Parts["down"], m.Parts["up"]
	r := down.Shape[0]
	f := float32(mult * m.scale(r))
	scaled := make([]float32, len(up.Data)) // (out, r)
	for i, v := range up.Data {
		scaled[i] = f * v
	}
	nn.MatMul(false, false, out, cols, r, scaled, r, down.Data, cols, 1, acc, cols) // acc += (out, r)·(r, cols)
	return nil
}

// Check reports whether the module's factors make a weight of shape,
// naming the file's tensor when they do not (an adapter for another model).
func (m *Module) Check(shape []int) error {
	if len(shape) < 1 || shape[0] < 1 {
		return fmt.Errorf("module %s: target shape %v", m.Key, shape)
	}
	out := shape[0]
	cols := nn.Numel(shape) / out // in·kh·kw
	// fits checks that part holds rows×n elements with rows leading.
	fits := func(part string, rows, n int) error {
		t := m.Parts[part]
		if t.Shape[0] != rows || nn.Numel(t.Shape) != rows*n {
			return fmt.Errorf("tensor %s: shape %v does not fit the model's weight %v (want (%d, %d) in all): an adapter for another model?",
				m.Names[part], t.Shape, shape, rows, n)
		}
		return nil
	}
	switch m.Kind {
	case LoRA:
		r := m.Parts["down"].Shape[0]
		return errors.Join(fits("up", out, r), fits("down", r, cols))
	case LoHa:
		r1, r2 := m.Parts["hada_w1_b"].Shape[0], m.Parts["hada_w2_b"].Shape[0]
		return errors.Join(fits("hada_w1_a", out, r1), fits("hada_w1_b", r1, cols), fits("hada_w2_a", out, r2), fits("hada_w2_b", r2, cols))
	case LoKr:
		p, q, err := m.factorShape("lokr_w1", "lokr_w1_a", "lokr_w1_b")
		if err != nil {
			return err
		}
		b, dk, err := m.factorShape("lokr_w2", "lokr_w2_a", "lokr_w2_b")
		if err != nil {
			return err
		}
		if p*b != out || q*dk != cols {
			part := "lokr_w2"
			if m.Parts[part] == nil {
				part = "lokr_w2_a"
			}
			return fmt.Errorf("tensor %s: kron of (%d, %d) and (%d, %d) does not fit the model's weight %v: an adapter for another model?",
				m.Names[part], p, q, b, dk, shape)
		}
		return nil
	case Full:
		return fits("diff", out, cols)
	}
	return fmt.Errorf("module %s: unknown kind %v", m.Key, m.Kind)
}

// factorShape is the matrix shape (rows, cols) of a LoKr factor: the full
// part, or the product of a (rows, r) and b (r, cols).
func (m *Module) factorShape(full, a, b string) (rows, cols int, err error) {
	if t := m.Parts[full]; t != nil {
		return t.Shape[0], nn.Numel(t.Shape) / t.Shape[0], nil
	}
	ta, tb := m.Parts[a], m.Parts[b]
	r := tb.Shape[0]
	if nn.Numel(ta.Shape) != ta.Shape[0]*r {
		return 0, 0, fmt.Errorf("tensor %s: shape %v does not match %s %v", m.Names[a], ta.Shape, m.Names[b], tb.Shape)
	}
	return ta.Shape[0], nn.Numel(tb.Shape) / r, nil
}

// scale is alpha/rank, or 1 when the file stores no alpha.
func (m *Module) scale(rank int) float64 {
	if !m.HasAlpha || rank == 0 {
		return 1
	}
	return m.Alpha / float64(rank)
}

func scale(d []float32, s float64) {
	if s == 1 {
		return
	}
	f := float32(s)
	for i := range d {
		d[i] *= f
	}
}

// factor returns a LoKr factor as a matrix (Check has checked its
// shape): the full part, or the product of a and b, with the rank of the
// product (0 for a full factor).
func (m *Module) factor(full, a, b string) (data []float32, rank int) {
	if t := m.Parts[full]; t != nil {
		return t.Data, 0
	}
	ta, tb := m.Parts[a], m.Parts[b]
	rank = tb.Shape[0]
	rows, cols := ta.Shape[0], nn.Numel(tb.Shape)/rank
	data = make([]float32, rows*cols)
	nn.MatMul(false, false, rows, cols, rank, ta.Data, rank, tb.Data, cols, 0, data, cols) // (rows, r)·(r, cols)
	return data, rank
}

// kron is LoKr's Δ = s · w1 ⊗ w2 for a weight (out, cols): with w1 (p, q)
// and w2 (out/p, cols/q) (a 4-D w2 (b, d, kh, kw) seen as (b, d·kh·kw)),
// Δ[i·b+j, k·dK+l] = w1[i, k]·w2[j, l]. s = alpha/rank when a factor is a
// product (LyCORIS), else 1.
func (m *Module) kron(out, cols int) ([]float32, error) {
	p, q, _ := m.factorShape("lokr_w1", "lokr_w1_a", "lokr_w1_b")
	w1, r1 := m.factor("lokr_w1", "lokr_w1_a", "lokr_w1_b")
	w2, r2 := m.factor("lokr_w2", "lokr_w2_a", "lokr_w2_b")
	b, dk := out/p, cols/q
	s := 1.0
	switch {
	case r1 > 0:
		s = m.scale(r1)
	case r2 > 0:
		s = m.scale(r2)
	}
	d := make([]float32, out*cols)
	for i := range p {
		for j := range b {
			row := d[(i*b+j)*cols : (i*b+j+1)*cols] // row i·b+j of Δ
			for k := range q {
				a := w1[i*q+k] * float32(s)
				src := w2[j*dk : (j+1)*dk]
				dst := row[k*dk : (k+1)*dk]
				for l, v := range src {
					dst[l] = a * v
				}
			}
		}
	}
	return d, nil
}
