//go:build !noasm

#include "textflag.h"

// func adamwAVX2(theta, gr, m, v *float32, n int, k *adamwFactors)
//
// AdamW's update of n values (a multiple of 8), rounding each operation as
// adamwGo does — float32 multiplies, adds and divides, no FMA; the square
// root is correctly rounded in both — so the bits are the Go loop's.
// k holds decay, 1 − β1, β2, 1 − β2, √(1 − β2ᵗ), ε and the step size.
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ         theta+0(FP), DI
	MOVQ         gr+8(FP), SI
	MOVQ         m+16(FP), R8
	MOVQ         v+24(FP), R9
	MOVQ         n+32(FP), CX
	MOVQ         k+40(FP), AX
	VBROADCASTSS 0(AX), Y15  // decay
	VBROADCASTSS 4(AX), Y14  // 1 − β1
	VBROADCASTSS 8(AX), Y13  // β2
	VBROADCASTSS 12(AX), Y12 // 1 − β2
	VBROADCASTSS 16(AX), Y11 // √(1 − β2ᵗ)
	VBROADCASTSS 20(AX), Y10 // ε
	VBROADCASTSS 24(AX), Y9  // step size

adamw_loop:
	CMPQ    CX, $8
	JL      adamw_done
	VMOVUPS (SI), Y0 // g
	VMOVUPS (R8), Y1 // m
	VMOVUPS (R9), Y2 // v

	// m += (1 − β1)·(g − m)
	VSUBPS Y1, Y0, Y3
	VMULPS Y3, Y14, Y3
	VADDPS Y3, Y1, Y1

	// v = β2·v + (1 − β2)·g·g
	VMULPS Y2, Y13, Y2
	VMULPS Y0, Y12, Y4
	VMULPS Y0, Y4, Y4
	VADDPS Y4, Y2, Y2

	// θ = θ·decay − step·m/(√v/√(1 − β2ᵗ) + ε)
	VSQRTPS Y2, Y5
	VDIVPS  Y11, Y5, Y5
	VADDPS  Y10, Y5, Y5
	VMULPS  Y1, Y9, Y6
	VDIVPS  Y5, Y6, Y6
	VMOVUPS (DI), Y7
	VMULPS  Y15, Y7, Y7
	VSUBPS  Y6, Y7, Y7

	VMOVUPS Y7, (DI)
	VMOVUPS Y1, (R8)
	VMOVUPS Y2, (R9)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     adamw_loop

adamw_done:
	VZEROUPPER
	RET
