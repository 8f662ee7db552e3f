package rng

// mt19937 is the 32-bit Mersenne Twister (Matsumoto and Nishimura, 1998),
// the engine behind torch's CPU generator (ATen's at::mt19937).
type mt19937 struct {
	state [mtN]uint32
	next  int // index of the next word to temper; mtN means "twist first"
}

const (
	mtN         = 624
	mtM         = 397
	mtMatrixA   = 0x9908b0df
	mtUpperMask = 0x80000000
	mtLowerMask = 0x7fffffff
)

// seed initialises the state as torch.manual_seed does: only the low 32 bits
// of the seed are used (ATen's init_with_uint32).
func (m *mt19937) seed(s uint64) {
	m.state[0] = uint32(s)
	for i := 1; i < mtN; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	m.next = mtN
}

// twist regenerates all mtN words of the state.
func (m *mt19937) twist() {
	for i := range mtN {
		y := m.state[i]&mtUpperMask | m.state[(i+1)%mtN]&mtLowerMask
		v := m.state[(i+mtM)%mtN] ^ y>>1
		if y&1 != 0 {
			v ^= mtMatrixA
		}
		m.state[i] = v
	}
	m.next = 0
}

// uint32 returns the next 32-bit output.
func (m *mt19937) uint32() uint32 {
	if m.next >= mtN {
		m.twist()
	}
	y := m.state[m.next]
	m.next++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// uint64 returns two outputs joined, the first in the high half, as ATen's
// CPUGeneratorImpl::random64 does.
func (m *mt19937) uint64() uint64 {
	hi := m.uint32()
	lo := m.uint32()
	return uint64(hi)<<32 | uint64(lo)
}
