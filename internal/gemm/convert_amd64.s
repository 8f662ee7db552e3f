//go:build !noasm

#include "textflag.h"

// func convertAVX512(dst *float32, src *uint16, n int)
//
// convertAVX512 converts n half-precision values, n a multiple of 16.
TEXT ·convertAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JEQ  done

loop:
	VCVTPH2PS (SI), Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNE       loop

done:
	VZEROUPPER
	RET

// func convertF16C(dst *float32, src *uint16, n int)
//
// convertF16C converts n half-precision values, n a multiple of 8.
TEXT ·convertF16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JEQ  done

loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNE       loop

done:
	VZEROUPPER
	RET
