//go:build !noasm

#include "textflag.h"

// func q4KDotAVX2(w *byte, qs *int8, d *float32, bs32 *int16, nb int) float32
//
// One Q4_K row against Q8_K activations. Per super-block: the 12 scale bytes
// unpack in general registers into eight 6-bit scales and eight mins; the
// scales go to the stack as int16 (0(SP)..15(SP)) for VPBROADCASTW; each
// 32-value sub-block is one VPMADDUBSW (nibbles × activations) and one
// VPMADDWD by its scale; the mins dot the 32-value activation sums.
// Registers: SI = block, DI = activations, DX = activation scales, R11 =
// bsums32, CX = blocks left, Y0 = f32 accumulator (d part), X1 = f32
// accumulator (min part), Y14 = 0x0F bytes.
TEXT ·q4KDotAVX2(SB), NOSPLIT, $16-44
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         bs32+24(FP), R11
	MOVQ         nb+32(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

loop:
	TESTQ CX, CX
	JEQ   done

	// Y12 = d·dy, X13 = dmin·dy (broadcast)
	MOVL         (SI), AX
	VMOVD        AX, X2
	VCVTPH2PS    X2, X2
	VBROADCASTSS (DX), X3
	VMULPS       X3, X2, X2
	VBROADCASTSS X2, Y12
	VMOVSHDUP    X2, X13
	VBROADCASTSS X13, X13

	// Unpack scales (AX:R8 → 8 scale bytes) and mins (BX:R9 → 8 min bytes).
	MOVL 4(SI), R8
	MOVL 8(SI), R9
	MOVL 12(SI), R10
	MOVL R10, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R8, BX
	SHRL $6, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL  BX, AX
	MOVL R10, BX
	SHRL $4, BX
	ANDL $0x0f0f0f0f, BX
	MOVL R9, R12
	SHRL $6, R12
	ANDL $0x03030303, R12
	SHLL $4, R12
	ORL  R12, BX
	ANDL $0x3f3f3f3f, R8
	ANDL $0x3f3f3f3f, R9
	SHLQ $32, AX
	ORQ  R8, AX
	SHLQ $32, BX
	ORQ  R9, BX

	VMOVQ     AX, X4
	VPMOVZXBW X4, X4
	VMOVDQU   X4, 0(SP)

	// mins: X1 += dmin·dy · Σ_k b_k·bsum32_k (as 4 lanes)
	VMOVQ       BX, X5
	VPMOVZXBW   X5, X5
	VPMADDWD    (R11), X5, X5
	VCVTDQ2PS   X5, X5
	VFMADD231PS X13, X5, X1

	// Y7 = Σ_k a_k · Σ q·y (8 int32 lanes)
	VPXOR Y7, Y7, Y7

#define Q4K_CHUNK(J) \
	VMOVDQU      (16+32*J)(SI), Y8;  \
	VPAND        Y14, Y8, Y9;        \
	VPSRLW       $4, Y8, Y8;         \
	VPAND        Y14, Y8, Y8;        \
	VPMADDUBSW   (64*J)(DI), Y9, Y9; \
	VPMADDUBSW   (64*J+32)(DI), Y8, Y8; \
	VPBROADCASTW (4*J)(SP), Y10;     \
	VPMADDWD     Y10, Y9, Y9;        \
	VPADDD       Y9, Y7, Y7;         \
	VPBROADCASTW (4*J+2)(SP), Y10;   \
	VPMADDWD     Y10, Y8, Y8;        \
	VPADDD       Y8, Y7, Y7

	Q4K_CHUNK(0)
	Q4K_CHUNK(1)
	Q4K_CHUNK(2)
	Q4K_CHUNK(3)

	VCVTDQ2PS   Y7, Y7
	VFMADD231PS Y12, Y7, Y0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R11
	DECQ CX
	JMP  loop

done:
	VEXTRACTF128 $1, Y0, X2
	VADDPS       X2, X0, X0
	VSUBPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+40(FP)
	RET
