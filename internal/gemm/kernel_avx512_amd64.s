//go:build !noasm

#include "textflag.h"

// The AVX-512 micro-kernel keeps a 12×32 tile of C in Z0–Z23: row i in
// Z(2i) (columns 0–15) and Z(2i+1) (columns 16–31). Each step p loads the 32
// values of packed B into Z24, Z25, broadcasts each of the 12 values of packed
// A (alternating Z26–Z29) and adds its products with a fused multiply-add:
//
//	for i := range 12 { c[i][0:32] += a[p*12+i] * b[p*32 : p*32+32] }

// ROW12 adds row i's products: bc = a[p*12+i]; acc0, acc1 += bc * (Z24, Z25).
#define ROW12(ao, bc, acc0, acc1) \
	VBROADCASTSS ao(AX), bc; \
	VFMADD231PS  Z24, bc, acc0; \
	VFMADD231PS  Z25, bc, acc1

// STEP12 is one step p, with A at ao(AX) and B at bo(BX).
#define STEP12(ao, bo) \
	VMOVUPS bo(BX), Z24; \
	VMOVUPS (bo+64)(BX), Z25; \
	ROW12(ao, Z26, Z0, Z1); \
	ROW12(ao+4, Z27, Z2, Z3); \
	ROW12(ao+8, Z28, Z4, Z5); \
	ROW12(ao+12, Z29, Z6, Z7); \
	ROW12(ao+16, Z26, Z8, Z9); \
	ROW12(ao+20, Z27, Z10, Z11); \
	ROW12(ao+24, Z28, Z12, Z13); \
	ROW12(ao+28, Z29, Z14, Z15); \
	ROW12(ao+32, Z26, Z16, Z17); \
	ROW12(ao+36, Z27, Z18, Z19); \
	ROW12(ao+40, Z28, Z20, Z21); \
	ROW12(ao+44, Z29, Z22, Z23)

// STORE12 sets a row of C = alpha*acc + beta*C (alpha in Z24, beta in Z25)
// and moves DX to the next row.
#define STORE12(acc0, acc1) \
	VMULPS      Z24, acc0, acc0; \
	VFMADD231PS (DX), Z25, acc0; \
	VMOVUPS     acc0, (DX); \
	VMULPS      Z24, acc1, acc1; \
	VFMADD231PS 64(DX), Z25, acc1; \
	VMOVUPS     acc1, 64(DX); \
	ADDQ        R8, DX

// STORE12Z sets a row of C = alpha*acc without reading C.
#define STORE12Z(acc0, acc1) \
	VMULPS  Z24, acc0, acc0; \
	VMOVUPS acc0, (DX); \
	VMULPS  Z24, acc1, acc1; \
	VMOVUPS acc1, 64(DX); \
	ADDQ    R8, DX

// PREFETCHROW fetches a row of the C tile (128 bytes, up to 3 lines).
#define PREFETCHROW \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	PREFETCHT0 124(R9); \
	ADDQ       R8, R9

// func tileAVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX512(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8 // row stride of C in bytes

	// Fetch the tile of C while the products are computed.
	MOVQ DX, R9
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW
	PREFETCHROW

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

	CMPQ CX, $4
	JLT  tail

loop4: // four steps at a time
	STEP12(0, 0)
	STEP12(48, 128)
	STEP12(96, 256)
	STEP12(144, 384)
	ADDQ $192, AX
	ADDQ $512, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   store

loop1:
	STEP12(0, 0)
	ADDQ $48, AX
	ADDQ $128, BX
	DECQ CX
	JNE  loop1

store:
	VBROADCASTSS alpha+40(FP), Z24
	VBROADCASTSS beta+44(FP), Z25
	MOVL         beta+44(FP), R9
	SHLL         $1, R9 // drop the sign: -0 is 0 too
	JEQ          storez
	STORE12(Z0, Z1)
	STORE12(Z2, Z3)
	STORE12(Z4, Z5)
	STORE12(Z6, Z7)
	STORE12(Z8, Z9)
	STORE12(Z10, Z11)
	STORE12(Z12, Z13)
	STORE12(Z14, Z15)
	STORE12(Z16, Z17)
	STORE12(Z18, Z19)
	STORE12(Z20, Z21)
	STORE12(Z22, Z23)
	VZEROUPPER
	RET

storez:
	STORE12Z(Z0, Z1)
	STORE12Z(Z2, Z3)
	STORE12Z(Z4, Z5)
	STORE12Z(Z6, Z7)
	STORE12Z(Z8, Z9)
	STORE12Z(Z10, Z11)
	STORE12Z(Z12, Z13)
	STORE12Z(Z14, Z15)
	STORE12Z(Z16, Z17)
	STORE12Z(Z18, Z19)
	STORE12Z(Z20, Z21)
	STORE12Z(Z22, Z23)
	VZEROUPPER
	RET
