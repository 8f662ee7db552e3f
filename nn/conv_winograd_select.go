package nn

import "os"

func init() {
	switch v := os.Getenv("SDGO_WINOGRAD"); v {
	case "auto", "off", "f2", "f4":
		winogradMode = v
	}
}

// winogradMaxU bounds the transformed kernels U (α²·O·C float32s) that
// conv2dWinograd holds during a call: 16 Mi values, 64 MiB.
var winogradMaxU = 16 << 20

// winogradChoose returns the Winograd variant for a stride-1 convolution
// with a kh×kw kernel from c to o channels, into an oh×ow image, or nil for
// conv2dShifted and the other direct paths.
//
// The rule (winogradMode "auto") was measured with BenchmarkWinograd on a
// Zen 4 (docs/PERFORMANCE.md, section Winograd): F(4×4, 3×3) took 2.3–3.6×
// less CPU time than the direct convolution on every SD 1.5 VAE and U-Net
// layer of 128 to 512 channels on both sides, tied at 64 channels and lost
// at 32 or below, and where either side has 3 or 4 channels (the first and
// last layers); F(2×2, 3×3) was between the two or tied with F(4×4).
// Transforming the kernels costs the same whatever the image size, so on
// small images it outweighs the gain: on the U-Net's 16×16 and 8×8 levels
// (32 and 8 tiles of 4×4 per sample, batch 2) F(4×4) took 1.9× and 7×
// the direct time. So: F(4×4) when both sides have at least 96 channels,
// the call has at least 128 tiles of 4×4 and U stays within winogradMaxU.
func winogradChoose(n, c, o, kh, kw, oh, ow int) *winograd {
	if kh != 3 || kw != 3 {
		return nil
	}
	switch winogradMode {
	case "off":
		return nil
	case "f2":
		return winogradF2
	case "f4":
		return winogradF4
	}
	if c < 96 || o < 96 || 36*o*c > winogradMaxU || n*((oh+3)/4)*((ow+3)/4) < 128 {
		return nil
	}
	return winogradF4
}

// Conv3x3Workspace is the scratch memory, in bytes, that a 3×3 stride-1
// convolution of n images (c, oh, ow) -> (o, oh, ow) takes besides its input
// and output when the rule above picks Winograd, 0 when it does not: the
// transformed kernels U (α², O, C) and one band's padded input, transformed
// input V (α², C, T) and products M (α², O, T), as conv2dWinograd takes them.
// The memory estimate (pipeline.EstimateMemory) counts it.
func Conv3x3Workspace(n, c, o, oh, ow int) int64 {
	v := winogradChoose(n, c, o, 3, 3, oh, ow)
	if v == nil {
		return 0
	}
	m, a := v.m, v.m+2
	a2 := a * a
	tc := (ow + m - 1) / m
	wp := tc*m + 2
	trAll := (oh + m - 1) / m
	tileRows := max((winogradMinTiles+tc-1)/tc, winogradBudget/max(1, a2*max(c, o)*tc))
	tileRows = max(1, min(trAll, tileRows))
	maxT := tileRows * tc
	return 4 * int64(a2*o*c+c*(tileRows*m+2)*wp+a2*c*maxT+a2*o*maxT)
}
