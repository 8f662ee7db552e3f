package bind

import (
	"math"
	"slices"
)

// mapEps keeps a normalised map's logarithm finite where attention is zero.
const mapEps = 1e-8

// tokenGroup is a group as token positions: modifiers first, the noun last.
type tokenGroup []int

// synGenLoss returns SynGen's loss on the maps a (N pixels, M tokens,
// row-major: a[n*m+j] is token j's attention at pixel n) for the groups,
// the prompt's tokens being at positions words (every token between the
// start and end tokens: a group's "outside" is the rest of them), and its
// gradient with respect to a (same layout). Groups without modifiers add
// nothing, as in the reference implementation. See the package doc
// for the loss. Each map is normalised over the pixels, p = (a+ε)/Σ(a+ε);
// D(p, q) = ½ Σ (p−q)(ln p − ln q), whose gradient in p is
// ½ (ln p/q + 1 − q/p); through the normalisation,
// ∂L/∂a_n = (∂L/∂p_n − Σ_k p_k ∂L/∂p_k) / Σ(a+ε).
func synGenLoss(a []float32, n, m int, groups []tokenGroup, words []int) (float64, []float32) {
	used := map[int]bool{}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		for _, j := range g {
			used[j] = true
		}
		for _, j := range words {
			used[j] = true
		}
	}
	// Normalised maps of the tokens the loss reads.
	p := map[int][]float64{}
	sum := map[int]float64{}
	for j := range used {
		v := make([]float64, n)
		s := 0.0
		for i := range n {
			v[i] = float64(a[i*m+j]) + mapEps
			s += v[i]
		}
		for i := range v {
			v[i] /= s
		}
		p[j], sum[j] = v, s
	}
	dp := map[int][]float64{}
	for j := range used {
		dp[j] = make([]float64, n)
	}
	// d adds w·D(p_x, p_y) to the loss and its gradient.
	loss := 0.0
	d := func(x, y int, w float64) {
		px, py := p[x], p[y]
		gx, gy := dp[x], dp[y]
		for i := range n {
			lr := math.Log(px[i] / py[i])
			loss += w * 0.5 * (px[i] - py[i]) * lr
			gx[i] += w * 0.5 * (lr + 1 - py[i]/px[i])
			gy[i] += w * 0.5 * (-lr + 1 - px[i]/py[i])
		}
	}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		noun, mods := g[len(g)-1], g[:len(g)-1]
		var outside []int
		for _, j := range words {
			if !slices.Contains(g, j) {
				outside = append(outside, j)
			}
		}
		for _, mod := range mods {
			d(mod, noun, 1)
			for _, o := range outside {
				d(mod, o, -0.5/float64(len(outside)))
				d(noun, o, -0.5/float64(len(outside)))
			}
		}
	}
	grad := make([]float32, n*m)
	for j := range used {
		pj, gj := p[j], dp[j]
		dot := 0.0
		for i := range n {
			dot += pj[i] * gj[i]
		}
		for i := range n {
			grad[i*m+j] = float32((gj[i] - dot) / sum[j])
		}
	}
	return loss, grad
}
