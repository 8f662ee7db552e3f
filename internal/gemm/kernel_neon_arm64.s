//go:build !noasm

#include "textflag.h"

// The NEON micro-kernel keeps an 8×12 tile of C in V0–V23: row i in
// V(3i), V(3i+1), V(3i+2) (columns 0–3, 4–7, 8–11). Each step p loads 12
// values of B into V24–V26, broadcasts each of the 8 values of A (LD1R,
// rotating V27–V31) and adds its products with FMLA on 4 lanes:
//
//	for i := range 8 { c[i][0:12] += a[i*rs+p*cs] * b[p*bs : p*bs+12] }
//
// Row i of A starts at a + i*rs*4 bytes (R8–R15) and moves cs*4 bytes
// (R3) per step; B moves bs*4 bytes (R5) per step. So the kernel reads A
// packed (rs 1, cs 8) or in place, and B packed (bs 12) or in place.

// ROWN adds row i's products: bc = A[i][p] (and moves row i to p+1);
// acc0..2 += bc * (V24, V25, V26).
#define ROWN(ptr, bc, acc0, acc1, acc2) \
	VLD1R.P (ptr)(R3), [bc.S4]; \
	VFMLA   V24.S4, bc.S4, acc0.S4; \
	VFMLA   V25.S4, bc.S4, acc1.S4; \
	VFMLA   V26.S4, bc.S4, acc2.S4

#define STEPN \
	VLD1.P (R4)(R5), [V24.S4, V25.S4, V26.S4]; \
	ROWN(R8, V27, V0, V1, V2); \
	ROWN(R9, V28, V3, V4, V5); \
	ROWN(R10, V29, V6, V7, V8); \
	ROWN(R11, V30, V9, V10, V11); \
	ROWN(R12, V31, V12, V13, V14); \
	ROWN(R13, V27, V15, V16, V17); \
	ROWN(R14, V28, V18, V19, V20); \
	ROWN(R15, V29, V21, V22, V23)

// STOREN sets a row of C (at R6) = alpha*acc + beta*C, with alpha in all
// lanes of V30 and beta in V31, and moves R6 to the next row. There is no
// FMUL in Go's assembler: the row is built in V24–V26 from zero by FMLAs.
#define STOREN(acc0, acc1, acc2) \
	VLD1    (R6), [V27.S4, V28.S4, V29.S4]; \
	VEOR    V24.B16, V24.B16, V24.B16; \
	VEOR    V25.B16, V25.B16, V25.B16; \
	VEOR    V26.B16, V26.B16, V26.B16; \
	VFMLA   V30.S4, acc0.S4, V24.S4; \
	VFMLA   V30.S4, acc1.S4, V25.S4; \
	VFMLA   V30.S4, acc2.S4, V26.S4; \
	VFMLA   V31.S4, V27.S4, V24.S4; \
	VFMLA   V31.S4, V28.S4, V25.S4; \
	VFMLA   V31.S4, V29.S4, V26.S4; \
	VST1    [V24.S4, V25.S4, V26.S4], (R6); \
	ADD     R7, R6

// STORENZ sets a row of C = alpha*acc without reading C.
#define STORENZ(acc0, acc1, acc2) \
	VEOR    V24.B16, V24.B16, V24.B16; \
	VEOR    V25.B16, V25.B16, V25.B16; \
	VEOR    V26.B16, V26.B16, V26.B16; \
	VFMLA   V30.S4, acc0.S4, V24.S4; \
	VFMLA   V30.S4, acc1.S4, V25.S4; \
	VFMLA   V30.S4, acc2.S4, V26.S4; \
	VST1    [V24.S4, V25.S4, V26.S4], (R6); \
	ADD     R7, R6

#define ZERO(r) VEOR r.B16, r.B16, r.B16

// func tileNEON(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)
TEXT ·tileNEON(SB), NOSPLIT, $0-72
	MOVD k+0(FP), R0
	MOVD a+8(FP), R8
	MOVD rs+16(FP), R2
	LSL  $2, R2 // row stride of A in bytes
	MOVD cs+24(FP), R3
	LSL  $2, R3 // step stride of A in bytes
	MOVD b+32(FP), R4
	MOVD bs+40(FP), R5
	LSL  $2, R5 // step stride of B in bytes
	MOVD c+48(FP), R6
	MOVD ldc+56(FP), R7
	LSL  $2, R7 // row stride of C in bytes
	ADD  R2, R8, R9
	ADD  R2, R9, R10
	ADD  R2, R10, R11
	ADD  R2, R11, R12
	ADD  R2, R12, R13
	ADD  R2, R13, R14
	ADD  R2, R14, R15

	ZERO(V0); ZERO(V1); ZERO(V2); ZERO(V3); ZERO(V4); ZERO(V5)
	ZERO(V6); ZERO(V7); ZERO(V8); ZERO(V9); ZERO(V10); ZERO(V11)
	ZERO(V12); ZERO(V13); ZERO(V14); ZERO(V15); ZERO(V16); ZERO(V17)
	ZERO(V18); ZERO(V19); ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)

	CMP $2, R0
	BLT tail

loop2: // two steps at a time
	STEPN
	STEPN
	SUB $2, R0
	CMP $2, R0
	BGE loop2

tail:
	CBZ R0, store
	STEPN

store:
	MOVD   $alpha+64(FP), R16
	VLD1R  (R16), [V30.S4]
	MOVD   $beta+68(FP), R16
	VLD1R  (R16), [V31.S4]
	MOVWU  beta+68(FP), R16
	LSLW   $1, R16 // drop the sign: -0 is 0 too
	CBZW   R16, storez
	STOREN(V0, V1, V2)
	STOREN(V3, V4, V5)
	STOREN(V6, V7, V8)
	STOREN(V9, V10, V11)
	STOREN(V12, V13, V14)
	STOREN(V15, V16, V17)
	STOREN(V18, V19, V20)
	STOREN(V21, V22, V23)
	RET

storez:
	STORENZ(V0, V1, V2)
	STORENZ(V3, V4, V5)
	STORENZ(V6, V7, V8)
	STORENZ(V9, V10, V11)
	STORENZ(V12, V13, V14)
	STORENZ(V15, V16, V17)
	STORENZ(V18, V19, V20)
	STORENZ(V21, V22, V23)
	RET

// func convertNEON(dst *float32, src *uint16, n int)
//
// dst[i] = float32 of the half-precision bits src[i], for n a multiple of 8:
// FCVTL and FCVTL2 widen the low and high four halves of a vector (encoded
// as WORDs: Go's assembler has no FCVTL).
TEXT ·convertNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	CBZ  R2, cdone

cloop:
	VLD1.P 16(R1), [V0.H8]
	WORD   $0x0E217801 // FCVTL  V1.4S, V0.4H
	WORD   $0x4E217802 // FCVTL2 V2.4S, V0.8H
	VST1.P [V1.S4, V2.S4], 32(R0)
	SUBS   $8, R2
	BNE    cloop

cdone:
	RET

// func peakNEON(n int)
//
// n iterations of 24 independent FMLAs on 4 lanes.
TEXT ·peakNEON(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R0
	ZERO(V0); ZERO(V1); ZERO(V2); ZERO(V3); ZERO(V4); ZERO(V5)
	ZERO(V6); ZERO(V7); ZERO(V8); ZERO(V9); ZERO(V10); ZERO(V11)
	ZERO(V12); ZERO(V13); ZERO(V14); ZERO(V15); ZERO(V16); ZERO(V17)
	ZERO(V18); ZERO(V19); ZERO(V20); ZERO(V21); ZERO(V22); ZERO(V23)
	MOVW $0x3a83126f, R1 // 0.001
	VDUP R1, V24.S4
	VDUP R1, V25.S4
	CBZ  R0, pdone

ploop:
	VFMLA V24.S4, V25.S4, V0.S4
	VFMLA V24.S4, V25.S4, V1.S4
	VFMLA V24.S4, V25.S4, V2.S4
	VFMLA V24.S4, V25.S4, V3.S4
	VFMLA V24.S4, V25.S4, V4.S4
	VFMLA V24.S4, V25.S4, V5.S4
	VFMLA V24.S4, V25.S4, V6.S4
	VFMLA V24.S4, V25.S4, V7.S4
	VFMLA V24.S4, V25.S4, V8.S4
	VFMLA V24.S4, V25.S4, V9.S4
	VFMLA V24.S4, V25.S4, V10.S4
	VFMLA V24.S4, V25.S4, V11.S4
	VFMLA V24.S4, V25.S4, V12.S4
	VFMLA V24.S4, V25.S4, V13.S4
	VFMLA V24.S4, V25.S4, V14.S4
	VFMLA V24.S4, V25.S4, V15.S4
	VFMLA V24.S4, V25.S4, V16.S4
	VFMLA V24.S4, V25.S4, V17.S4
	VFMLA V24.S4, V25.S4, V18.S4
	VFMLA V24.S4, V25.S4, V19.S4
	VFMLA V24.S4, V25.S4, V20.S4
	VFMLA V24.S4, V25.S4, V21.S4
	VFMLA V24.S4, V25.S4, V22.S4
	VFMLA V24.S4, V25.S4, V23.S4
	SUBS  $1, R0
	BNE   ploop

pdone:
	RET
