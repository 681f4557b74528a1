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
