//go:build !noasm

#include "textflag.h"

// func expSubAVX512(x []float32, m float32) float32
//
// x[i] = e^(x[i]−m), returning Σ x[i], sixteen lanes at a time, by the
// steps of expSubGo: v = max(x−m, −87); n = round(v·log2 e); r = v −
// n·ln2 (in two parts); p = the degree-6 Taylor polynomial of e^r (Horner);
// e^v = p·2^n (VSCALEFPS). The tail is done under a lane mask.
// Z8-Z15 = constants; Z0 = sum; K1 = tail mask.
TEXT ·expSubAVX512(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Z7
	MOVL         $0xc2ae0000, AX // −87
	VPBROADCASTD AX, Z8
	MOVL         $0x3fb8aa3b, AX // log2 e
	VPBROADCASTD AX, Z9
	MOVL         $0x3f318000, AX // ln2 high part, 0.693359375
	VPBROADCASTD AX, Z10
	MOVL         $0xb95e8083, AX // ln2 low part, −2.12194440e−4
	VPBROADCASTD AX, Z11
	MOVL         $0x3ab60b61, AX // 1/720
	VPBROADCASTD AX, Z12
	MOVL         $0x3c088889, AX // 1/120
	VPBROADCASTD AX, Z13
	MOVL         $0x3d2aaaab, AX // 1/24
	VPBROADCASTD AX, Z14
	MOVL         $0x3e2aaaab, AX // 1/6
	VPBROADCASTD AX, Z15
	MOVL         $0x3f000000, AX // 1/2
	VPBROADCASTD AX, Z16
	MOVL         $0x3f800000, AX // 1
	VPBROADCASTD AX, Z17
	VPXORD       Z0, Z0, Z0

// e^(Z1 − m) into Z1
#define EXP16 \
	VSUBPS       Z7, Z1, Z1;  \
	VMAXPS       Z8, Z1, Z1;  \
	VMULPS       Z9, Z1, Z2;  \
	VRNDSCALEPS  $8, Z2, Z2;  \
	VFNMADD231PS Z10, Z2, Z1; \
	VFNMADD231PS Z11, Z2, Z1; \
	VMOVAPS      Z12, Z3;     \
	VFMADD213PS  Z13, Z1, Z3; \
	VFMADD213PS  Z14, Z1, Z3; \
	VFMADD213PS  Z15, Z1, Z3; \
	VFMADD213PS  Z16, Z1, Z3; \
	VFMADD213PS  Z17, Z1, Z3; \
	VFMADD213PS  Z17, Z1, Z3; \
	VSCALEFPS    Z2, Z3, Z1

loop16:
	CMPQ    CX, $16
	JLT     tail
	VMOVUPS (SI), Z1
	EXP16
	VMOVUPS Z1, (SI)
	VADDPS  Z1, Z0, Z0
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     loop16

tail:
	TESTQ     CX, CX
	JEQ       done
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z (SI), K1, Z1
	EXP16
	VMOVUPS   Z1, K1, (SI)
	VADDPS    Z1, Z0, K1, Z0

done:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+32(FP)
	RET

// func swigluAVX512(out, gate, up []float32)
//
// out[i] = gate[i]·up[i] / (1 + e^(−gate[i])), sixteen lanes at a time:
// e^v by EXP16's steps (without its −m), then one VDIVPS. For gate below
// about −88, e^v overflows to +Inf and the lane is −0, as SiLU's is.
// Callers check that out and up are at least as long as gate. Constants as
// in expSubAVX512; Z4, Z5 = gate and up; K1 = tail mask.
TEXT ·swigluAVX512(SB), NOSPLIT, $0-72
	MOVQ         out_base+0(FP), DI
	MOVQ         gate_base+24(FP), SI
	MOVQ         gate_len+32(FP), CX
	MOVQ         up_base+48(FP), DX
	MOVL         $0xc2ae0000, AX // −87
	VPBROADCASTD AX, Z8
	MOVL         $0x3fb8aa3b, AX // log2 e
	VPBROADCASTD AX, Z9
	MOVL         $0x3f318000, AX // ln2 high part
	VPBROADCASTD AX, Z10
	MOVL         $0xb95e8083, AX // ln2 low part
	VPBROADCASTD AX, Z11
	MOVL         $0x3ab60b61, AX // 1/720
	VPBROADCASTD AX, Z12
	MOVL         $0x3c088889, AX // 1/120
	VPBROADCASTD AX, Z13
	MOVL         $0x3d2aaaab, AX // 1/24
	VPBROADCASTD AX, Z14
	MOVL         $0x3e2aaaab, AX // 1/6
	VPBROADCASTD AX, Z15
	MOVL         $0x3f000000, AX // 1/2
	VPBROADCASTD AX, Z16
	MOVL         $0x3f800000, AX // 1
	VPBROADCASTD AX, Z17
	VPXORD       Z7, Z7, Z7      // m = 0 for EXP16

// Z1 = gate·up / (1 + e^(−gate)), from Z4 (gate) and Z5 (up).
#define SWIGLU16 \
	VSUBPS  Z4, Z7, Z1; \
	EXP16;              \
	VADDPS  Z17, Z1, Z1; \
	VMULPS  Z5, Z4, Z6;  \
	VDIVPS  Z1, Z6, Z1

sw16:
	CMPQ    CX, $16
	JLT     swtail
	VMOVUPS (SI), Z4
	VMOVUPS (DX), Z5
	SWIGLU16
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     sw16

swtail:
	TESTQ     CX, CX
	JEQ       swdone
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DX), K1, Z5
	SWIGLU16
	VMOVUPS   Z1, K1, (DI)

swdone:
	VZEROUPPER
	RET

// The AVX2 versions (the avx2 backend): eight lanes, 2^n built from n's
// bits ((n+127)<<23) as expSubGo does, since AVX2 has no VSCALEFPS; the
// Go wrappers do the last len mod 8 values with the Go loops. Y8-Y15 =
// the constants of expSubAVX512 but 1/2 and 1 (X/Y6 and Y5 below).
#define EXP_CONSTS_AVX2 \
	MOVL         $0xc2ae0000, AX; \
	MOVQ         AX, X8;          \
	VPBROADCASTD X8, Y8;          \
	MOVL         $0x3fb8aa3b, AX; \
	MOVQ         AX, X9;          \
	VPBROADCASTD X9, Y9;          \
	MOVL         $0x3f318000, AX; \
	MOVQ         AX, X10;         \
	VPBROADCASTD X10, Y10;        \
	MOVL         $0xb95e8083, AX; \
	MOVQ         AX, X11;         \
	VPBROADCASTD X11, Y11;        \
	MOVL         $0x3ab60b61, AX; \
	MOVQ         AX, X12;         \
	VPBROADCASTD X12, Y12;        \
	MOVL         $0x3c088889, AX; \
	MOVQ         AX, X13;         \
	VPBROADCASTD X13, Y13;        \
	MOVL         $0x3d2aaaab, AX; \
	MOVQ         AX, X14;         \
	VPBROADCASTD X14, Y14;        \
	MOVL         $0x3e2aaaab, AX; \
	MOVQ         AX, X15;         \
	VPBROADCASTD X15, Y15;        \
	MOVL         $0x3f000000, AX; \
	MOVQ         AX, X6;          \
	VPBROADCASTD X6, Y6;          \
	MOVL         $0x3f800000, AX; \
	MOVQ         AX, X5;          \
	VPBROADCASTD X5, Y5

// e^Y1 into Y1 for Y1 ≥ −87 and ≤ 88 (clamped by the caller); Y2, Y3,
// Y4 clobbered. n = round(v·log2 e); r = v − n·ln2 (two parts); p =
// degree-6 Taylor polynomial; e^v = p·2^n.
#define EXP8_AVX2 \
	VMULPS       Y9, Y1, Y2;  \
	VROUNDPS     $0, Y2, Y2;  \
	VFNMADD231PS Y10, Y2, Y1; \
	VFNMADD231PS Y11, Y2, Y1; \
	VMOVAPS      Y12, Y3;     \
	VFMADD213PS  Y13, Y1, Y3; \
	VFMADD213PS  Y14, Y1, Y3; \
	VFMADD213PS  Y15, Y1, Y3; \
	VFMADD213PS  Y6, Y1, Y3;  \
	VFMADD213PS  Y5, Y1, Y3;  \
	VFMADD213PS  Y5, Y1, Y3;  \
	VCVTPS2DQ    Y2, Y2;      \
	VPADDD       Y7, Y2, Y2;  \
	VPSLLD       $23, Y2, Y2; \
	VMULPS       Y2, Y3, Y1

// func expSubAVX2(x []float32, m float32) float32
//
// expSubAVX512 on eight lanes for the first len(x) &^ 7 values. Y0 =
// sum; Y4 = m; Y7 = int32 127.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Y4
	EXP_CONSTS_AVX2
	MOVL         $127, AX
	MOVQ         AX, X7
	VPBROADCASTD X7, Y7
	VXORPS       Y0, Y0, Y0

ex8:
	CMPQ    CX, $8
	JLT     exdone
	VMOVUPS (SI), Y1
	VSUBPS  Y4, Y1, Y1
	VMAXPS  Y8, Y1, Y1
	EXP8_AVX2
	VMOVUPS Y1, (SI)
	VADDPS  Y1, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     ex8

exdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+32(FP)
	RET

// func swigluAVX2(out, gate, up []float32)
//
// swigluAVX512 on eight lanes for the first len(gate) &^ 7 values; e^v
// with v = −gate clamped to [−87, 88], so that a gate below −88 gives
// gate·up/(1 + e^88), as good as SiLU's −0. Y4 = 88 (its bits above
// 127 in Y7), Y0 = gate, Y1..Y3 as EXP8_AVX2.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-72
	MOVQ         out_base+0(FP), DI
	MOVQ         gate_base+24(FP), SI
	MOVQ         gate_len+32(FP), CX
	MOVQ         up_base+48(FP), DX
	EXP_CONSTS_AVX2
	MOVL         $127, AX
	MOVQ         AX, X7
	VPBROADCASTD X7, Y7
	MOVL         $0x42b00000, AX // 88
	MOVQ         AX, X4
	VPBROADCASTD X4, Y4

sw8:
	CMPQ    CX, $8
	JLT     swdone8
	VMOVUPS (SI), Y0
	VXORPS  Y1, Y1, Y1
	VSUBPS  Y0, Y1, Y1
	VMAXPS  Y8, Y1, Y1
	VMINPS  Y4, Y1, Y1
	EXP8_AVX2
	VADDPS  Y5, Y1, Y1
	VMULPS  (DX), Y0, Y0
	VDIVPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     sw8

swdone8:
	VZEROUPPER
	RET
