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
