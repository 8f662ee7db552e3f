package lora

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
)

// Use is an adapter with the multiplier it is applied with.
type Use struct {
	Adapter    *Adapter
	Multiplier float64
	// UNet, when set, is the multiplier of the U-Net's modules, Multiplier
	// then being the text encoder's (AUTOMATIC1111's <lora:NAME:TE:UNET>).
	UNet *float64
}

// multiplier is the multiplier of the weight named w.
func (u Use) multiplier(w string) float64 {
	if u.UNet != nil && strings.HasPrefix(w, UNetPrefix) {
		return *u.UNet
	}
	return u.Multiplier
}

// Patch records the weights [Apply] replaced, to undo it.
type Patch struct {
	saved map[*nn.Tensor]nn.Tensor
	// Weights is the number of weights changed; Bytes the memory of their
	// private copies.
	Weights int
	Bytes   int64
	// Skipped counts the modules left out (with skipUnknown).
	Skipped int
}

// Undo restores every weight the patch changed to its exact former value
// (the same memory: a memory-mapped weight is mapped again, not copied).
// Undoing twice, or a nil patch, does nothing.
func (p *Patch) Undo() {
	if p == nil {
		return
	}
	for t, old := range p.saved {
		*t = old
	}
	p.saved = nil
}

// Apply adds Σ m·Δ of every module of uses to the model weights ix indexes:
// W' = W + Σ_i m_i·Δ_i, summed in float32 (within ~1e-7 of float64) and
// rounded once to the weight's precision (a half-precision weight stays
// half precision). Only
// the touched weights get new memory; the model's tensors are changed in
// place (same pointers), so the model sees the new values at once. Adapters
// of multiplier 0 change nothing.
//
// A module whose key names no weight of the model, whose factors do not fit
// the weight's shape (an adapter for another model family), or a tensor of
// an unknown kind, is an error naming the file and the tensor; with
// skipUnknown they are left out and counted in Patch.Skipped instead.
// On error nothing is changed.
func Apply(ix *Index, uses []Use, skipUnknown bool) (*Patch, error) {
	type term struct {
		mod *Module
		m   float64
	}
	targets := map[string][]term{}
	var order []string
	var problems []error
	skipped := 0
	for _, u := range uses {
		a := u.Adapter
		for _, n := range a.Unknown {
			skipped++
			problems = append(problems, fmt.Errorf("lora %s: tensor %s: not a LoRA, LoHa or LoKr part this reader knows", a.Path, n))
		}
		for _, mod := range a.Modules {
			w := ix.Resolve(mod.Key)
			if w == "" {
				skipped++
				problems = append(problems, fmt.Errorf("lora %s: tensor %s: no module %q in this model", a.Path, firstName(mod), mod.Key))
				continue
			}
			if err := mod.Check(ix.Weight(w).Shape); err != nil {
				skipped++
				problems = append(problems, fmt.Errorf("lora %s: %w", a.Path, err))
				continue
			}
			mult := u.multiplier(w)
			if mult == 0 {
				continue
			}
			if targets[w] == nil {
				order = append(order, w)
			}
			targets[w] = append(targets[w], term{mod, mult})
		}
	}
	if len(problems) > 0 && !skipUnknown {
		const show = 4
		more := ""
		if len(problems) > show {
			more = fmt.Sprintf(" (and %d more; --lora-skip-unknown skips them)", len(problems)-show)
			problems = problems[:show]
		}
		return nil, fmt.Errorf("%w%s", errors.Join(problems...), more)
	}
	sort.Strings(order)
	p := &Patch{saved: map[*nn.Tensor]nn.Tensor{}, Skipped: skipped}
	// A half-precision weight is summed in one float32 buffer reused from
	// weight to weight, so that the merge's peak memory is the private
	// half-precision copies and one weight's float32 values, not a float32
	// copy of every weight left to the garbage collector.
	largest := 0
	for _, w := range order {
		if t := ix.Weight(w); t.Half != nil {
			largest = max(largest, len(t.Half))
		}
	}
	scratch := make([]float32, largest)
	read := 0 // bytes of half-precision weights read since Index.Release
	if ix.Release != nil {
		defer ix.Release()
	}
	for _, w := range order {
		t := ix.Weight(w)
		// acc = W + Σ m·Δ in float32 (within ~1e-7 of float64).
		var acc []float32
		if t.Half != nil {
			acc = t.FloatsInto(scratch) // converted exactly
			if read += 2 * len(t.Half); read >= releaseEvery && ix.Release != nil {
				ix.Release()
				read = 0
			}
		} else {
			acc = append([]float32(nil), t.Data...) // the weight's new private data
		}
		for _, tm := range targets[w] {
			if err := tm.mod.addTo(acc, t.Shape, tm.m); err != nil { // checked above
				p.Undo()
				return nil, err
			}
		}
		nt := nn.Tensor{Shape: t.Shape, Data: acc}
		if t.Half != nil {
			nt.Data, nt.Half = nil, make([]uint16, len(acc))
			nn.Parallel(len(acc), 1<<16, func(lo, hi int) {
				for i, v := range acc[lo:hi] {
					nt.Half[lo+i] = toHalf(v)
				}
			})
			p.Bytes += int64(2 * len(acc))
		} else {
			p.Bytes += int64(4 * len(acc))
		}
		p.saved[t] = *t
		*t = nt
		p.Weights++
	}
	return p, nil
}

// firstName is one of a module's tensor names in the file, for errors.
func firstName(m *Module) string {
	var names []string
	for _, n := range m.Names {
		names = append(names, n)
	}
	if len(names) == 0 {
		return m.Key
	}
	sort.Strings(names)
	return names[0]
}
