//go:build !noasm

#include "textflag.h"

// Winograd's 1-D transforms on 8 lanes at a time (AVX2, FMA): input vector
// i of a lane is at src + i·ss (elements), output vector r at dst + r·ds;
// n is a multiple of 8. The Go twins are winogradTransformGo with the
// matrices of conv_winograd.go; these compute the same sums, grouped to
// share terms.

// SETUP loads the pointers: SI, R10 = src, src + 4·ss; DI, R11 = dst,
// dst + 4·ds; R8, R9 = ss, 3·ss and R12, R13 = ds, 3·ds in bytes.
#define SETUP \
	MOVQ dst+0(FP), DI; \
	MOVQ ds+8(FP), R12; \
	SHLQ $2, R12; \
	LEAQ (R12)(R12*2), R13; \
	LEAQ (DI)(R12*4), R11; \
	MOVQ src+16(FP), SI; \
	MOVQ ss+24(FP), R8; \
	SHLQ $2, R8; \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (SI)(R8*4), R10; \
	MOVQ n+32(FP), CX

#define BCAST(bits, reg) \
	MOVL         bits, AX; \
	MOVQ         AX, X15; \
	VBROADCASTSS X15, reg

// func winoInF4AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
//	v0 = 4d0 − 5d2 + d4, v1 = (d4 − 4d2) + (d3 − 4d1), v2 = (d4 − 4d2) − (d3 − 4d1),
//	v3 = (d4 − d2) + 2(d3 − d1), v4 = (d4 − d2) − 2(d3 − d1), v5 = 4d1 − 5d3 + d5
TEXT ·winoInF4AVX2(SB), NOSPLIT, $0-40
	SETUP
	BCAST($0x40800000, Y12) // 4
	BCAST($0x40a00000, Y13) // 5

in4loop:
	CMPQ         CX, $8
	JL           in4done
	VMOVUPS      (SI), Y0
	VMOVUPS      (SI)(R8*1), Y1
	VMOVUPS      (SI)(R8*2), Y2
	VMOVUPS      (SI)(R9*1), Y3
	VMOVUPS      (R10), Y4
	VMOVUPS      (R10)(R8*1), Y5
	VMOVAPS      Y4, Y6
	VFNMADD231PS Y12, Y2, Y6 // d4 − 4d2
	VMOVAPS      Y3, Y7
	VFNMADD231PS Y12, Y1, Y7 // d3 − 4d1
	VADDPS       Y7, Y6, Y8  // v1
	VSUBPS       Y7, Y6, Y9  // v2
	VSUBPS       Y2, Y4, Y10 // d4 − d2
	VSUBPS       Y1, Y3, Y11
	VADDPS       Y11, Y11, Y11 // 2(d3 − d1)
	VADDPS       Y11, Y10, Y6  // v3
	VSUBPS       Y11, Y10, Y7  // v4
	VFNMADD231PS Y13, Y2, Y4   // d4 − 5d2
	VFMADD231PS  Y12, Y0, Y4   // v0
	VFNMADD231PS Y13, Y3, Y5   // d5 − 5d3
	VFMADD231PS  Y12, Y1, Y5   // v5
	VMOVUPS      Y4, (DI)
	VMOVUPS      Y8, (DI)(R12*1)
	VMOVUPS      Y9, (DI)(R12*2)
	VMOVUPS      Y6, (DI)(R13*1)
	VMOVUPS      Y7, (R11)
	VMOVUPS      Y5, (R11)(R12*1)
	ADDQ         $32, SI
	ADDQ         $32, R10
	ADDQ         $32, DI
	ADDQ         $32, R11
	SUBQ         $8, CX
	JMP          in4loop

in4done:
	VZEROUPPER
	RET

// func winoOutF4AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
//	y0 = m0 + (m1 + m2) + (m3 + m4), y1 = (m1 − m2) + 2(m3 − m4),
//	y2 = (m1 + m2) + 4(m3 + m4), y3 = (m1 − m2) + 8(m3 − m4) + m5
TEXT ·winoOutF4AVX2(SB), NOSPLIT, $0-40
	SETUP
	BCAST($0x40000000, Y12) // 2
	BCAST($0x40800000, Y13) // 4
	BCAST($0x41000000, Y14) // 8

out4loop:
	CMPQ        CX, $8
	JL          out4done
	VMOVUPS     (SI), Y0
	VMOVUPS     (SI)(R8*1), Y1
	VMOVUPS     (SI)(R8*2), Y2
	VMOVUPS     (SI)(R9*1), Y3
	VMOVUPS     (R10), Y4
	VMOVUPS     (R10)(R8*1), Y5
	VADDPS      Y2, Y1, Y6 // a = m1 + m2
	VSUBPS      Y2, Y1, Y7 // b = m1 − m2
	VADDPS      Y4, Y3, Y8 // c = m3 + m4
	VSUBPS      Y4, Y3, Y9 // d = m3 − m4
	VADDPS      Y6, Y0, Y0
	VADDPS      Y8, Y0, Y0 // y0
	VMOVAPS     Y7, Y10
	VFMADD231PS Y12, Y9, Y10 // y1
	VFMADD231PS Y13, Y8, Y6  // y2
	VADDPS      Y5, Y7, Y7
	VFMADD231PS Y14, Y9, Y7  // y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y10, (DI)(R12*1)
	VMOVUPS     Y6, (DI)(R12*2)
	VMOVUPS     Y7, (DI)(R13*1)
	ADDQ        $32, SI
	ADDQ        $32, R10
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         out4loop

out4done:
	VZEROUPPER
	RET

// func winoInF2AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
//	v0 = d0 − d2, v1 = d1 + d2, v2 = d2 − d1, v3 = d1 − d3
TEXT ·winoInF2AVX2(SB), NOSPLIT, $0-40
	SETUP

in2loop:
	CMPQ    CX, $8
	JL      in2done
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VSUBPS  Y2, Y0, Y4
	VADDPS  Y2, Y1, Y5
	VSUBPS  Y1, Y2, Y6
	VSUBPS  Y3, Y1, Y7
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, (DI)(R12*1)
	VMOVUPS Y6, (DI)(R12*2)
	VMOVUPS Y7, (DI)(R13*1)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     in2loop

in2done:
	VZEROUPPER
	RET

// func winoOutF2AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
//	y0 = m0 + m1 + m2, y1 = m1 − m2 − m3
TEXT ·winoOutF2AVX2(SB), NOSPLIT, $0-40
	SETUP

out2loop:
	CMPQ    CX, $8
	JL      out2done
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VADDPS  Y1, Y0, Y4
	VADDPS  Y2, Y4, Y4
	VSUBPS  Y2, Y1, Y5
	VSUBPS  Y3, Y5, Y5
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, (DI)(R12*1)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     out2loop

out2done:
	VZEROUPPER
	RET

// func winoGF4AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
// The kernel transform G of F(4×4, 3×3), 3 inputs to 6:
//
//	v0 = d0/4, v1 = −(d0 + d2 + d1)/6, v2 = (d1 − (d0 + d2))/6,
//	v3 = (d0/24 + d2/6) + d1/12, v4 = (d0/24 + d2/6) − d1/12, v5 = d2
TEXT ·winoGF4AVX2(SB), NOSPLIT, $0-40
	SETUP
	BCAST($0x3e800000, Y10) // 1/4
	BCAST($0x3e2aaaab, Y11) // 1/6
	BCAST($0x3d2aaaab, Y12) // 1/24
	BCAST($0x3daaaaab, Y13) // 1/12
	VXORPS Y14, Y14, Y14

g4loop:
	CMPQ        CX, $8
	JL          g4done
	VMOVUPS     (SI), Y0
	VMOVUPS     (SI)(R8*1), Y1
	VMOVUPS     (SI)(R8*2), Y2
	VMULPS      Y10, Y0, Y3 // v0
	VADDPS      Y2, Y0, Y4  // s = d0 + d2
	VADDPS      Y1, Y4, Y5
	VMULPS      Y11, Y5, Y5
	VSUBPS      Y5, Y14, Y5 // v1
	VSUBPS      Y4, Y1, Y6
	VMULPS      Y11, Y6, Y6 // v2
	VMULPS      Y11, Y2, Y7
	VFMADD231PS Y12, Y0, Y7 // p = d0/24 + d2/6
	VMULPS      Y13, Y1, Y8 // q = d1/12
	VADDPS      Y8, Y7, Y9  // v3
	VSUBPS      Y8, Y7, Y7  // v4
	VMOVUPS     Y3, (DI)
	VMOVUPS     Y5, (DI)(R12*1)
	VMOVUPS     Y6, (DI)(R12*2)
	VMOVUPS     Y9, (DI)(R13*1)
	VMOVUPS     Y7, (R11)
	VMOVUPS     Y2, (R11)(R12*1)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R11
	SUBQ        $8, CX
	JMP         g4loop

g4done:
	VZEROUPPER
	RET

// func winoGF2AVX2(dst *float32, ds int, src *float32, ss int, n int)
//
// The kernel transform G of F(2×2, 3×3), 3 inputs to 4:
//
//	v0 = d0, v1 = ((d0 + d2) + d1)/2, v2 = ((d0 + d2) − d1)/2, v3 = d2
TEXT ·winoGF2AVX2(SB), NOSPLIT, $0-40
	SETUP
	BCAST($0x3f000000, Y10) // 1/2

g2loop:
	CMPQ    CX, $8
	JL      g2done
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VADDPS  Y2, Y0, Y4
	VADDPS  Y1, Y4, Y5
	VMULPS  Y10, Y5, Y5
	VSUBPS  Y1, Y4, Y6
	VMULPS  Y10, Y6, Y6
	VMOVUPS Y0, (DI)
	VMOVUPS Y5, (DI)(R12*1)
	VMOVUPS Y6, (DI)(R12*2)
	VMOVUPS Y2, (DI)(R13*1)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     g2loop

g2done:
	VZEROUPPER
	RET
