package gemm

// FastOrder reports whether callers may choose a faster order of additions
// than their reference one on the active path, trading bit-for-bit agreement
// with the other paths for speed. It is true on the "avx2" path only.
//
// The embedded sd-mini was trained on the "avx512" path, and the trainer's
// fingerprints (sdmini/testdata/provenance.json) pin the bits that path and
// the "go" path train: every op outside the kernels must add in the same
// order on them. No fingerprint pins the avx2 path's bits (its kernel already
// rounds differently from avx512's), so on it grad's backward passes batch
// small products into larger ones that add in another order (see
// grad.Tape.Conv2dPad), which is what makes training fast on AVX2 machines.
// Every path still gives the same bits for any number of threads.
func FastOrder() bool { return active == pathAVX2 }
