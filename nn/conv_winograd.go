package nn

// Winograd convolution for 3×3 stride-1 layers (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2015).
//
// F(m×m, 3×3) computes an m×m tile of outputs from the α×α tile of inputs
// under it (α = m+2) as
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// with g the 3×3 kernel, d the input tile and fixed matrices Bᵀ (α×α),
// G (α×3) and Aᵀ (m×α). Summed over input channels, the elementwise product
// becomes α² independent matrix products, one per position ξ of the α×α
// tile:
//
//	M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T)
//
// with U = G g Gᵀ per (output, input) channel pair, V = Bᵀ d B per input
// channel and tile, and T tiles. A direct convolution does 9·m² multiply-adds
// per output tile and channel pair, Winograd α²: 2.25× fewer for F(2×2, 3×3)
// (16 for 36), 4× fewer for F(4×4, 3×3) (36 for 144). The transforms cost
// additions per tile and channel, not per channel pair, so they vanish as
// the channel counts grow; F(4×4) rounds more (its matrices hold 4, 5, 8 and
// 1/24; see TestWinogradError for the error of each variant).
//
// The input transform writes V_ξ straight in the layout the GEMM
// micro-kernel reads in place (rows of T tiles, row stride T; gemm packs B
// only when T is a multiple of 512), so the transform takes the place of
// packing B. On its way the input is copied twice, cheaply: into the padded
// band, built as conv2dShifted builds it (so the fused upsampling and group
// norm + SiLU work here too), and split into phase vectors.

// winograd is one variant, F(m×m, 3×3).
type winograd struct {
	name string
	m    int         // output tile side; the input tile is α = m+2
	bt   [][]float32 // Bᵀ, α×α
	g    [][]float32 // G, α×3
	at   [][]float32 // Aᵀ, m×α

	// in, out and gk are the AVX2 kernels of Bᵀ, Aᵀ and G (see transform).
	in, out, gk asmTransform
}

// asmTransform is the signature of the assembly 1-D transforms: n lanes, a
// multiple of 8, input vector i at src[i·ss:], output vector r at dst[r·ds:].
type asmTransform func(dst *float32, ds int, src *float32, ss int, n int)

// winogradF2 is F(2×2, 3×3): all its matrices hold 0, ±1 and ±1/2, so it
// rounds about as a direct convolution does.
var winogradF2 = &winograd{
	name: "f2", m: 2,
	bt: [][]float32{
		{1, 0, -1, 0},
		{0, 1, 1, 0},
		{0, -1, 1, 0},
		{0, 1, 0, -1},
	},
	g: [][]float32{
		{1, 0, 0},
		{0.5, 0.5, 0.5},
		{0.5, -0.5, 0.5},
		{0, 0, 1},
	},
	at: [][]float32{
		{1, 1, 1, 0},
		{0, 1, -1, -1},
	},
	in: winoInF2AVX2, out: winoOutF2AVX2, gk: winoGF2AVX2,
}

// winogradF4 is F(4×4, 3×3), with the points 0, ±1, ±2 and ∞.
var winogradF4 = &winograd{
	name: "f4", m: 4,
	bt: [][]float32{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	},
	g: [][]float32{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
	at: [][]float32{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	},
	in: winoInF4AVX2, out: winoOutF4AVX2, gk: winoGF4AVX2,
}

// winogradMode selects the algorithm of 3×3 stride-1 convolutions:
// "auto" (winogradChoose's rule), "off" (always conv2dShifted), "f2" or "f4"
// (that variant wherever it applies). Tests and benchmarks set it; the
// environment variable SDGO_WINOGRAD sets it at start (see init in
// conv_winograd_select.go).
var winogradMode = "auto"

// winogradBudget bounds each of the transformed input and product buffers
// of one band, in float32s; a band is at least one row of tiles.
var winogradBudget = 4 << 20

// winogradMinTiles is the fewest tiles of a band (columns of the products),
// budget or not.
var winogradMinTiles = 256

// conv2dWinograd computes a 3×3 stride-1 convolution into y with the
// variant v; its arguments are those of conv2dShifted.
//
// All transforms run on vectors of tiles: a row of tiles is split into α
// phase vectors (phase r of input row i holds, for each tile j, the value at
// column j·m+r), so that the 1-D transforms along rows and along columns
// are both sums of whole vectors (transform1D), SIMD in assembly.
func conv2dWinograd(v *winograd, y, x, weight, bias *Tensor, top, left, up int, pre *preAct) {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o := weight.Shape[0]
	oh, ow := y.Shape[2], y.Shape[3]
	m, a := v.m, v.m+2
	a2 := a * a
	tc := (ow + m - 1) / m // tiles per row
	wp := tc*m + 2         // padded row: every tile's input lies inside
	trAll := (oh + m - 1) / m

	// U (α², O, C): the transformed kernels, in float32.
	u := getScratch(a2 * o * c)
	defer putScratch(u)
	v.transformWeights(u, weight, o, c)

	// Bands of whole tile rows: at least winogradMinTiles tiles (a product of
	// fewer columns runs below the kernel's rate), within the budget otherwise.
	tileRows := max((winogradMinTiles+tc-1)/tc, winogradBudget/max(1, a2*max(c, o)*tc))
	tileRows = max(1, min(trAll, tileRows))
	maxT := tileRows * tc
	xpad := getScratch(c * (tileRows*m + 2) * wp)
	vb := getScratch(a2 * c * maxT) // V (α², C, T)
	mb := getScratch(a2 * o * maxT) // M (α², O, T)
	defer putScratch(xpad)
	defer putScratch(vb)
	defer putScratch(mb)

	for b := 0; b < n; b++ {
		xb := x.Data[b*c*h*w : (b+1)*c*h*w]
		yb := y.Data[b*o*oh*ow : (b+1)*o*oh*ow]
		for tr0 := 0; tr0 < trAll; tr0 += tileRows {
			tr := min(tileRows, trAll-tr0)
			r0 := tr0 * m
			inRows := tr*m + 2
			t := tr * tc
			cstride := inRows * wp
			// (C, inRows, Wp): the padded input under the band's tiles.
			fillPadded(xpad, xb, c, h, w, inRows, wp, r0-top, left, up, pre, b)
			// V_ξ (C, T) = Bᵀ d B of every channel and tile.
			Parallel(c, 4, func(lo, hi int) {
				ph := make([]float32, inRows*a*tc) // [row][phase][tile]
				hb := make([]float32, inRows*a*tc) // [row][l][tile]: rows transformed
				for ci := lo; ci < hi; ci++ {
					for row := range inRows {
						src := xpad[ci*cstride+row*wp : ci*cstride+(row+1)*wp]
						dst := ph[row*a*tc : (row+1)*a*tc]
						for r := range a {
							d := dst[r*tc : (r+1)*tc]
							for j := range d {
								d[j] = src[j*m+r]
							}
						}
						v.transform(v.bt, v.in, hb[row*a*tc:], tc, dst, tc, tc)
					}
					// V[(k·α+l), ci, tile] = Σ_i Bᵀ[k][i]·hb[tile row·m+i][l]
					for ti := range tr {
						for l := range a {
							v.transform(v.bt, v.in, vb[(l*c+ci)*t+ti*tc:], a*c*t, hb[(ti*m*a+l)*tc:], a*tc, tc)
						}
					}
				}
			})
			// M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T), α² products.
			Parallel(a2, 1, func(lo, hi int) {
				for xi := lo; xi < hi; xi++ {
					MatMul(false, false, o, t, c, u[xi*o*c:(xi+1)*o*c], c, vb[xi*c*t:(xi+1)*c*t], t, 0, mb[xi*o*t:(xi+1)*o*t], t)
				}
			})
			// Y = Aᵀ M A per output channel and tile, plus the bias.
			Parallel(o, 4, func(lo, hi int) {
				sb := make([]float32, m*a*tc) // [i][l][tile]: columns transformed
				yp := make([]float32, m*m*tc) // [i][q][tile]: the outputs, by phase
				for oc := lo; oc < hi; oc++ {
					var bv float32
					if bias != nil {
						bv = bias.Data[oc]
					}
					for ti := range tr {
						for l := range a {
							v.transform(v.at, v.out, sb[l*tc:], a*tc, mb[(l*o+oc)*t+ti*tc:], a*o*t, tc)
						}
						for i := range m {
							v.transform(v.at, v.out, yp[i*m*tc:], tc, sb[i*a*tc:], tc, tc)
						}
						for i := range m {
							r := r0 + ti*m + i
							if r >= oh {
								break
							}
							interleave(yb[(oc*oh+r)*ow:(oc*oh+r+1)*ow], yp[i*m*tc:(i+1)*m*tc], m, tc, bv)
						}
					}
				}
			})
		}
	}
}

// interleave writes dst[j·m+q] = src[q·tc+j] + bias: the m phase vectors
// of a row of outputs, tc tiles each, back in column order.
func interleave(dst, src []float32, m, tc int, bias float32) {
	full := min(tc, len(dst)/m) // tiles wholly inside the row
	if m == 4 {
		s0, s1, s2, s3 := src[:full], src[tc:tc+full], src[2*tc:2*tc+full], src[3*tc:3*tc+full]
		for j := range s0 {
			d := dst[4*j : 4*j+4 : 4*j+4]
			d[0], d[1], d[2], d[3] = s0[j]+bias, s1[j]+bias, s2[j]+bias, s3[j]+bias
		}
	} else {
		for j := range full {
			d := dst[j*m : j*m+m]
			for q := range d {
				d[q] = src[q*tc+j] + bias
			}
		}
	}
	for col := full * m; col < len(dst); col++ { // the last, partial tile
		dst[col] = src[(col%m)*tc+col/m] + bias
	}
}

// winogradAsm enables the assembly transforms; tests turn it off to run
// the Go twins.
var winogradAsm = true

// transform applies the rows of mat (v.bt or v.at) to the vectors of n
// lanes src[i·ss:], i < columns of mat, writing row r's sums to dst[r·ds:]:
// with asm, mat's AVX2 kernel, on the leading multiple of 8 lanes where the
// CPU has AVX2; with transformGo, its Go twin, on the rest.
func (v *winograd) transform(mat [][]float32, asm asmTransform, dst []float32, ds int, src []float32, ss, n int) {
	k := 0
	if hasAVX2 && winogradAsm && n >= 8 {
		k = n &^ 7
		_, _ = src[(len(mat[0])-1)*ss+k-1], dst[(len(mat)-1)*ds+k-1] // the assembly stays in bounds
		asm(&dst[0], ds, &src[0], ss, k)
	}
	if k < n {
		transformGo(mat, dst[k:], ds, src[k:], ss, n-k)
	}
}

// transformGo is the Go twin of the assembly transforms:
// dst[r·ds+q] = Σ_i mat[r][i]·src[i·ss+q] for q < n.
func transformGo(mat [][]float32, dst []float32, ds int, src []float32, ss, n int) {
	for r, row := range mat {
		d := dst[r*ds : r*ds+n]
		clear(d)
		for i, coef := range row {
			if coef == 0 {
				continue
			}
			s := src[i*ss : i*ss+n]
			for q, val := range s {
				d[q] += coef * val
			}
		}
	}
}

// transformWeights writes U (α², O, C): U[ξ=(k·α+l)][oc][ci] =
// Σ_{i,j} G[k][i]·G[l][j]·g[oc][ci][i][j], from the (O, C, 3, 3) weight in
// float32 or half precision. Per output channel, the kernels are laid out
// (3, 3, C) so that G applies to vectors of C lanes (transform), first down
// the kernel's columns, then along its rows into U.
func (v *winograd) transformWeights(u []float32, weight *Tensor, o, c int) {
	a := v.m + 2
	Parallel(o, 1, func(lo, hi int) {
		row := make([]float32, 9*c) // the weight's row oc, (C, 9)
		g := make([]float32, 9*c)   // [i][j][ci]
		t := make([]float32, a*3*c) // [k][j][ci]: G applied down the columns
		for oc := lo; oc < hi; oc++ {
			if weight.Half != nil {
				halfToFloat(row, weight.Half[oc*9*c:(oc+1)*9*c])
			} else {
				copy(row, weight.Data[oc*9*c:(oc+1)*9*c])
			}
			for ci := range c {
				for q, w := range row[ci*9 : ci*9+9] {
					g[q*c+ci] = w
				}
			}
			for j := range 3 {
				v.transform(v.g, v.gk, t[j*c:], 3*c, g[j*c:], 3*c, c)
			}
			for k := range a {
				v.transform(v.g, v.gk, u[(k*a*o+oc)*c:], o*c, t[k*3*c:], c, c)
			}
		}
	})
}
