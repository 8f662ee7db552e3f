package rng

import (
	"math"
	"math/bits"
)

// Philox reproduces torch's CUDA generator: what torch.manual_seed(seed)
// followed by torch.randn / torch.rand with device="cuda" draws (equally a
// torch.Generator("cuda").manual_seed(seed)). It is the "GPU" seed of
// AUTOMATIC1111's web UI and the "cuda" RNG of stable-diffusion.cpp, both of
// which emulate it on the CPU the same way.
//
// torch launches one CUDA thread per element (up to the GPU's grid limit,
// see MaxBlocks). Thread i seeds a Philox 4x32-10 stream with key = seed and
// counter = (offset/4, i); each draw of curand_normal4 turns one 128-bit
// block into four normals by Box-Muller, of which a thread with one element
// keeps the first. After each call the generator's offset moves on by 4 per
// draw a thread made, so the next call reads the next block of every stream.
//
// A Philox is not safe for concurrent use.
type Philox struct {
	// MaxBlocks is the largest grid torch launches on the GPU being
	// reproduced: multiProcessorCount × (maxThreadsPerMultiProcessor / 256),
	// 1056 for an H100 or H200, 656 for an RTX 4090, 492 for an RTX 3090.
	// It matters only for tensors of more than 256·MaxBlocks elements,
	// where threads draw several blocks. Zero means unlimited, what
	// AUTOMATIC1111's and stable-diffusion.cpp's CPU emulations assume.
	MaxBlocks int

	key    [2]uint32
	offset uint64 // torch's philox_offset_per_thread, a multiple of 4
}

// NewPhilox returns the CUDA generator as torch.manual_seed(seed) leaves it.
func NewPhilox(seed uint64) *Philox {
	return &Philox{key: [2]uint32{uint32(seed), uint32(seed >> 32)}}
}

// threadsPerBlock is torch's block_size_bound for random kernels.
const threadsPerBlock = 256

// layout returns, for an n-element call, the number of threads in the grid
// and the number of 4-value draws each thread makes (torch's
// calc_execution_policy with unroll factor 4).
func (g *Philox) layout(n int) (threads, draws int) {
	blocks := (n + threadsPerBlock - 1) / threadsPerBlock
	if g.MaxBlocks > 0 {
		blocks = min(blocks, g.MaxBlocks)
	}
	threads = blocks * threadsPerBlock
	draws = (n + 4*threads - 1) / (4 * threads)
	return threads, draws
}

// fill runs torch's distribution_elementwise_grid_stride_kernel: element e is
// component c of draw k of thread t, where e = t + (4k + c)·threads.
// value maps a Philox block and a component index to the element's value.
func (g *Philox) fill(dst []float32, value func(block [4]uint32, c int) float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	threads, draws := g.layout(n)
	base := g.offset / 4 // curand_init's offset counts 32-bit words
	for e := range dst {
		k, r := e/(4*threads), e%(4*threads)
		c, t := r/threads, r%threads
		ctr := [4]uint32{}
		ctr[0], ctr[1] = split64(base + uint64(k))
		ctr[2], ctr[3] = split64(uint64(t))
		dst[e] = value(philox4x32(ctr, g.key), c)
	}
	g.offset += 4 * uint64(draws)
}

// Normal fills dst as torch.randn(len(dst), device="cuda") does. A block
// (x0, x1, x2, x3) gives the normals (r·sin, r·cos) of the pair (x0, x1),
// then of the pair (x2, x3), as curand_normal4 orders them.
func (g *Philox) Normal(dst []float32) {
	g.fill(dst, func(b [4]uint32, c int) float32 {
		sin, cos := boxMullerCUDA(b[c&^1], b[c|1])
		if c&1 == 0 {
			return sin
		}
		return cos
	})
}

// Uniform fills dst as torch.rand(len(dst), device="cuda") does: curand's
// uniform in (0, 1], with 1 mapped to 0.
func (g *Philox) Uniform(dst []float32) {
	g.fill(dst, func(b [4]uint32, c int) float32 {
		u := uniformCUDA(b[c])
		if u == 1 {
			return 0
		}
		return u
	})
}

// Offset returns torch's philox_offset_per_thread: how far every thread's
// stream has been consumed, in 32-bit words.
func (g *Philox) Offset() uint64 { return g.offset }

const (
	pow32Inv    float32 = 1.0 / (1 << 32)               // CURAND_2POW32_INV
	pow32Inv2Pi         = pow32Inv * float32(2*math.Pi) // CURAND_2POW32_INV_2PI
)

// uniformCUDA is curand's _curand_uniform: x·2⁻³² + 2⁻³³ in float32, so in
// (0, 1]. (The product is exact, so a fused multiply-add gives the same.)
func uniformCUDA(x uint32) float32 {
	return float32(x)*pow32Inv + pow32Inv/2
}

// boxMullerCUDA is curand's _curand_box_muller on two 32-bit words: x gives
// the radius, y the angle; it returns (r·sin v, r·cos v).
//
// Everything up to the angle is reproduced bit for bit (curand's float32
// arithmetic, nvcc's fused multiply-add). The GPU then calls __sincosf, the
// special-function unit's approximation: it scales v to revolutions in
// float32, as done here, and interpolates sin and cos from a hardware table
// whose entries NVIDIA does not publish. Using the exact sine of the scaled
// angle instead leaves about one element in five bit-identical and the rest
// within a few float32 ulps (≈2·10⁻⁶ at most); the CPU emulations of
// AUTOMATIC1111 and stable-diffusion.cpp share this limit.
func boxMullerCUDA(x, y uint32) (float32, float32) {
	u := uniformCUDA(x)
	v := fma32(float32(y), pow32Inv2Pi, pow32Inv2Pi/2)
	r := float32(math.Sqrt(float64(-2 * float32(math.Log(float64(u))))))
	rev := v * invTwoPi32 // what __sincosf feeds the hardware
	sin, cos := math.Sincos(2 * math.Pi * float64(rev))
	return r * float32(sin), r * float32(cos)
}

// invTwoPi32 is 1/(2π) in float32.
const invTwoPi32 float32 = 1 / (2 * math.Pi)

// Philox 4x32 constants (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011).
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9 // golden ratio
	philoxW1 = 0xBB67AE85 // √3 − 1
)

// philox4x32 is Philox 4x32-10: ten rounds of the block function over the
// 128-bit counter, bumping the 64-bit key between rounds.
func philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for i := range 10 {
		if i > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, ctr[0])
		hi1, lo1 := bits.Mul32(philoxM1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
	}
	return ctr
}

// split64 returns the low and high halves of x.
func split64(x uint64) (lo, hi uint32) { return uint32(x), uint32(x >> 32) }
