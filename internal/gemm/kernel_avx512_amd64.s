//go:build !noasm

#include "textflag.h"

// The AVX-512 micro-kernel keeps a 12×32 tile of C in Z0–Z23: row i in
// Z(2i) (columns 0–15) and Z(2i+1) (columns 16–31). Each step p loads 32
// values of B into Z24, Z25, broadcasts each of the 12 values of A
// (alternating Z26–Z29) and adds its products with a fused multiply-add:
//
//	for i := range 12 { c[i][0:32] += a[i*rs+p*cs] * b[p*bs : p*bs+32] }
//
// A's element (i, p) is at a + (i*rs + p*cs)*4 bytes, so the kernel reads A
// packed (rs 1, cs 12) or in place (rs lda, cs 1; or transposed rs 1, cs lda).
// Rows 0–3, 4–7 and 8–11 start at SI, DI and R9; row 4g+r of a group is at
// base + r*rs: (base), (base)(R10*1), (base)(R10*2), (base)(R11*1) with
// R10 = rs and R11 = 3*rs in bytes. B's step p is at b + p*bs*4 bytes
// (AX = bs*4): a packed panel (bs 32) or B's rows in place (bs ldb).

// ROW12 adds row i's products: bc = A[i][p]; acc0, acc1 += bc * (Z24, Z25).
#define ROW12(addr, bc, acc0, acc1) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS  Z24, bc, acc0; \
	VFMADD231PS  Z25, bc, acc1

// STEP12 is one step p with B at BX; it moves the A and B pointers to p+1.
#define STEP12 \
	VMOVUPS (BX), Z24; \
	VMOVUPS 64(BX), Z25; \
	ADDQ    AX, BX; \
	ROW12((SI), Z26, Z0, Z1); \
	ROW12((SI)(R10*1), Z27, Z2, Z3); \
	ROW12((SI)(R10*2), Z28, Z4, Z5); \
	ROW12((SI)(R11*1), Z29, Z6, Z7); \
	ROW12((DI), Z26, Z8, Z9); \
	ROW12((DI)(R10*1), Z27, Z10, Z11); \
	ROW12((DI)(R10*2), Z28, Z12, Z13); \
	ROW12((DI)(R11*1), Z29, Z14, Z15); \
	ROW12((R9), Z26, Z16, Z17); \
	ROW12((R9)(R10*1), Z27, Z18, Z19); \
	ROW12((R9)(R10*2), Z28, Z20, Z21); \
	ROW12((R9)(R11*1), Z29, Z22, Z23); \
	ADDQ R12, SI; \
	ADDQ R12, DI; \
	ADDQ R12, R9

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
	PREFETCHT0 (R13); \
	PREFETCHT0 64(R13); \
	PREFETCHT0 124(R13); \
	ADDQ       R8, R13

// func tileAVX512(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX512(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rs+16(FP), R10
	SHLQ $2, R10 // row stride of A in bytes
	LEAQ (R10)(R10*2), R11
	MOVQ cs+24(FP), R12
	SHLQ $2, R12 // step stride of A in bytes
	LEAQ (SI)(R10*4), DI
	LEAQ (DI)(R10*4), R9
	MOVQ b+32(FP), BX
	MOVQ bs+40(FP), AX
	SHLQ $2, AX // step stride of B in bytes
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8 // row stride of C in bytes

	// Fetch the tile of C while the products are computed.
	MOVQ DX, R13
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
	STEP12
	STEP12
	STEP12
	STEP12
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   store

loop1:
	STEP12
	DECQ CX
	JNE  loop1

store:
	VBROADCASTSS alpha+64(FP), Z24
	VBROADCASTSS beta+68(FP), Z25
	MOVL         beta+68(FP), R13
	SHLL         $1, R13 // drop the sign: -0 is 0 too
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

// The narrow AVX-512 micro-kernel computes a 12×16 tile, for a last column
// panel of at most 16: row i of C in Zi, the 16 values of packed B in Z24,
// and each A value broadcast by the fused multiply-add itself.

// STEP12N is one step p of the narrow kernel with B at BX.
#define STEP12N \
	VMOVUPS               (BX), Z24; \
	ADDQ                  AX, BX; \
	VFMADD231PS.BCST      (SI), Z24, Z0; \
	VFMADD231PS.BCST      (SI)(R10*1), Z24, Z1; \
	VFMADD231PS.BCST      (SI)(R10*2), Z24, Z2; \
	VFMADD231PS.BCST      (SI)(R11*1), Z24, Z3; \
	VFMADD231PS.BCST      (DI), Z24, Z4; \
	VFMADD231PS.BCST      (DI)(R10*1), Z24, Z5; \
	VFMADD231PS.BCST      (DI)(R10*2), Z24, Z6; \
	VFMADD231PS.BCST      (DI)(R11*1), Z24, Z7; \
	VFMADD231PS.BCST      (R9), Z24, Z8; \
	VFMADD231PS.BCST      (R9)(R10*1), Z24, Z9; \
	VFMADD231PS.BCST      (R9)(R10*2), Z24, Z10; \
	VFMADD231PS.BCST      (R9)(R11*1), Z24, Z11; \
	ADDQ                  R12, SI; \
	ADDQ                  R12, DI; \
	ADDQ                  R12, R9

// STORE12N sets a row of C = alpha*acc + beta*C (alpha in Z24, beta in Z25).
#define STORE12N(acc) \
	VMULPS      Z24, acc, acc; \
	VFMADD231PS (DX), Z25, acc; \
	VMOVUPS     acc, (DX); \
	ADDQ        R8, DX

// STORE12NZ sets a row of C = alpha*acc without reading C.
#define STORE12NZ(acc) \
	VMULPS  Z24, acc, acc; \
	VMOVUPS acc, (DX); \
	ADDQ    R8, DX

// func tileAVX512N(k int, a *float32, rs, cs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)
TEXT ·tileAVX512N(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rs+16(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R11
	MOVQ cs+24(FP), R12
	SHLQ $2, R12
	LEAQ (SI)(R10*4), DI
	LEAQ (DI)(R10*4), R9
	MOVQ b+32(FP), BX
	MOVQ bs+40(FP), AX
	SHLQ $2, AX // step stride of B in bytes
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8

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

	CMPQ CX, $4
	JLT  ntail

nloop4:
	STEP12N
	STEP12N
	STEP12N
	STEP12N
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  nloop4

ntail:
	TESTQ CX, CX
	JEQ   nstore

nloop1:
	STEP12N
	DECQ CX
	JNE  nloop1

nstore:
	VBROADCASTSS alpha+64(FP), Z24
	VBROADCASTSS beta+68(FP), Z25
	MOVL         beta+68(FP), R13
	SHLL         $1, R13
	JEQ          nstorez
	STORE12N(Z0)
	STORE12N(Z1)
	STORE12N(Z2)
	STORE12N(Z3)
	STORE12N(Z4)
	STORE12N(Z5)
	STORE12N(Z6)
	STORE12N(Z7)
	STORE12N(Z8)
	STORE12N(Z9)
	STORE12N(Z10)
	STORE12N(Z11)
	VZEROUPPER
	RET

nstorez:
	STORE12NZ(Z0)
	STORE12NZ(Z1)
	STORE12NZ(Z2)
	STORE12NZ(Z3)
	STORE12NZ(Z4)
	STORE12NZ(Z5)
	STORE12NZ(Z6)
	STORE12NZ(Z7)
	STORE12NZ(Z8)
	STORE12NZ(Z9)
	STORE12NZ(Z10)
	STORE12NZ(Z11)
	VZEROUPPER
	RET
