//go:build !noasm

#include "textflag.h"

// The AVX2 micro-kernel keeps a 6×16 tile of C in Y0–Y11: row i in
// Y(2i) (columns 0–7) and Y(2i+1) (columns 8–15). Each step p loads the 16
// values of packed B into Y12, Y13, broadcasts each of the 6 values of packed A
// and adds its products with a fused multiply-add:
//
//	for i := range 6 { c[i][0:16] += a[p*6+i] * b[p*16 : p*16+16] }

// ROW6 adds row i's products: bc = a[p*6+i]; acc0, acc1 += bc * (Y12, Y13).
#define ROW6(ao, bc, acc0, acc1) \
	VBROADCASTSS ao(AX), bc; \
	VFMADD231PS  Y12, bc, acc0; \
	VFMADD231PS  Y13, bc, acc1

// STEP6 is one step p, with A at ao(AX) and B at bo(BX).
#define STEP6(ao, bo) \
	VMOVUPS bo(BX), Y12; \
	VMOVUPS (bo+32)(BX), Y13; \
	ROW6(ao, Y14, Y0, Y1); \
	ROW6(ao+4, Y15, Y2, Y3); \
	ROW6(ao+8, Y14, Y4, Y5); \
	ROW6(ao+12, Y15, Y6, Y7); \
	ROW6(ao+16, Y14, Y8, Y9); \
	ROW6(ao+20, Y15, Y10, Y11)

// STORE6 sets a row of C = alpha*acc + beta*C (alpha in Y12, beta in Y13)
// and moves DX to the next row.
#define STORE6(acc0, acc1) \
	VMULPS      Y12, acc0, acc0; \
	VFMADD231PS (DX), Y13, acc0; \
	VMOVUPS     acc0, (DX); \
	VMULPS      Y12, acc1, acc1; \
	VFMADD231PS 32(DX), Y13, acc1; \
	VMOVUPS     acc1, 32(DX); \
	ADDQ        R8, DX

// STORE6Z sets a row of C = alpha*acc without reading C.
#define STORE6Z(acc0, acc1) \
	VMULPS  Y12, acc0, acc0; \
	VMOVUPS acc0, (DX); \
	VMULPS  Y12, acc1, acc1; \
	VMOVUPS acc1, 32(DX); \
	ADDQ    R8, DX

// func tileAVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8 // row stride of C in bytes

	// Fetch the tile of C while the products are computed.
	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4: // four steps at a time
	STEP6(0, 0)
	STEP6(24, 64)
	STEP6(48, 128)
	STEP6(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   store

loop1:
	STEP6(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNE  loop1

store:
	VBROADCASTSS alpha+40(FP), Y12
	VBROADCASTSS beta+44(FP), Y13
	MOVL         beta+44(FP), R9
	SHLL         $1, R9 // drop the sign: -0 is 0 too
	JEQ          storez
	STORE6(Y0, Y1)
	STORE6(Y2, Y3)
	STORE6(Y4, Y5)
	STORE6(Y6, Y7)
	STORE6(Y8, Y9)
	STORE6(Y10, Y11)
	VZEROUPPER
	RET

storez:
	STORE6Z(Y0, Y1)
	STORE6Z(Y2, Y3)
	STORE6Z(Y4, Y5)
	STORE6Z(Y6, Y7)
	STORE6Z(Y8, Y9)
	STORE6Z(Y10, Y11)
	VZEROUPPER
	RET
