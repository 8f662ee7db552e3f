//go:build !noasm

#include "textflag.h"

// Constants of the exp kernel (see exp32 in fastmath.go), each repeated in
// the 8 lanes of a YMM register. Offsets: log2e 0, ln2hi 32, ln2lo 64,
// p0…p5 96…256, one 288, lo 320, hi 352, bias 384.
// log2e = 1.4426950408889634
DATA expc<>+0(SB)/4, $0x3fb8aa3b
DATA expc<>+4(SB)/4, $0x3fb8aa3b
DATA expc<>+8(SB)/4, $0x3fb8aa3b
DATA expc<>+12(SB)/4, $0x3fb8aa3b
DATA expc<>+16(SB)/4, $0x3fb8aa3b
DATA expc<>+20(SB)/4, $0x3fb8aa3b
DATA expc<>+24(SB)/4, $0x3fb8aa3b
DATA expc<>+28(SB)/4, $0x3fb8aa3b
// ln2hi = 0.693359375
DATA expc<>+32(SB)/4, $0x3f318000
DATA expc<>+36(SB)/4, $0x3f318000
DATA expc<>+40(SB)/4, $0x3f318000
DATA expc<>+44(SB)/4, $0x3f318000
DATA expc<>+48(SB)/4, $0x3f318000
DATA expc<>+52(SB)/4, $0x3f318000
DATA expc<>+56(SB)/4, $0x3f318000
DATA expc<>+60(SB)/4, $0x3f318000
// ln2lo = -0.00021219444
DATA expc<>+64(SB)/4, $0xb95e8083
DATA expc<>+68(SB)/4, $0xb95e8083
DATA expc<>+72(SB)/4, $0xb95e8083
DATA expc<>+76(SB)/4, $0xb95e8083
DATA expc<>+80(SB)/4, $0xb95e8083
DATA expc<>+84(SB)/4, $0xb95e8083
DATA expc<>+88(SB)/4, $0xb95e8083
DATA expc<>+92(SB)/4, $0xb95e8083
// p0 = 0.000198756915
DATA expc<>+96(SB)/4, $0x39506967
DATA expc<>+100(SB)/4, $0x39506967
DATA expc<>+104(SB)/4, $0x39506967
DATA expc<>+108(SB)/4, $0x39506967
DATA expc<>+112(SB)/4, $0x39506967
DATA expc<>+116(SB)/4, $0x39506967
DATA expc<>+120(SB)/4, $0x39506967
DATA expc<>+124(SB)/4, $0x39506967
// p1 = 0.0013981999507
DATA expc<>+128(SB)/4, $0x3ab743ce
DATA expc<>+132(SB)/4, $0x3ab743ce
DATA expc<>+136(SB)/4, $0x3ab743ce
DATA expc<>+140(SB)/4, $0x3ab743ce
DATA expc<>+144(SB)/4, $0x3ab743ce
DATA expc<>+148(SB)/4, $0x3ab743ce
DATA expc<>+152(SB)/4, $0x3ab743ce
DATA expc<>+156(SB)/4, $0x3ab743ce
// p2 = 0.0083334519073
DATA expc<>+160(SB)/4, $0x3c088908
DATA expc<>+164(SB)/4, $0x3c088908
DATA expc<>+168(SB)/4, $0x3c088908
DATA expc<>+172(SB)/4, $0x3c088908
DATA expc<>+176(SB)/4, $0x3c088908
DATA expc<>+180(SB)/4, $0x3c088908
DATA expc<>+184(SB)/4, $0x3c088908
DATA expc<>+188(SB)/4, $0x3c088908
// p3 = 0.041665795894
DATA expc<>+192(SB)/4, $0x3d2aa9c1
DATA expc<>+196(SB)/4, $0x3d2aa9c1
DATA expc<>+200(SB)/4, $0x3d2aa9c1
DATA expc<>+204(SB)/4, $0x3d2aa9c1
DATA expc<>+208(SB)/4, $0x3d2aa9c1
DATA expc<>+212(SB)/4, $0x3d2aa9c1
DATA expc<>+216(SB)/4, $0x3d2aa9c1
DATA expc<>+220(SB)/4, $0x3d2aa9c1
// p4 = 0.16666665459
DATA expc<>+224(SB)/4, $0x3e2aaaaa
DATA expc<>+228(SB)/4, $0x3e2aaaaa
DATA expc<>+232(SB)/4, $0x3e2aaaaa
DATA expc<>+236(SB)/4, $0x3e2aaaaa
DATA expc<>+240(SB)/4, $0x3e2aaaaa
DATA expc<>+244(SB)/4, $0x3e2aaaaa
DATA expc<>+248(SB)/4, $0x3e2aaaaa
DATA expc<>+252(SB)/4, $0x3e2aaaaa
// p5 = 0.50000001201
DATA expc<>+256(SB)/4, $0x3f000000
DATA expc<>+260(SB)/4, $0x3f000000
DATA expc<>+264(SB)/4, $0x3f000000
DATA expc<>+268(SB)/4, $0x3f000000
DATA expc<>+272(SB)/4, $0x3f000000
DATA expc<>+276(SB)/4, $0x3f000000
DATA expc<>+280(SB)/4, $0x3f000000
DATA expc<>+284(SB)/4, $0x3f000000
// one = 1.0
DATA expc<>+288(SB)/4, $0x3f800000
DATA expc<>+292(SB)/4, $0x3f800000
DATA expc<>+296(SB)/4, $0x3f800000
DATA expc<>+300(SB)/4, $0x3f800000
DATA expc<>+304(SB)/4, $0x3f800000
DATA expc<>+308(SB)/4, $0x3f800000
DATA expc<>+312(SB)/4, $0x3f800000
DATA expc<>+316(SB)/4, $0x3f800000
// lo = -87.33654
DATA expc<>+320(SB)/4, $0xc2aeac4f
DATA expc<>+324(SB)/4, $0xc2aeac4f
DATA expc<>+328(SB)/4, $0xc2aeac4f
DATA expc<>+332(SB)/4, $0xc2aeac4f
DATA expc<>+336(SB)/4, $0xc2aeac4f
DATA expc<>+340(SB)/4, $0xc2aeac4f
DATA expc<>+344(SB)/4, $0xc2aeac4f
DATA expc<>+348(SB)/4, $0xc2aeac4f
// hi = 88.0
DATA expc<>+352(SB)/4, $0x42b00000
DATA expc<>+356(SB)/4, $0x42b00000
DATA expc<>+360(SB)/4, $0x42b00000
DATA expc<>+364(SB)/4, $0x42b00000
DATA expc<>+368(SB)/4, $0x42b00000
DATA expc<>+372(SB)/4, $0x42b00000
DATA expc<>+376(SB)/4, $0x42b00000
DATA expc<>+380(SB)/4, $0x42b00000
// bias = 127, the exponent bias, as int32
DATA expc<>+384(SB)/4, $0x0000007f
DATA expc<>+388(SB)/4, $0x0000007f
DATA expc<>+392(SB)/4, $0x0000007f
DATA expc<>+396(SB)/4, $0x0000007f
DATA expc<>+400(SB)/4, $0x0000007f
DATA expc<>+404(SB)/4, $0x0000007f
DATA expc<>+408(SB)/4, $0x0000007f
DATA expc<>+412(SB)/4, $0x0000007f
GLOBL expc<>(SB), RODATA|NOPTR, $416

// EXP8 sets Y0 = e^Y0 lane by lane, as exp32 does: clamp to [lo, hi],
// n = round(x·log2e), r = x − n·ln2 (in two parts), e^r by a degree-6
// polynomial, times 2^n built in the exponent bits; lanes below lo become 0
// (NaN lanes stay NaN). Expects Y13 = lo, Y12 = hi, Y11 = log2e, Y10 = one;
// clobbers Y1–Y4 and Y6.
#define EXP8 \
	VCMPPS       $5, Y13, Y0, Y6 \
	VMAXPS       Y0, Y13, Y0 \
	VMINPS       Y0, Y12, Y0 \
	VMULPS       Y11, Y0, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VMOVAPS      Y0, Y2 \
	VFNMADD231PS expc<>+32(SB), Y1, Y2 \
	VFNMADD231PS expc<>+64(SB), Y1, Y2 \
	VMOVUPS      expc<>+96(SB), Y3 \
	VFMADD213PS  expc<>+128(SB), Y2, Y3 \
	VFMADD213PS  expc<>+160(SB), Y2, Y3 \
	VFMADD213PS  expc<>+192(SB), Y2, Y3 \
	VFMADD213PS  expc<>+224(SB), Y2, Y3 \
	VFMADD213PS  expc<>+256(SB), Y2, Y3 \
	VMULPS       Y2, Y2, Y4 \
	VFMADD213PS  Y2, Y4, Y3 \
	VADDPS       Y10, Y3, Y3 \
	VCVTPS2DQ    Y1, Y1 \
	VPADDD       expc<>+384(SB), Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y3, Y0 \
	VANDPS       Y6, Y0, Y0

#define LOADCONST \
	VMOVUPS expc<>+320(SB), Y13 \
	VMOVUPS expc<>+352(SB), Y12 \
	VMOVUPS expc<>+0(SB), Y11 \
	VMOVUPS expc<>+288(SB), Y10

// func expSubAVX2(p *float32, n int, m float32) float32
TEXT ·expSubAVX2(SB), NOSPLIT, $0-28
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPS       Y14, Y14, Y14
	LOADCONST

expsub_loop:
	CMPQ    CX, $8
	JL      expsub_done
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	EXP8
	VADDPS  Y0, Y14, Y14
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     expsub_loop

expsub_done:
	VEXTRACTF128 $1, Y14, X1
	VADDPS       X1, X14, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func siluAVX2(dst, src *float32, n int, scale, shift float32)
TEXT ·siluAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y15
	VBROADCASTSS shift+28(FP), Y14
	VXORPS       Y9, Y9, Y9
	LOADCONST

silu_loop:
	CMPQ        CX, $8
	JL          silu_done
	VMOVUPS     (SI), Y8
	VFMADD213PS Y14, Y15, Y8 // o = v·scale + shift
	VSUBPS      Y8, Y9, Y0   // −o
	EXP8
	VADDPS      Y10, Y0, Y0  // 1 + e^−o
	VDIVPS      Y0, Y8, Y0   // o/(1 + e^−o)
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         silu_loop

silu_done:
	VZEROUPPER
	RET

// func maxAVX2(p *float32, n int) float32
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS (SI), Y0
	VMOVAPS      Y0, Y1

max_loop:
	CMPQ    CX, $16
	JL      max_tail
	VMAXPS  (SI), Y0, Y0
	VMAXPS  32(SI), Y1, Y1
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     max_loop

max_tail:
	CMPQ   CX, $8
	JL     max_done
	VMAXPS (SI), Y0, Y0

max_done:
	VMAXPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET

// func halfToFloatF16C(dst *float32, src *uint16, n int)
TEXT ·halfToFloatF16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

h2f_loop:
	CMPQ      CX, $16
	JL        h2f_tail
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       h2f_loop

h2f_tail:
	CMPQ      CX, $8
	JL        h2f_done
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)

h2f_done:
	VZEROUPPER
	RET

// Constants of the GELU kernel (see erf32 in fastmath.go), 8 lanes each.
// rsqrt2 = 0.7071067811865476
DATA erfc<>+0(SB)/4, $0x3f3504f3
DATA erfc<>+4(SB)/4, $0x3f3504f3
DATA erfc<>+8(SB)/4, $0x3f3504f3
DATA erfc<>+12(SB)/4, $0x3f3504f3
DATA erfc<>+16(SB)/4, $0x3f3504f3
DATA erfc<>+20(SB)/4, $0x3f3504f3
DATA erfc<>+24(SB)/4, $0x3f3504f3
DATA erfc<>+28(SB)/4, $0x3f3504f3
// lo = -4.0
DATA erfc<>+32(SB)/4, $0xc0800000
DATA erfc<>+36(SB)/4, $0xc0800000
DATA erfc<>+40(SB)/4, $0xc0800000
DATA erfc<>+44(SB)/4, $0xc0800000
DATA erfc<>+48(SB)/4, $0xc0800000
DATA erfc<>+52(SB)/4, $0xc0800000
DATA erfc<>+56(SB)/4, $0xc0800000
DATA erfc<>+60(SB)/4, $0xc0800000
// hi = 4.0
DATA erfc<>+64(SB)/4, $0x40800000
DATA erfc<>+68(SB)/4, $0x40800000
DATA erfc<>+72(SB)/4, $0x40800000
DATA erfc<>+76(SB)/4, $0x40800000
DATA erfc<>+80(SB)/4, $0x40800000
DATA erfc<>+84(SB)/4, $0x40800000
DATA erfc<>+88(SB)/4, $0x40800000
DATA erfc<>+92(SB)/4, $0x40800000
// a13 = -2.72614225801306e-10
DATA erfc<>+96(SB)/4, $0xaf95df0b
DATA erfc<>+100(SB)/4, $0xaf95df0b
DATA erfc<>+104(SB)/4, $0xaf95df0b
DATA erfc<>+108(SB)/4, $0xaf95df0b
DATA erfc<>+112(SB)/4, $0xaf95df0b
DATA erfc<>+116(SB)/4, $0xaf95df0b
DATA erfc<>+120(SB)/4, $0xaf95df0b
DATA erfc<>+124(SB)/4, $0xaf95df0b
// a11 = 2.77068142495902e-08
DATA erfc<>+128(SB)/4, $0x32edffee
DATA erfc<>+132(SB)/4, $0x32edffee
DATA erfc<>+136(SB)/4, $0x32edffee
DATA erfc<>+140(SB)/4, $0x32edffee
DATA erfc<>+144(SB)/4, $0x32edffee
DATA erfc<>+148(SB)/4, $0x32edffee
DATA erfc<>+152(SB)/4, $0x32edffee
DATA erfc<>+156(SB)/4, $0x32edffee
// a9 = -2.10102402082508e-06
DATA erfc<>+160(SB)/4, $0xb60cff51
DATA erfc<>+164(SB)/4, $0xb60cff51
DATA erfc<>+168(SB)/4, $0xb60cff51
DATA erfc<>+172(SB)/4, $0xb60cff51
DATA erfc<>+176(SB)/4, $0xb60cff51
DATA erfc<>+180(SB)/4, $0xb60cff51
DATA erfc<>+184(SB)/4, $0xb60cff51
DATA erfc<>+188(SB)/4, $0xb60cff51
// a7 = -5.69250639462346e-05
DATA erfc<>+192(SB)/4, $0xb86ec2d2
DATA erfc<>+196(SB)/4, $0xb86ec2d2
DATA erfc<>+200(SB)/4, $0xb86ec2d2
DATA erfc<>+204(SB)/4, $0xb86ec2d2
DATA erfc<>+208(SB)/4, $0xb86ec2d2
DATA erfc<>+212(SB)/4, $0xb86ec2d2
DATA erfc<>+216(SB)/4, $0xb86ec2d2
DATA erfc<>+220(SB)/4, $0xb86ec2d2
// a5 = -0.000734990630326855
DATA erfc<>+224(SB)/4, $0xba40ac63
DATA erfc<>+228(SB)/4, $0xba40ac63
DATA erfc<>+232(SB)/4, $0xba40ac63
DATA erfc<>+236(SB)/4, $0xba40ac63
DATA erfc<>+240(SB)/4, $0xba40ac63
DATA erfc<>+244(SB)/4, $0xba40ac63
DATA erfc<>+248(SB)/4, $0xba40ac63
DATA erfc<>+252(SB)/4, $0xba40ac63
// a3 = -0.00295459980854025
DATA erfc<>+256(SB)/4, $0xbb41a1f6
DATA erfc<>+260(SB)/4, $0xbb41a1f6
DATA erfc<>+264(SB)/4, $0xbb41a1f6
DATA erfc<>+268(SB)/4, $0xbb41a1f6
DATA erfc<>+272(SB)/4, $0xbb41a1f6
DATA erfc<>+276(SB)/4, $0xbb41a1f6
DATA erfc<>+280(SB)/4, $0xbb41a1f6
DATA erfc<>+284(SB)/4, $0xbb41a1f6
// a1 = -0.0160960333262415
DATA erfc<>+288(SB)/4, $0xbc83dbd4
DATA erfc<>+292(SB)/4, $0xbc83dbd4
DATA erfc<>+296(SB)/4, $0xbc83dbd4
DATA erfc<>+300(SB)/4, $0xbc83dbd4
DATA erfc<>+304(SB)/4, $0xbc83dbd4
DATA erfc<>+308(SB)/4, $0xbc83dbd4
DATA erfc<>+312(SB)/4, $0xbc83dbd4
DATA erfc<>+316(SB)/4, $0xbc83dbd4
// b8 = -1.45660718464996e-05
DATA erfc<>+320(SB)/4, $0xb77460cd
DATA erfc<>+324(SB)/4, $0xb77460cd
DATA erfc<>+328(SB)/4, $0xb77460cd
DATA erfc<>+332(SB)/4, $0xb77460cd
DATA erfc<>+336(SB)/4, $0xb77460cd
DATA erfc<>+340(SB)/4, $0xb77460cd
DATA erfc<>+344(SB)/4, $0xb77460cd
DATA erfc<>+348(SB)/4, $0xb77460cd
// b6 = -0.000213374055278905
DATA erfc<>+352(SB)/4, $0xb95fbd29
DATA erfc<>+356(SB)/4, $0xb95fbd29
DATA erfc<>+360(SB)/4, $0xb95fbd29
DATA erfc<>+364(SB)/4, $0xb95fbd29
DATA erfc<>+368(SB)/4, $0xb95fbd29
DATA erfc<>+372(SB)/4, $0xb95fbd29
DATA erfc<>+376(SB)/4, $0xb95fbd29
DATA erfc<>+380(SB)/4, $0xb95fbd29
// b4 = -0.00168282697438203
DATA erfc<>+384(SB)/4, $0xbadc924e
DATA erfc<>+388(SB)/4, $0xbadc924e
DATA erfc<>+392(SB)/4, $0xbadc924e
DATA erfc<>+396(SB)/4, $0xbadc924e
DATA erfc<>+400(SB)/4, $0xbadc924e
DATA erfc<>+404(SB)/4, $0xbadc924e
DATA erfc<>+408(SB)/4, $0xbadc924e
DATA erfc<>+412(SB)/4, $0xbadc924e
// b2 = -0.00737332916720468
DATA erfc<>+416(SB)/4, $0xbbf19bf8
DATA erfc<>+420(SB)/4, $0xbbf19bf8
DATA erfc<>+424(SB)/4, $0xbbf19bf8
DATA erfc<>+428(SB)/4, $0xbbf19bf8
DATA erfc<>+432(SB)/4, $0xbbf19bf8
DATA erfc<>+436(SB)/4, $0xbbf19bf8
DATA erfc<>+440(SB)/4, $0xbbf19bf8
DATA erfc<>+444(SB)/4, $0xbbf19bf8
// b0 = -0.0142647390514189
DATA erfc<>+448(SB)/4, $0xbc69b6a7
DATA erfc<>+452(SB)/4, $0xbc69b6a7
DATA erfc<>+456(SB)/4, $0xbc69b6a7
DATA erfc<>+460(SB)/4, $0xbc69b6a7
DATA erfc<>+464(SB)/4, $0xbc69b6a7
DATA erfc<>+468(SB)/4, $0xbc69b6a7
DATA erfc<>+472(SB)/4, $0xbc69b6a7
DATA erfc<>+476(SB)/4, $0xbc69b6a7
// one = 1.0
DATA erfc<>+480(SB)/4, $0x3f800000
DATA erfc<>+484(SB)/4, $0x3f800000
DATA erfc<>+488(SB)/4, $0x3f800000
DATA erfc<>+492(SB)/4, $0x3f800000
DATA erfc<>+496(SB)/4, $0x3f800000
DATA erfc<>+500(SB)/4, $0x3f800000
DATA erfc<>+504(SB)/4, $0x3f800000
DATA erfc<>+508(SB)/4, $0x3f800000
// half = 0.5
DATA erfc<>+512(SB)/4, $0x3f000000
DATA erfc<>+516(SB)/4, $0x3f000000
DATA erfc<>+520(SB)/4, $0x3f000000
DATA erfc<>+524(SB)/4, $0x3f000000
DATA erfc<>+528(SB)/4, $0x3f000000
DATA erfc<>+532(SB)/4, $0x3f000000
DATA erfc<>+536(SB)/4, $0x3f000000
DATA erfc<>+540(SB)/4, $0x3f000000
GLOBL erfc<>(SB), RODATA|NOPTR, $544

// GELU8 sets Y0 = GELU(Y0) = Y0/2·(1 + erf(Y0/√2)) lane by lane, with erf32's
// rational approximation. Clobbers Y1–Y4.
#define GELU8 \
	VMULPS      erfc<>+0(SB), Y0, Y1 \
	VMAXPS      erfc<>+32(SB), Y1, Y1 \
	VMINPS      erfc<>+64(SB), Y1, Y1 \
	VMULPS      Y1, Y1, Y2 \
	VMOVUPS     erfc<>+96(SB), Y3 \
	VFMADD213PS erfc<>+128(SB), Y2, Y3 \
	VFMADD213PS erfc<>+160(SB), Y2, Y3 \
	VFMADD213PS erfc<>+192(SB), Y2, Y3 \
	VFMADD213PS erfc<>+224(SB), Y2, Y3 \
	VFMADD213PS erfc<>+256(SB), Y2, Y3 \
	VFMADD213PS erfc<>+288(SB), Y2, Y3 \
	VMOVUPS     erfc<>+320(SB), Y4 \
	VFMADD213PS erfc<>+352(SB), Y2, Y4 \
	VFMADD213PS erfc<>+384(SB), Y2, Y4 \
	VFMADD213PS erfc<>+416(SB), Y2, Y4 \
	VFMADD213PS erfc<>+448(SB), Y2, Y4 \
	VMULPS      Y1, Y3, Y3 \
	VDIVPS      Y4, Y3, Y3 \
	VADDPS      erfc<>+480(SB), Y3, Y3 \
	VMULPS      erfc<>+512(SB), Y0, Y0 \
	VMULPS      Y3, Y0, Y0

// func gegluAVX2(dst, val, gate *float32, n int)
TEXT ·gegluAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ val+8(FP), SI
	MOVQ gate+16(FP), DX
	MOVQ n+24(FP), CX

geglu_loop:
	CMPQ    CX, $8
	JL      geglu_done
	VMOVUPS (DX), Y0
	GELU8
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     geglu_loop

geglu_done:
	VZEROUPPER
	RET

// func geluAVX2(dst, src *float32, n int)
TEXT ·geluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

gelu_loop:
	CMPQ    CX, $8
	JL      gelu_done
	VMOVUPS (SI), Y0
	GELU8
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     gelu_loop

gelu_done:
	VZEROUPPER
	RET

// func affineAVX2(dst, src *float32, n int, scale, shift float32)
TEXT ·affineAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y15
	VBROADCASTSS shift+28(FP), Y14

affine_loop:
	CMPQ        CX, $16
	JL          affine_tail
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VFMADD213PS Y14, Y15, Y0
	VFMADD213PS Y14, Y15, Y1
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         affine_loop

affine_tail:
	CMPQ        CX, $8
	JL          affine_done
	VMOVUPS     (SI), Y0
	VFMADD213PS Y14, Y15, Y0
	VMOVUPS     Y0, (DI)

affine_done:
	VZEROUPPER
	RET

// func sumsAVX2(p *float32, n int, m float32) (sum, sq float32)
// returns Σ p[i] and Σ (p[i] − m)².
TEXT ·sumsAVX2(SB), NOSPLIT, $0-32
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

sums_loop:
	CMPQ        CX, $16
	JL          sums_tail
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VADDPS      Y4, Y0, Y0
	VADDPS      Y5, Y1, Y1
	VSUBPS      Y15, Y4, Y4
	VSUBPS      Y15, Y5, Y5
	VFMADD231PS Y4, Y4, Y2
	VFMADD231PS Y5, Y5, Y3
	ADDQ        $64, SI
	SUBQ        $16, CX
	JMP         sums_loop

sums_tail:
	CMPQ        CX, $8
	JL          sums_done
	VMOVUPS     (SI), Y4
	VADDPS      Y4, Y0, Y0
	VSUBPS      Y15, Y4, Y4
	VFMADD231PS Y4, Y4, Y2

sums_done:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, sum+24(FP)
	MOVSS        X2, sq+28(FP)
	RET

// func expSubAVX512(p *float32, n int, m float32) float32
// expSubAVX2 with 16 lanes, for n a multiple of 16.
TEXT ·expSubAVX512(SB), NOSPLIT, $0-28
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Z15
	VPXORD       Z14, Z14, Z14
	VBROADCASTSS expc<>+320(SB), Z13 // lo
	VBROADCASTSS expc<>+352(SB), Z12 // hi
	VBROADCASTSS expc<>+0(SB), Z11   // log2e
	VBROADCASTSS expc<>+288(SB), Z10 // one
	VBROADCASTSS expc<>+32(SB), Z20  // ln2hi
	VBROADCASTSS expc<>+64(SB), Z21  // ln2lo
	VBROADCASTSS expc<>+96(SB), Z22  // p0 … p5
	VBROADCASTSS expc<>+128(SB), Z23
	VBROADCASTSS expc<>+160(SB), Z24
	VBROADCASTSS expc<>+192(SB), Z25
	VBROADCASTSS expc<>+224(SB), Z26
	VBROADCASTSS expc<>+256(SB), Z27
	VPBROADCASTD expc<>+384(SB), Z28 // bias 127

expsub512_loop:
	CMPQ         CX, $16
	JL           expsub512_done
	VMOVUPS      (SI), Z0
	VSUBPS       Z15, Z0, Z0
	VCMPPS       $5, Z13, Z0, K1 // !(x < lo)
	VMAXPS       Z0, Z13, Z0
	VMINPS       Z0, Z12, Z0
	VMULPS       Z11, Z0, Z1
	VRNDSCALEPS  $0, Z1, Z1      // n
	VMOVAPS      Z0, Z2
	VFNMADD231PS Z20, Z1, Z2     // r = x − n·ln2hi − n·ln2lo
	VFNMADD231PS Z21, Z1, Z2
	VMOVAPS      Z22, Z3
	VFMADD213PS  Z23, Z2, Z3
	VFMADD213PS  Z24, Z2, Z3
	VFMADD213PS  Z25, Z2, Z3
	VFMADD213PS  Z26, Z2, Z3
	VFMADD213PS  Z27, Z2, Z3
	VMULPS       Z2, Z2, Z4
	VFMADD213PS  Z2, Z4, Z3      // p·r² + r
	VADDPS       Z10, Z3, Z3
	VCVTPS2DQ    Z1, Z1
	VPADDD       Z28, Z1, Z1
	VPSLLD       $23, Z1, Z1     // 2^n
	VMULPS.Z     Z1, Z3, K1, Z0  // 0 below lo
	VADDPS       Z0, Z14, Z14
	VMOVUPS      Z0, (SI)
	ADDQ         $64, SI
	SUBQ         $16, CX
	JMP          expsub512_loop

expsub512_done:
	VEXTRACTF64X4 $1, Z14, Y1
	VADDPS        Y1, Y14, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// Constants of siluGradAVX2, each in 8 lanes. Offsets: sign 0, lo −87 32,
// round 1.5·2²³ 64.
DATA silugc<>+0(SB)/4, $0x80000000
DATA silugc<>+4(SB)/4, $0x80000000
DATA silugc<>+8(SB)/4, $0x80000000
DATA silugc<>+12(SB)/4, $0x80000000
DATA silugc<>+16(SB)/4, $0x80000000
DATA silugc<>+20(SB)/4, $0x80000000
DATA silugc<>+24(SB)/4, $0x80000000
DATA silugc<>+28(SB)/4, $0x80000000
DATA silugc<>+32(SB)/4, $0xc2ae0000
DATA silugc<>+36(SB)/4, $0xc2ae0000
DATA silugc<>+40(SB)/4, $0xc2ae0000
DATA silugc<>+44(SB)/4, $0xc2ae0000
DATA silugc<>+48(SB)/4, $0xc2ae0000
DATA silugc<>+52(SB)/4, $0xc2ae0000
DATA silugc<>+56(SB)/4, $0xc2ae0000
DATA silugc<>+60(SB)/4, $0xc2ae0000
DATA silugc<>+64(SB)/4, $0x4b400000
DATA silugc<>+68(SB)/4, $0x4b400000
DATA silugc<>+72(SB)/4, $0x4b400000
DATA silugc<>+76(SB)/4, $0x4b400000
DATA silugc<>+80(SB)/4, $0x4b400000
DATA silugc<>+84(SB)/4, $0x4b400000
DATA silugc<>+88(SB)/4, $0x4b400000
DATA silugc<>+92(SB)/4, $0x4b400000
GLOBL silugc<>(SB), RODATA|NOPTR, $96

// HORNER sets acc = acc·r + c, a multiply then an add (no FMA): one step of
// a polynomial rounded as the Go loops round it.
#define HORNER(c, r, acc) \
	VMULPS r, acc, acc \
	VADDPS c, acc, acc

// EXPEXACT8 sets Y3 = e^Y0 lane by lane, rounding each operation as exp32
// does (no FMA, so the same bits), for lanes whose Y0 is in (−87, 88), where
// exp32 takes its polynomial: n = (t·log2e + round) − round, r = t − n·ln2hi
// − n·ln2lo, (p·r·r + r + 1)·2ⁿ. Expects Y12 = round, Y11 = log2e, Y10 = one;
// clobbers Y1 and Y2.
#define EXPEXACT8 \
	VMULPS     Y11, Y0, Y1 \
	VADDPS     Y12, Y1, Y1 \
	VSUBPS     Y12, Y1, Y1 \
	VMULPS     expc<>+32(SB), Y1, Y2 \
	VSUBPS     Y2, Y0, Y2 \
	VMULPS     expc<>+64(SB), Y1, Y3 \
	VSUBPS     Y3, Y2, Y2 \
	VMOVUPS    expc<>+96(SB), Y3 \
	HORNER(expc<>+128(SB), Y2, Y3) \
	HORNER(expc<>+160(SB), Y2, Y3) \
	HORNER(expc<>+192(SB), Y2, Y3) \
	HORNER(expc<>+224(SB), Y2, Y3) \
	HORNER(expc<>+256(SB), Y2, Y3) \
	VMULPS     Y2, Y3, Y3 \
	VMULPS     Y2, Y3, Y3 \
	VADDPS     Y2, Y3, Y3 \
	VADDPS     Y10, Y3, Y3 \
	VCVTTPS2DQ Y1, Y1 \
	VPADDD     expc<>+384(SB), Y1, Y1 \
	VPSLLD     $23, Y1, Y1 \
	VMULPS     Y1, Y3, Y3

// EXACTCONST loads the constants of the exact kernels: Y15 = sign bit, Y14 =
// −87, Y13 = 88 (exp32's polynomial range), and EXPEXACT8's Y12 = round,
// Y11 = log2e, Y10 = one.
#define EXACTCONST \
	VMOVUPS silugc<>+0(SB), Y15 \
	VMOVUPS silugc<>+32(SB), Y14 \
	VMOVUPS expc<>+352(SB), Y13 \
	VMOVUPS silugc<>+64(SB), Y12 \
	VMOVUPS expc<>+0(SB), Y11 \
	VMOVUPS expc<>+288(SB), Y10

// SIGMOID8 sets Y4 = σ(u) = 1/(1 + e^−u) lane by lane as sigmoid32 does,
// and DX to the mask of the lanes where −u is in (−87, 88), the only lanes
// whose Y4 is valid (exp32's polynomial range; NaN fails). Expects
// EXACTCONST's constants; clobbers Y0–Y3.
#define SIGMOID8(u) \
	VXORPS    Y15, u, Y0 \
	VCMPPS    $0x1e, Y14, Y0, Y1 \
	VCMPPS    $0x11, Y13, Y0, Y2 \
	VANDPS    Y2, Y1, Y1 \
	VMOVMSKPS Y1, DX \
	EXPEXACT8 \
	VADDPS    Y10, Y3, Y3 \
	VDIVPS    Y3, Y10, Y4

// func siluGradAVX2(dx, dy, x *float32, n int) int
//
// dx[i] += dy[i]·s·(1 + x[i]·(1 − s)) with s = σ(x[i]) = 1/(1 + e^−x[i]),
// rounding each operation as siluGradGo does (sigmoid32, exp32: no FMA), so
// the bits are the Go loop's. It stops before the first block of 8 with a
// lane where exp32 leaves its polynomial (−x ∉ (−87, 88), or NaN) and
// returns how many values it did.
TEXT ·siluGradAVX2(SB), NOSPLIT, $0-40
	MOVQ    dx+0(FP), DI
	MOVQ    dy+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    n+24(FP), CX
	XORQ    AX, AX
	EXACTCONST

silugrad_loop:
	CMPQ      CX, $8
	JL        silugrad_done
	VMOVUPS (BX), Y8 // v
	SIGMOID8(Y8)     // s
	CMPL    DX, $0xff
	JNE     silugrad_done

	// dx += dy·s·(1 + v·(1 − s))
	VSUBPS  Y4, Y10, Y5
	VMULPS  Y5, Y8, Y5
	VADDPS  Y10, Y5, Y5
	VMULPS  (SI), Y4, Y6
	VMULPS  Y5, Y6, Y6
	VADDPS  (DI), Y6, Y6
	VMOVUPS Y6, (DI)

	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $8, AX
	SUBQ $8, CX
	JMP  silugrad_loop

silugrad_done:
	VZEROUPPER
	MOVQ AX, ret+32(FP)
	RET

// Constants of gegluGradAVX2 beyond erfc's and silugc's, 8 lanes each.
// Offsets: −0.5 0, 1/√(2π) 32.
DATA geglugc<>+0(SB)/4, $0xbf000000
DATA geglugc<>+4(SB)/4, $0xbf000000
DATA geglugc<>+8(SB)/4, $0xbf000000
DATA geglugc<>+12(SB)/4, $0xbf000000
DATA geglugc<>+16(SB)/4, $0xbf000000
DATA geglugc<>+20(SB)/4, $0xbf000000
DATA geglugc<>+24(SB)/4, $0xbf000000
DATA geglugc<>+28(SB)/4, $0xbf000000
DATA geglugc<>+32(SB)/4, $0x3ecc422a
DATA geglugc<>+36(SB)/4, $0x3ecc422a
DATA geglugc<>+40(SB)/4, $0x3ecc422a
DATA geglugc<>+44(SB)/4, $0x3ecc422a
DATA geglugc<>+48(SB)/4, $0x3ecc422a
DATA geglugc<>+52(SB)/4, $0x3ecc422a
DATA geglugc<>+56(SB)/4, $0x3ecc422a
DATA geglugc<>+60(SB)/4, $0x3ecc422a
GLOBL geglugc<>(SB), RODATA|NOPTR, $64

// func gegluGradAVX2(dval, dgate, val, gate, dy *float32, n int) int
//
// The backward pass of GEGLU over one row: with g = dy[i], v = gate[i],
// e = erf32(v/√2), dval[i] += g·(0.5·v)·(1 + e) and dgate[i] +=
// g·val[i]·(0.5·(1 + e) + v·exp32((−0.5·v)·v)/√(2π)), rounding each
// operation as gegluGradGo does (no FMA), so the bits are the Go loop's. It
// stops before the first block of 8 with a lane where exp32 leaves its
// polynomial ((−0.5·v)·v ≤ −87, or NaN) and returns how many values it did.
TEXT ·gegluGradAVX2(SB), NOSPLIT, $0-56
	MOVQ    dval+0(FP), DI
	MOVQ    dgate+8(FP), R8
	MOVQ    val+16(FP), SI
	MOVQ    gate+24(FP), BX
	MOVQ    dy+32(FP), R9
	MOVQ    n+40(FP), CX
	XORQ    AX, AX
	EXACTCONST

geglugrad_loop:
	CMPQ      CX, $8
	JL        geglugrad_done
	VMOVUPS   (BX), Y8                 // v
	VMULPS    geglugc<>+0(SB), Y8, Y0 // −0.5·v
	VMULPS    Y8, Y0, Y0              // t = (−0.5·v)·v
	VCMPPS    $0x1e, Y14, Y0, Y1      // t > −87 (t < 88 always)
	VMOVMSKPS Y1, DX
	CMPL      DX, $0xff
	JNE       geglugrad_done
	EXPEXACT8
	VMULPS    geglugc<>+32(SB), Y3, Y9 // pdf = e^t·(1/√(2π))

	// e = erf32(v/√2) = x·P(x²)/Q(x²), x clamped to [−4, 4]
	VMULPS  erfc<>+0(SB), Y8, Y1
	VMAXPS  erfc<>+32(SB), Y1, Y1
	VMINPS  erfc<>+64(SB), Y1, Y1
	VMULPS  Y1, Y1, Y2
	VMOVUPS erfc<>+96(SB), Y3
	HORNER(erfc<>+128(SB), Y2, Y3)
	HORNER(erfc<>+160(SB), Y2, Y3)
	HORNER(erfc<>+192(SB), Y2, Y3)
	HORNER(erfc<>+224(SB), Y2, Y3)
	HORNER(erfc<>+256(SB), Y2, Y3)
	HORNER(erfc<>+288(SB), Y2, Y3)
	VMOVUPS erfc<>+320(SB), Y4
	HORNER(erfc<>+352(SB), Y2, Y4)
	HORNER(erfc<>+384(SB), Y2, Y4)
	HORNER(erfc<>+416(SB), Y2, Y4)
	HORNER(erfc<>+448(SB), Y2, Y4)
	VMULPS  Y1, Y3, Y3
	VDIVPS  Y4, Y3, Y3
	VADDPS  Y10, Y3, Y3 // 1 + e

	// gelu = (0.5·v)·(1 + e); d = 0.5·(1 + e) + v·pdf
	VMULPS erfc<>+512(SB), Y8, Y5
	VMULPS Y3, Y5, Y5
	VMULPS erfc<>+512(SB), Y3, Y6
	VMULPS Y9, Y8, Y7
	VADDPS Y7, Y6, Y6

	// dval += g·gelu; dgate += (g·val)·d
	VMOVUPS (R9), Y7
	VMULPS  Y5, Y7, Y5
	VADDPS  (DI), Y5, Y5
	VMOVUPS Y5, (DI)
	VMULPS  (SI), Y7, Y7
	VMULPS  Y6, Y7, Y7
	VADDPS  (R8), Y7, Y7
	VMOVUPS Y7, (R8)

	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, R9
	ADDQ $8, AX
	SUBQ $8, CX
	JMP  geglugrad_loop

geglugrad_done:
	VZEROUPPER
	MOVQ AX, ret+48(FP)
	RET

// 1.702, QuickGELU's factor, in 8 lanes.
DATA qgeluc<>+0(SB)/4, $0x3fd9db23
DATA qgeluc<>+4(SB)/4, $0x3fd9db23
DATA qgeluc<>+8(SB)/4, $0x3fd9db23
DATA qgeluc<>+12(SB)/4, $0x3fd9db23
DATA qgeluc<>+16(SB)/4, $0x3fd9db23
DATA qgeluc<>+20(SB)/4, $0x3fd9db23
DATA qgeluc<>+24(SB)/4, $0x3fd9db23
DATA qgeluc<>+28(SB)/4, $0x3fd9db23
GLOBL qgeluc<>(SB), RODATA|NOPTR, $32

// QGELUSIG8 sets Y0 = 1.702·Y8 and Y4 = σ(Y0), with SIGMOID8's mask in DX.
// Clobbers Y1–Y3 and Y9.
#define QGELUSIG8 \
	VMULPS  qgeluc<>+0(SB), Y8, Y9 \
	SIGMOID8(Y9) \
	VMOVAPS Y9, Y0

// func quickGELUAVX2(dst, src *float32, n int) int
//
// dst[i] = src[i]·σ(1.702·src[i]) with quickGELUGo's bits; it stops before
// the first block of 8 with a lane outside exp32's polynomial range and
// returns how many values it did.
TEXT ·quickGELUAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	EXACTCONST

qgelu_loop:
	CMPQ    CX, $8
	JL      qgelu_done
	VMOVUPS (SI), Y8
	QGELUSIG8
	CMPL    DX, $0xff
	JNE     qgelu_done
	VMULPS  Y4, Y8, Y4 // v·s
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $8, AX
	SUBQ    $8, CX
	JMP     qgelu_loop

qgelu_done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func quickGELUGradAVX2(dx, dy, x *float32, n int) int
//
// dx[i] += dy[i]·(s + 1.702·x[i]·s·(1 − s)) with s = σ(1.702·x[i]), with
// quickGELUGradGo's bits; it stops as quickGELUAVX2 does.
TEXT ·quickGELUGradAVX2(SB), NOSPLIT, $0-40
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ n+24(FP), CX
	XORQ AX, AX
	EXACTCONST

qgelugrad_loop:
	CMPQ    CX, $8
	JL      qgelugrad_done
	VMOVUPS (BX), Y8
	QGELUSIG8
	CMPL    DX, $0xff
	JNE     qgelugrad_done
	VMULPS  Y4, Y0, Y5 // (1.702·v)·s
	VSUBPS  Y4, Y10, Y6 // 1 − s
	VMULPS  Y6, Y5, Y5
	VADDPS  Y4, Y5, Y5  // s + …
	VMULPS  (SI), Y5, Y5 // dy·d
	VADDPS  (DI), Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $8, AX
	SUBQ    $8, CX
	JMP     qgelugrad_loop

qgelugrad_done:
	VZEROUPPER
	MOVQ AX, ret+32(FP)
	RET

// func addAVX2(dst, src *float32, n int)
//
// dst[i] += src[i] for n values (a multiple of 8): one rounding each, as the
// Go loop.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

add_loop:
	CMPQ    CX, $32
	JL      add_tail
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     add_loop

add_tail:
	CMPQ    CX, $8
	JL      add_done
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     add_tail

add_done:
	VZEROUPPER
	RET
