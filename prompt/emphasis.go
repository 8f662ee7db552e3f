package prompt

// Emphasize applies per-token weights to one chunk's encoding the way the web
// UI does: z (77, D) rows are multiplied by their weight, then the whole chunk
// is rescaled so its mean is what it was before:
//
//	z' = z·w;  z'' = z'·mean(z)/mean(z')
//
// so emphasis shifts the balance between words without changing the overall
// scale the U-Net sees. Means are taken in float64.
func Emphasize(z []float32, dim int, weights []float32) {
	var before, after float64
	for i, v := range z {
		before += float64(v)
		after += float64(v * weights[i/dim])
	}
	for i := range z {
		z[i] *= weights[i/dim]
	}
	if after == 0 {
		return
	}
	r := float32(before / after)
	for i := range z {
		z[i] *= r
	}
}
