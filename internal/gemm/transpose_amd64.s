//go:build !noasm

#include "textflag.h"

// TRANSPOSE16 transposes the 16×16 block of rows Z0–Z15 into columns
// Z0–Z15, with Z16–Z31 as scratch: the rows are interleaved in pairs (UNPCK),
// then in fours (SHUFPS), then their 128-bit lanes are exchanged twice
// (SHUFF32X4). With rows a, b, c, …:
#define TRANSPOSE16 \
	/* pairs: Z16+2i = a0 b0 a1 b1 | a4 b4 a5 b5 | …, Z17+2i = a2 b2 a3 b3 | … */ \
	VUNPCKLPS Z1, Z0, Z16; \
	VUNPCKHPS Z1, Z0, Z17; \
	VUNPCKLPS Z3, Z2, Z18; \
	VUNPCKHPS Z3, Z2, Z19; \
	VUNPCKLPS Z5, Z4, Z20; \
	VUNPCKHPS Z5, Z4, Z21; \
	VUNPCKLPS Z7, Z6, Z22; \
	VUNPCKHPS Z7, Z6, Z23; \
	VUNPCKLPS Z9, Z8, Z24; \
	VUNPCKHPS Z9, Z8, Z25; \
	VUNPCKLPS Z11, Z10, Z26; \
	VUNPCKHPS Z11, Z10, Z27; \
	VUNPCKLPS Z13, Z12, Z28; \
	VUNPCKHPS Z13, Z12, Z29; \
	VUNPCKLPS Z15, Z14, Z30; \
	VUNPCKHPS Z15, Z14, Z31; \
	/* fours: Z0 = a0 b0 c0 d0 | a4 b4 c4 d4 | …, Z1 = a1 b1 c1 d1 | …, … */ \
	VSHUFPS $0x44, Z18, Z16, Z0; \
	VSHUFPS $0xEE, Z18, Z16, Z1; \
	VSHUFPS $0x44, Z19, Z17, Z2; \
	VSHUFPS $0xEE, Z19, Z17, Z3; \
	VSHUFPS $0x44, Z22, Z20, Z4; \
	VSHUFPS $0xEE, Z22, Z20, Z5; \
	VSHUFPS $0x44, Z23, Z21, Z6; \
	VSHUFPS $0xEE, Z23, Z21, Z7; \
	VSHUFPS $0x44, Z26, Z24, Z8; \
	VSHUFPS $0xEE, Z26, Z24, Z9; \
	VSHUFPS $0x44, Z27, Z25, Z10; \
	VSHUFPS $0xEE, Z27, Z25, Z11; \
	VSHUFPS $0x44, Z30, Z28, Z12; \
	VSHUFPS $0xEE, Z30, Z28, Z13; \
	VSHUFPS $0x44, Z31, Z29, Z14; \
	VSHUFPS $0xEE, Z31, Z29, Z15; \
	/* lanes within rows 0–7 and within rows 8–15 */ \
	VSHUFF32X4 $0x88, Z4, Z0, Z16; \
	VSHUFF32X4 $0x88, Z5, Z1, Z17; \
	VSHUFF32X4 $0x88, Z6, Z2, Z18; \
	VSHUFF32X4 $0x88, Z7, Z3, Z19; \
	VSHUFF32X4 $0xDD, Z4, Z0, Z20; \
	VSHUFF32X4 $0xDD, Z5, Z1, Z21; \
	VSHUFF32X4 $0xDD, Z6, Z2, Z22; \
	VSHUFF32X4 $0xDD, Z7, Z3, Z23; \
	VSHUFF32X4 $0x88, Z12, Z8, Z24; \
	VSHUFF32X4 $0x88, Z13, Z9, Z25; \
	VSHUFF32X4 $0x88, Z14, Z10, Z26; \
	VSHUFF32X4 $0x88, Z15, Z11, Z27; \
	VSHUFF32X4 $0xDD, Z12, Z8, Z28; \
	VSHUFF32X4 $0xDD, Z13, Z9, Z29; \
	VSHUFF32X4 $0xDD, Z14, Z10, Z30; \
	VSHUFF32X4 $0xDD, Z15, Z11, Z31; \
	/* columns: Z0+j = column j of all 16 rows */ \
	VSHUFF32X4 $0x88, Z24, Z16, Z0; \
	VSHUFF32X4 $0xDD, Z24, Z16, Z8; \
	VSHUFF32X4 $0x88, Z25, Z17, Z1; \
	VSHUFF32X4 $0xDD, Z25, Z17, Z9; \
	VSHUFF32X4 $0x88, Z26, Z18, Z2; \
	VSHUFF32X4 $0xDD, Z26, Z18, Z10; \
	VSHUFF32X4 $0x88, Z27, Z19, Z3; \
	VSHUFF32X4 $0xDD, Z27, Z19, Z11; \
	VSHUFF32X4 $0x88, Z28, Z20, Z4; \
	VSHUFF32X4 $0xDD, Z28, Z20, Z12; \
	VSHUFF32X4 $0x88, Z29, Z21, Z5; \
	VSHUFF32X4 $0xDD, Z29, Z21, Z13; \
	VSHUFF32X4 $0x88, Z30, Z22, Z6; \
	VSHUFF32X4 $0xDD, Z30, Z22, Z14; \
	VSHUFF32X4 $0x88, Z31, Z23, Z7; \
	VSHUFF32X4 $0xDD, Z31, Z23, Z15

// func transpose16(src *float32, lds int, dst *float32, ldd int)
//
// transpose16 writes dst[j*ldd+i] = src[i*lds+j] for i, j < 16.
TEXT ·transpose16(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R9

	VMOVUPS (SI), Z0
	ADDQ    R8, SI
	VMOVUPS (SI), Z1
	ADDQ    R8, SI
	VMOVUPS (SI), Z2
	ADDQ    R8, SI
	VMOVUPS (SI), Z3
	ADDQ    R8, SI
	VMOVUPS (SI), Z4
	ADDQ    R8, SI
	VMOVUPS (SI), Z5
	ADDQ    R8, SI
	VMOVUPS (SI), Z6
	ADDQ    R8, SI
	VMOVUPS (SI), Z7
	ADDQ    R8, SI
	VMOVUPS (SI), Z8
	ADDQ    R8, SI
	VMOVUPS (SI), Z9
	ADDQ    R8, SI
	VMOVUPS (SI), Z10
	ADDQ    R8, SI
	VMOVUPS (SI), Z11
	ADDQ    R8, SI
	VMOVUPS (SI), Z12
	ADDQ    R8, SI
	VMOVUPS (SI), Z13
	ADDQ    R8, SI
	VMOVUPS (SI), Z14
	ADDQ    R8, SI
	VMOVUPS (SI), Z15
	TRANSPOSE16
	VMOVUPS Z0, (DI)
	ADDQ    R9, DI
	VMOVUPS Z1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z2, (DI)
	ADDQ    R9, DI
	VMOVUPS Z3, (DI)
	ADDQ    R9, DI
	VMOVUPS Z4, (DI)
	ADDQ    R9, DI
	VMOVUPS Z5, (DI)
	ADDQ    R9, DI
	VMOVUPS Z6, (DI)
	ADDQ    R9, DI
	VMOVUPS Z7, (DI)
	ADDQ    R9, DI
	VMOVUPS Z8, (DI)
	ADDQ    R9, DI
	VMOVUPS Z9, (DI)
	ADDQ    R9, DI
	VMOVUPS Z10, (DI)
	ADDQ    R9, DI
	VMOVUPS Z11, (DI)
	ADDQ    R9, DI
	VMOVUPS Z12, (DI)
	ADDQ    R9, DI
	VMOVUPS Z13, (DI)
	ADDQ    R9, DI
	VMOVUPS Z14, (DI)
	ADDQ    R9, DI
	VMOVUPS Z15, (DI)
	VZEROUPPER
	RET

// func transpose12(src *float32, lds int, dst *float32, ldd int)
//
// transpose12 writes dst[j*ldd+i] = src[i*lds+j] for i < 12, j < 16: it
// transposes 12 rows and 4 rows of zeros and stores 12 values of each column.
TEXT ·transpose12(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R9
	MOVL $0x0fff, AX
	KMOVW AX, K1 // the first 12 lanes

	VMOVUPS (SI), Z0
	ADDQ    R8, SI
	VMOVUPS (SI), Z1
	ADDQ    R8, SI
	VMOVUPS (SI), Z2
	ADDQ    R8, SI
	VMOVUPS (SI), Z3
	ADDQ    R8, SI
	VMOVUPS (SI), Z4
	ADDQ    R8, SI
	VMOVUPS (SI), Z5
	ADDQ    R8, SI
	VMOVUPS (SI), Z6
	ADDQ    R8, SI
	VMOVUPS (SI), Z7
	ADDQ    R8, SI
	VMOVUPS (SI), Z8
	ADDQ    R8, SI
	VMOVUPS (SI), Z9
	ADDQ    R8, SI
	VMOVUPS (SI), Z10
	ADDQ    R8, SI
	VMOVUPS (SI), Z11
	VPXORD  Z12, Z12, Z12
	VPXORD  Z13, Z13, Z13
	VPXORD  Z14, Z14, Z14
	VPXORD  Z15, Z15, Z15
	TRANSPOSE16
	VMOVUPS Z0, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z1, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z2, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z3, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z4, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z5, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z6, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z7, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z8, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z9, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z10, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z11, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z12, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z13, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z14, K1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z15, K1, (DI)
	VZEROUPPER
	RET

// func transpose8(src *float32, lds int, dst *float32, ldd int)
//
// transpose8 writes dst[j*ldd+i] = src[i*lds+j] for i, j < 8 with AVX: the
// 8 rows in Y0–Y7 are interleaved in pairs (UNPCK), then in fours (SHUFPS),
// then their 128-bit halves are exchanged (PERM2F128).
TEXT ·transpose8(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R9

	VMOVUPS (SI), Y0
	ADDQ    R8, SI
	VMOVUPS (SI), Y1
	ADDQ    R8, SI
	VMOVUPS (SI), Y2
	ADDQ    R8, SI
	VMOVUPS (SI), Y3
	ADDQ    R8, SI
	VMOVUPS (SI), Y4
	ADDQ    R8, SI
	VMOVUPS (SI), Y5
	ADDQ    R8, SI
	VMOVUPS (SI), Y6
	ADDQ    R8, SI
	VMOVUPS (SI), Y7

	// Pairs: Y8+2i = a0 b0 a1 b1 | a4 b4 a5 b5, Y9+2i = a2 b2 a3 b3 | a6 b6 a7 b7.
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	// Fours: Y0 = a0 b0 c0 d0 | a4 b4 c4 d4, Y1 = a1 b1 c1 d1 | a5 b5 c5 d5, ….
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	// Columns: Y8+j = column j, Y12+j = column j+4 (j < 4).
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y7, Y3, Y15

	VMOVUPS Y8, (DI)
	ADDQ    R9, DI
	VMOVUPS Y9, (DI)
	ADDQ    R9, DI
	VMOVUPS Y10, (DI)
	ADDQ    R9, DI
	VMOVUPS Y11, (DI)
	ADDQ    R9, DI
	VMOVUPS Y12, (DI)
	ADDQ    R9, DI
	VMOVUPS Y13, (DI)
	ADDQ    R9, DI
	VMOVUPS Y14, (DI)
	ADDQ    R9, DI
	VMOVUPS Y15, (DI)
	VZEROUPPER
	RET
