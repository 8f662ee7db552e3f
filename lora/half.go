package lora

import "math"

// toHalf rounds f to the nearest IEEE 754 half-precision value (ties to
// even), as float16.Fromfloat32 does, without branches on the common path:
// F. Giesen's float_to_half_fast3_rtne. Overflow gives ±Inf, NaN a quiet NaN.
func toHalf(f float32) uint16 {
	const (
		f32Inf      = 255 << 23
		f16Max      = (127 + 16) << 23 // 65536: from here on, Inf
		denormMagic = ((127 - 15) + (23 - 10) + 1) << 23
	)
	x := math.Float32bits(f)
	sign := x & 0x80000000
	x ^= sign
	var o uint32
	switch {
	case x >= f16Max:
		o = 0x7c00
		if x > f32Inf {
			o = 0x7e00
		}
	case x < 113<<23: // a subnormal half or zero: let float addition round
		o = math.Float32bits(math.Float32frombits(x)+math.Float32frombits(denormMagic)) - denormMagic
	default:
		odd := (x >> 13) & 1
		x = x - (127-15)<<23 + 0xfff + odd // rebias the exponent; round to nearest even
		o = x >> 13
	}
	return uint16(o | sign>>16)
}
