//go:build !noasm

#include "textflag.h"

// PACK6 packs rows Y0–Y5 (8 steps of 6 rows of A: a, b, c, d, e, f) into
// 48 floats at DI as the AVX2 kernel reads A: step j's 6 values at
// DI + 24j bytes. Rows a–d are transposed in 4×4 blocks (one per 128-bit
// lane) into Y8–Y11; rows e and f are interleaved into Y12, Y13; each step
// is stored as 4 values (16 bytes) and 2 (8 bytes). Y6–Y13 are scratch.
#define PACK6 \
	VUNPCKLPS  Y1, Y0, Y6;  /* a0 b0 a1 b1 | a4 b4 a5 b5 */ \
	VUNPCKHPS  Y1, Y0, Y7;  /* a2 b2 a3 b3 | a6 b6 a7 b7 */ \
	VUNPCKLPS  Y3, Y2, Y8;  \
	VUNPCKHPS  Y3, Y2, Y9;  \
	VSHUFPS    $0x44, Y8, Y6, Y10; /* a0 b0 c0 d0 | a4 b4 c4 d4 */ \
	VSHUFPS    $0xEE, Y8, Y6, Y11; /* a1 b1 c1 d1 | a5 … */ \
	VSHUFPS    $0x44, Y9, Y7, Y8;  /* a2 … | a6 … */ \
	VSHUFPS    $0xEE, Y9, Y7, Y9;  /* a3 … | a7 … */ \
	VUNPCKLPS  Y5, Y4, Y12; /* e0 f0 e1 f1 | e4 f4 e5 f5 */ \
	VUNPCKHPS  Y5, Y4, Y13; /* e2 f2 e3 f3 | e6 f6 e7 f7 */ \
	VMOVUPS    X10, 0(DI);   \
	VMOVSD     X12, 16(DI);  \
	VMOVUPS    X11, 24(DI);  \
	VMOVHPS    X12, 40(DI);  \
	VMOVUPS    X8, 48(DI);   \
	VMOVSD     X13, 64(DI);  \
	VMOVUPS    X9, 72(DI);   \
	VMOVHPS    X13, 88(DI);  \
	VEXTRACTF128 $1, Y10, X10; \
	VEXTRACTF128 $1, Y11, X11; \
	VEXTRACTF128 $1, Y8, X8;   \
	VEXTRACTF128 $1, Y9, X9;   \
	VEXTRACTF128 $1, Y12, X12; \
	VEXTRACTF128 $1, Y13, X13; \
	VMOVUPS    X10, 96(DI);  \
	VMOVSD     X12, 112(DI); \
	VMOVUPS    X11, 120(DI); \
	VMOVHPS    X12, 136(DI); \
	VMOVUPS    X8, 144(DI);  \
	VMOVSD     X13, 160(DI); \
	VMOVUPS    X9, 168(DI);  \
	VMOVHPS    X13, 184(DI)

// func pack6(src *float32, lds int, dst *float32, ldd int)
//
// pack6 writes dst[j*6+i] = src[i*lds+j] for i < 6, j < 16 (ldd is 6).
TEXT ·pack6(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10
	MOVQ dst+16(FP), DI

	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	PACK6
	ADDQ    $192, DI
	VMOVUPS 32(SI), Y0
	VMOVUPS 32(SI)(R8*1), Y1
	VMOVUPS 32(SI)(R8*2), Y2
	VMOVUPS 32(SI)(R9*1), Y3
	VMOVUPS 32(R10), Y4
	VMOVUPS 32(R10)(R8*1), Y5
	PACK6
	VZEROUPPER
	RET

// func pack6F16(src *uint16, lds int, dst *float32, ldd int)
//
// pack6F16 is pack6 with src's elements half-precision bits, converted
// (F16C) on the way.
TEXT ·pack6F16(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $1, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10
	MOVQ dst+16(FP), DI

	VCVTPH2PS (SI), Y0
	VCVTPH2PS (SI)(R8*1), Y1
	VCVTPH2PS (SI)(R8*2), Y2
	VCVTPH2PS (SI)(R9*1), Y3
	VCVTPH2PS (R10), Y4
	VCVTPH2PS (R10)(R8*1), Y5
	PACK6
	ADDQ      $192, DI
	VCVTPH2PS 16(SI), Y0
	VCVTPH2PS 16(SI)(R8*1), Y1
	VCVTPH2PS 16(SI)(R8*2), Y2
	VCVTPH2PS 16(SI)(R9*1), Y3
	VCVTPH2PS 16(R10), Y4
	VCVTPH2PS 16(R10)(R8*1), Y5
	PACK6
	VZEROUPPER
	RET
