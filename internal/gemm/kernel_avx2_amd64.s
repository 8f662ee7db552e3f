//go:build !noasm

#include "textflag.h"

// The AVX2 micro-kernel keeps a 6×16 tile of C in Y0–Y11: row i in
// Y(2i) (columns 0–7) and Y(2i+1) (columns 8–15). Each step p loads 16
// values of B into Y12, Y13, broadcasts each of the 6 values of A and adds
// its products with a fused multiply-add:
//
//	for i := range 6 { c[i][0:16] += a[i*rs+p*cs] * b[p*bs : p*bs+16] }
//
// A's element (i, p) is at a + (i*rs + p*cs)*4 bytes, so the kernel reads A
// packed (rs 1, cs 6) or in place (rs lda, cs 1; or transposed rs 1, cs lda).
// Rows 0–3 start at SI, rows 4–5 at DI; row r of a group is at base + r*rs:
// (base), (base)(R10*1), (base)(R10*2), (base)(R11*1) with R10 = rs and
// R11 = 3*rs in bytes. B's step p is at b + p*bs*4 bytes (AX = bs*4): a
// packed panel (bs 16) or B's rows in place (bs ldb).

// ROW6 adds row i's products: bc = A[i][p]; acc0, acc1 += bc * (Y12, Y13).
#define ROW6(addr, bc, acc0, acc1) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS  Y12, bc, acc0; \
	VFMADD231PS  Y13, bc, acc1

// STEP6 is one step p with B at BX; it moves the A and B pointers to p+1.
#define STEP6 \
	VMOVUPS (BX), Y12; \
	VMOVUPS 32(BX), Y13; \
	ADDQ    AX, BX; \
	ROW6((SI), Y14, Y0, Y1); \
	ROW6((SI)(R10*1), Y15, Y2, Y3); \
	ROW6((SI)(R10*2), Y14, Y4, Y5); \
	ROW6((SI)(R11*1), Y15, Y6, Y7); \
	ROW6((DI), Y14, Y8, Y9); \
	ROW6((DI)(R10*1), Y15, Y10, Y11); \
	ADDQ R12, SI; \
	ADDQ R12, DI

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

// func tileAVX2(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX2(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rs+16(FP), R10
	SHLQ $2, R10 // row stride of A in bytes
	LEAQ (R10)(R10*2), R11
	MOVQ cs+24(FP), R12
	SHLQ $2, R12 // step stride of A in bytes
	LEAQ (SI)(R10*4), DI
	MOVQ b+32(FP), BX
	MOVQ bs+40(FP), AX
	SHLQ $2, AX // step stride of B in bytes
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
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
	STEP6
	STEP6
	STEP6
	STEP6
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   store

loop1:
	STEP6
	DECQ CX
	JNE  loop1

store:
	VBROADCASTSS alpha+64(FP), Y12
	VBROADCASTSS beta+68(FP), Y13
	MOVL         beta+68(FP), R9
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

// The narrow AVX2 kernel keeps a 6×8 tile of C in Y0–Y5 (row i in Y(i)),
// for a last column panel of at most 8: each step loads 8 values of B into
// Y12 and adds each row's products as tileAVX2 does, in the same order, so
// an element of C gets the same sum from either kernel.

// ROWN adds row i's products: bc = A[i][p]; acc += bc * Y12.
#define ROWN(addr, bc, acc) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS  Y12, bc, acc

// STEPN is one step p of the narrow kernel.
#define STEPN \
	VMOVUPS (BX), Y12; \
	ADDQ    AX, BX; \
	ROWN((SI), Y14, Y0); \
	ROWN((SI)(R10*1), Y15, Y1); \
	ROWN((SI)(R10*2), Y13, Y2); \
	ROWN((SI)(R11*1), Y14, Y3); \
	ROWN((DI), Y15, Y4); \
	ROWN((DI)(R10*1), Y13, Y5); \
	ADDQ R12, SI; \
	ADDQ R12, DI

// STOREN sets a row of C = alpha*acc + beta*C (alpha in Y12, beta in Y13).
#define STOREN(acc) \
	VMULPS      Y12, acc, acc; \
	VFMADD231PS (DX), Y13, acc; \
	VMOVUPS     acc, (DX); \
	ADDQ        R8, DX

// STORENZ sets a row of C = alpha*acc without reading C.
#define STORENZ(acc) \
	VMULPS  Y12, acc, acc; \
	VMOVUPS acc, (DX); \
	ADDQ    R8, DX

// func tileAVX2N(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX2N(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rs+16(FP), R10
	SHLQ $2, R10 // row stride of A in bytes
	LEAQ (R10)(R10*2), R11
	MOVQ cs+24(FP), R12
	SHLQ $2, R12 // step stride of A in bytes
	LEAQ (SI)(R10*4), DI
	MOVQ b+32(FP), BX
	MOVQ bs+40(FP), AX
	SHLQ $2, AX // step stride of B in bytes
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8 // row stride of C in bytes

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5

	CMPQ CX, $4
	JLT  ntail

nloop4: // four steps at a time
	STEPN
	STEPN
	STEPN
	STEPN
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  nloop4

ntail:
	TESTQ CX, CX
	JEQ   nstore

nloop1:
	STEPN
	DECQ CX
	JNE  nloop1

nstore:
	VBROADCASTSS alpha+64(FP), Y12
	VBROADCASTSS beta+68(FP), Y13
	MOVL         beta+68(FP), R9
	SHLL         $1, R9 // drop the sign: -0 is 0 too
	JEQ          nstorez
	STOREN(Y0)
	STOREN(Y1)
	STOREN(Y2)
	STOREN(Y3)
	STOREN(Y4)
	STOREN(Y5)
	VZEROUPPER
	RET

nstorez:
	STORENZ(Y0)
	STORENZ(Y1)
	STORENZ(Y2)
	STORENZ(Y3)
	STORENZ(Y4)
	STORENZ(Y5)
	VZEROUPPER
	RET
