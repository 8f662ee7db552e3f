package vae

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/nn/layer"
)

// Tiling sets the tiles of [Model.DecodeTiled] and [Model.EncodeTiled].
//
// Only the high-resolution part of the network runs tile by tile, the
// levels whose activations exceed Budget: for SD these are the decoder's
// last up blocks and the encoder's first down blocks, 128 to 512 channels
// at up to full resolution. The rest, including the mid block's attention
// over every position, runs on the whole image. Tiles overlap, and each
// output pixel of an overlap is a weighted mean of the tiles covering it,
// with weights falling linearly towards the tile's edge and 0 in the outer
// quarter of the overlap, where the tile's convolutions saw zero padding
// instead of image, so no seams show.
//
// A GroupNorm normalises with statistics of the whole image, which one tile
// does not see. With StatsPasses 0 each tile uses its own statistics, as
// diffusers' and ComfyUI's tiled VAEs do; neighbouring tiles then differ in
// brightness and colour, which the blend hides but does not remove. Each
// stats pass runs every tile once more only to gather, for every GroupNorm,
// the whole image's mean and variance (each pixel counted once, with the
// blend weights); the next pass normalises every tile with them. Pass p
// makes the statistics of the first p GroupNorms exact (the later ones
// depend on the earlier ones); the first pass brings most of the gain (see
// tiled_test.go for figures).
type Tiling struct {
	Tile        int // tile side in latent pixels (image pixels: f times more)
	Overlap     int // overlap between neighbouring tiles in latent pixels, < Tile
	StatsPasses int // passes gathering whole-image GroupNorm statistics before the final one

	// Budget is the largest activation, in float32s, that a level may
	// compute on the whole image instead of in tiles. 0 means the largest
	// activation of one tile (BlockOut[0] channels at full tile resolution),
	// so that tiling never raises the peak memory above one tile's.
	Budget int
}

// DefaultTiling is diffusers' tile (the training size, SampleSize/f latent
// pixels: 64 for SD 1.5, overlapping by a quarter) with one stats pass.
func (m *Model) DefaultTiling() Tiling {
	t := max(1, m.Config.SampleSize/m.Config.ScaleFactor())
	return Tiling{Tile: t, Overlap: t / 4, StatsPasses: 1}
}

func (t Tiling) validate() error {
	if t.Tile <= 0 || t.Overlap < 0 || t.Overlap >= t.Tile || t.StatsPasses < 0 || t.Budget < 0 {
		return fmt.Errorf("vae: tiling %+v: want 0 ≤ overlap < tile, stats passes ≥ 0, budget ≥ 0", t)
	}
	return nil
}

// budget is t.Budget, or one tile's largest activation for batch b.
func (m *Model) budget(t Tiling, b int) int {
	if t.Budget > 0 {
		return t.Budget
	}
	side := t.Tile * m.Config.ScaleFactor()
	return b * m.Config.BlockOut[0] * side * side
}

// DecodeTiled is [Model.Decode] with the high-resolution up blocks run tile
// by tile, so that their memory is bounded by the tile size whatever the
// image size. (The latent-resolution part runs whole: for SD a 1024×1024
// image's mid block holds 512×128×128 floats, 32 MB per activation.)
func (m *Model) DecodeTiled(z *nn.Tensor, t Tiling) (*nn.Tensor, error) {
	if err := m.checkLatent(z); err != nil {
		return nil, err
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	d, n, f := m.Decoder, m.Config.Levels(), m.Config.ScaleFactor()
	h := d.Mid(m.postQuant(z)) // (B, L, h, w) -> (B, C, h, w), whole
	b, lh, lw := h.Shape[0], h.Shape[2], h.Shape[3]

	// 1. Whole image: the up blocks whose output fits the budget.
	k, r, budget := 0, 1, m.budget(t, b) // r: h's resolution over the latent's
	for k < n-1 && b*m.Config.BlockOut[n-1-k]*(lh*2*r)*(lw*2*r) <= budget {
		h = d.upBlocks(h, nil, k, k+1) // (B, C, H, W) -> (B, C', 2H, 2W)
		k, r = k+1, 2*r
	}

	// 2. Tiles: the rest, after StatsPasses passes gathering statistics.
	ys, xs := spans(lh, t.Tile, t.Overlap), spans(lw, t.Tile, t.Overlap)
	ns := &normState{}
	for pass := 0; ; pass++ {
		final := pass == t.StatsPasses
		ns.final = final
		var bl *blender
		if final {
			bl = newBlender(nn.New(b, m.Config.OutChannels, lh*f, lw*f))
		}
		for _, ty := range ys {
			for _, tx := range xs {
				ns.startTile(ty, tx)
				tile := crop(h, ty.scale(r), tx.scale(r))    // (B, C, th·r, tw·r)
				img := d.out(d.upBlocks(tile, ns, k, n), ns) // -> (B, Out, th·f, tw·f)
				if final {
					bl.add(img, ty.scale(f), tx.scale(f))
				}
			}
		}
		if final {
			return bl.finish(), nil
		}
		ns.endPass()
	}
}

// EncodeTiled is [Model.Encode] with the high-resolution down blocks run
// tile by tile.
func (m *Model) EncodeTiled(x *nn.Tensor, t Tiling) (*LatentDist, error) {
	if err := m.checkImage(x); err != nil {
		return nil, err
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	e, n, f := m.Encoder, m.Config.Levels(), m.Config.ScaleFactor()
	b, lh, lw := x.Shape[0], x.Shape[2]/f, x.Shape[3]/f

	// Levels [0, k) run in tiles, [k, n) whole: k is the first level whose
	// activations, (H/2^k)·(W/2^k) at up to BlockOut[k] channels, fit the budget.
	k, budget := 1, m.budget(t, b)
	for ; k < n; k++ {
		side := f >> k // the level's resolution over the latent's
		if b*max(m.Config.BlockOut[k-1], m.Config.BlockOut[k])*(lh*side)*(lw*side) <= budget {
			break
		}
	}
	r := f >> min(k, n-1) // resolution of level k's input over the latent's

	ys, xs := spans(lh, t.Tile, t.Overlap), spans(lw, t.Tile, t.Overlap)
	ns := &normState{}
	for pass := 0; ; pass++ {
		final := pass == t.StatsPasses
		ns.final = final
		var bl *blender
		if final {
			bl = newBlender(nn.New(b, m.Config.BlockOut[k-1], lh*r, lw*r))
		}
		// Tiles start at multiples of f latent pixels, so each tile's
		// downsampling grid is the whole image's.
		for _, ty := range ys {
			for _, tx := range xs {
				ns.startTile(ty, tx)
				tile := crop(x, ty.scale(f), tx.scale(f))  // (B, In, th·f, tw·f)
				feat := e.downBlocks(e.in(tile), ns, 0, k) // -> (B, C, th·r, tw·r)
				if final {
					bl.add(feat, ty.scale(r), tx.scale(r))
				}
			}
		}
		if final {
			h := e.downBlocks(bl.finish(), nil, k, n) // whole: -> (B, BlockOut[n-1], h, w)
			return m.moments(e.Head(h)), nil          // whole: -> (B, 2L, h, w)
		}
		ns.endPass()
	}
}

// normState carries GroupNorm statistics across the tiles of a tiled pass:
// it gathers each GroupNorm's weighted sums over all tiles, and, once a pass
// has gathered them, normalises the next pass's tiles with them. A nil
// *normState is the ordinary GroupNorm.
type normState struct {
	ty, tx span          // the current tile, in latent pixels
	use    []*groupStats // whole-image statistics from the last pass, per GroupNorm call; nil in the first pass
	gather []*groupStats // this pass's sums, per GroupNorm call
	i      int           // the next GroupNorm call of this tile
	final  bool          // the last pass: use the statistics, gather none
}

// groupStats holds, per (batch, group), the blend-weighted sums of x and x²
// and of the weights, and the mean and 1/√(var+eps) made from them.
type groupStats struct {
	sum, sq, n []float64
	mean, inv  []float64
}

// norm applies g to x (B, C, H, W): plain layer.GroupNorm when ns is nil.
func (ns *normState) norm(g layer.GroupNorm, x *nn.Tensor) *nn.Tensor {
	if ns == nil {
		return g.Forward(x)
	}
	k := ns.i
	ns.i++
	if !ns.final {
		ns.accumulate(k, g.Groups, x)
	}
	if ns.use == nil {
		return g.Forward(x) // first pass: the tile's own statistics
	}
	return groupNormWith(x, g, ns.use[k].mean, ns.use[k].inv)
}

// normSiLUConv is c(SiLU(g(x))), fused when the tile's own statistics are
// used (always when ns is nil); with whole-image statistics from an earlier
// pass the normalised tile is made first (tiles are small).
func (ns *normState) normSiLUConv(g layer.GroupNorm, c layer.Conv2d, x *nn.Tensor) *nn.Tensor {
	if ns == nil {
		return c.ForwardNormSiLU(g, x)
	}
	k := ns.i
	ns.i++
	if !ns.final {
		ns.accumulate(k, g.Groups, x)
	}
	if ns.use == nil {
		return c.ForwardNormSiLU(g, x) // first pass: the tile's own statistics
	}
	return c.Forward(nn.SiLU(groupNormWith(x, g, ns.use[k].mean, ns.use[k].inv)))
}

// accumulate adds the tile's blend-weighted sums of x (B, C, H, W) to the
// statistics of GroupNorm call k.
func (ns *normState) accumulate(k, groups int, x *nn.Tensor) {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if k == len(ns.gather) {
		ns.gather = append(ns.gather, &groupStats{
			sum: make([]float64, b*groups), sq: make([]float64, b*groups), n: make([]float64, b*groups)})
	}
	// The tile's blend weights at this activation's resolution.
	ry, rx := h/(ns.ty.Hi-ns.ty.Lo), w/(ns.tx.Hi-ns.tx.Lo)
	ty, tx := ns.ty.scale(ry), ns.tx.scale(rx)
	wy, wx := make([]float64, h), make([]float64, w)
	for i := range wy {
		wy[i] = float64(ty.weight(ty.Lo + i))
	}
	for i := range wx {
		wx[i] = float64(tx.weight(tx.Lo + i))
	}
	st, cpg := ns.gather[k], c/groups
	nn.Parallel(b*groups, 1, func(lo, hi int) {
		for bg := lo; bg < hi; bg++ { // (batch, group) bg holds channels [g·cpg, (g+1)·cpg) of its batch: contiguous
			seg := x.Data[bg*cpg*h*w : (bg+1)*cpg*h*w]
			var s, sq, n float64
			for ch := 0; ch < cpg; ch++ {
				for r := 0; r < h; r++ {
					row := seg[(ch*h+r)*w : (ch*h+r+1)*w]
					for q, v := range row {
						wt := wy[r] * wx[q]
						s += wt * float64(v)
						sq += wt * float64(v) * float64(v)
						n += wt
					}
				}
			}
			st.sum[bg] += s
			st.sq[bg] += sq
			st.n[bg] += n
		}
	})
}

// endPass turns the gathered sums into statistics for the next pass.
func (ns *normState) endPass() {
	for _, st := range ns.gather {
		st.mean, st.inv = make([]float64, len(st.n)), make([]float64, len(st.n))
		for i, n := range st.n {
			mean := st.sum[i] / n
			v := max(st.sq[i]/n-mean*mean, 0) // biased variance, as GroupNorm uses
			st.mean[i], st.inv[i] = mean, 1/math.Sqrt(v+normEps)
		}
	}
	ns.use, ns.gather = ns.gather, nil
}

// startTile makes ty × tx the current tile and restarts its GroupNorm count.
func (ns *normState) startTile(ty, tx span) { ns.ty, ns.tx, ns.i = ty, tx, 0 }

// groupNormWith is GroupNorm with given statistics per (batch, group):
// y = (x − mean)·inv·weight + bias.
func groupNormWith(x *nn.Tensor, g layer.GroupNorm, mean, inv []float64) *nn.Tensor {
	y := nn.New(x.Shape...)
	b, c := x.Shape[0], x.Shape[1]
	spatial := len(x.Data) / (b * c)
	cpg := c / g.Groups
	nn.Parallel(b*g.Groups, 1, func(lo, hi int) {
		for bg := lo; bg < hi; bg++ {
			for k := 0; k < cpg; k++ {
				ch := (bg%g.Groups)*cpg + k
				scale := float32(inv[bg]) * g.Weight.Data[ch]
				shift := g.Bias.Data[ch] - float32(mean[bg]*inv[bg])*g.Weight.Data[ch]
				off := (bg*cpg + k) * spatial
				for i, v := range x.Data[off : off+spatial] {
					y.Data[off+i] = v*scale + shift
				}
			}
		}
	})
	return y
}

// span is one tile's extent [Lo, Hi) along an axis, and the ramps where it
// overlaps its neighbours: [Lo, Lo+RampLo) and [Hi−RampHi, Hi).
type span struct{ Lo, Hi, RampLo, RampHi int }

func (s span) scale(f int) span { return span{s.Lo * f, s.Hi * f, s.RampLo * f, s.RampHi * f} }

// spans covers [0, n) with tiles of size tile overlapping by at least
// overlap, spread evenly so that the last tile ends at n.
func spans(n, tile, overlap int) []span {
	if n <= tile {
		return []span{{0, n, 0, 0}}
	}
	stride := tile - overlap
	count := (n - overlap + stride - 1) / stride // the fewest with (count−1)·stride + tile ≥ n
	s := make([]span, count)
	for i := range s {
		lo := i * (n - tile) / (count - 1) // even spacing, first at 0, last at n−tile
		s[i] = span{Lo: lo, Hi: lo + tile}
	}
	for i := 1; i < count; i++ {
		ov := s[i-1].Hi - s[i].Lo // this pair's overlap
		s[i-1].RampHi, s[i].RampLo = ov, ov
	}
	return s
}

// weight is the blend weight of position p of the span: 1 inside, 0 in the
// outer quarter of each overlap (where the convolutions saw the tile's zero
// padding instead of the image), rising linearly across the middle half, so
// that two neighbours' weights sum to 1.
func (s span) weight(p int) float32 {
	return min(ramp(p-s.Lo, s.RampLo), ramp(s.Hi-1-p, s.RampHi))
}

// ramp is the weight at distance d from a tile edge with an overlap of ov.
func ramp(d, ov int) float32 {
	if d >= ov {
		return 1
	}
	m := ov / 4 // margin of weight 0
	return min(max((float32(d-m)+0.5)/float32(ov-2*m), 0), 1)
}

// crop copies the window ty × tx of x (B, C, H, W) -> (B, C, th, tw).
func crop(x *nn.Tensor, ty, tx span) *nn.Tensor {
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	th, tw := ty.Hi-ty.Lo, tx.Hi-tx.Lo
	y := nn.New(b, c, th, tw)
	for bc := 0; bc < b*c; bc++ {
		for r := 0; r < th; r++ {
			src := x.Data[(bc*h+ty.Lo+r)*w+tx.Lo:]
			copy(y.Data[(bc*th+r)*tw:(bc*th+r+1)*tw], src[:tw])
		}
	}
	return y
}

// blender accumulates weighted tiles into out and divides by the weight sum.
type blender struct {
	out *nn.Tensor // (B, C, H, W): Σ weight·tile
	sum []float32  // (H, W): Σ weight
}

func newBlender(out *nn.Tensor) *blender {
	return &blender{out: out, sum: make([]float32, out.Shape[2]*out.Shape[3])}
}

// add accumulates tile (B, C, th, tw) at window ty × tx.
func (bl *blender) add(tile *nn.Tensor, ty, tx span) {
	b, c, h, w := bl.out.Shape[0], bl.out.Shape[1], bl.out.Shape[2], bl.out.Shape[3]
	th, tw := ty.Hi-ty.Lo, tx.Hi-tx.Lo
	wx := make([]float32, tw)
	for q := range wx {
		wx[q] = tx.weight(tx.Lo + q)
	}
	for r := 0; r < th; r++ {
		wy := ty.weight(ty.Lo + r)
		row := bl.sum[(ty.Lo+r)*w+tx.Lo:]
		for q, v := range wx {
			row[q] += wy * v
		}
		for bc := 0; bc < b*c; bc++ {
			dst := bl.out.Data[(bc*h+ty.Lo+r)*w+tx.Lo:]
			src := tile.Data[(bc*th+r)*tw : (bc*th+r+1)*tw]
			for q, v := range src {
				dst[q] += wy * wx[q] * v
			}
		}
	}
}

// finish divides by the weight sums and returns the blended tensor.
func (bl *blender) finish() *nn.Tensor {
	plane := len(bl.sum)
	for i := range bl.out.Data {
		bl.out.Data[i] /= bl.sum[i%plane]
	}
	return bl.out
}
