//go:build !noasm

#include "textflag.h"

// func q6KDotAVX2(w *byte, qs *int8, d *float32, bs16 *int16, nb int) float32
//
// One Q6_K row against Q8_K activations. Per super-block the 16 int8 scales
// widen to int16 on the stack (0(SP)..31(SP)); the 6-bit values are rebuilt
// 32 at a time from ql nibbles and qh bit pairs, VPMADDUBSW'd with the
// activations (values 0..63, unsigned) and VPMADDWD'd by a vector holding
// scale s in the low lane and s+1 in the high lane; the −32 offset is
// folded in once per block as −32·Σ scale·bsum16.
// Registers: SI = block, DI = activations, DX = activation scales, R11 =
// bsums16, CX = blocks left, Y0 = f32 accumulator, Y7 = int32 block
// accumulator, Y14 = 0x0F bytes, Y15 = 0x30 bytes.
TEXT ·q6KDotAVX2(SB), NOSPLIT, $32-44
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         bs16+24(FP), R11
	MOVQ         nb+32(FP), CX
	VXORPS       Y0, Y0, Y0
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x30303030, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

loop:
	TESTQ CX, CX
	JEQ   done

	// Y12 = d·dy
	MOVWLZX      208(SI), AX
	VMOVD        AX, X2
	VCVTPH2PS    X2, X2
	VMULSS       (DX), X2, X2
	VBROADCASTSS X2, Y12

	// scales → int16 on the stack; Y7 = −32·Σ scale·bsum16
	VPMOVSXBW 192(SI), Y3
	VMOVDQU   Y3, 0(SP)
	VPMADDWD  (R11), Y3, Y4
	VPSLLD    $5, Y4, Y4
	VPXOR     Y7, Y7, Y7
	VPSUBD    Y4, Y7, Y7

// Q6K_DOT multiplies the 32 values in Q by activations at byte offset Y
// and scales S, S+1, adding to Y7.
#define Q6K_DOT(Q, YOFF, S) \
	VPMADDUBSW   (YOFF)(DI), Q, Q; \
	VPBROADCASTW (2*(S))(SP), X5;  \
	VPBROADCASTW (2*(S)+2)(SP), X6; \
	VINSERTI128  $1, X6, Y5, Y5;   \
	VPMADDWD     Y5, Q, Q;         \
	VPADDD       Q, Y7, Y7

#define Q6K_HALF(H) \
	VMOVDQU (64*H)(SI), Y8;       \
	VMOVDQU (64*H+32)(SI), Y9;    \
	VMOVDQU (128+32*H)(SI), Y10;  \
	VPAND   Y14, Y8, Y11;         \
	VPSLLW  $4, Y10, Y13;         \
	VPAND   Y15, Y13, Y13;        \
	VPOR    Y13, Y11, Y11;        \
	Q6K_DOT(Y11, 128*H, 8*H);     \
	VPAND   Y14, Y9, Y11;         \
	VPSLLW  $2, Y10, Y13;         \
	VPAND   Y15, Y13, Y13;        \
	VPOR    Y13, Y11, Y11;        \
	Q6K_DOT(Y11, 128*H+32, 8*H+2); \
	VPSRLW  $4, Y8, Y11;          \
	VPAND   Y14, Y11, Y11;        \
	VPAND   Y15, Y10, Y13;        \
	VPOR    Y13, Y11, Y11;        \
	Q6K_DOT(Y11, 128*H+64, 8*H+4); \
	VPSRLW  $4, Y9, Y11;          \
	VPAND   Y14, Y11, Y11;        \
	VPSRLW  $2, Y10, Y13;         \
	VPAND   Y15, Y13, Y13;        \
	VPOR    Y13, Y11, Y11;        \
	Q6K_DOT(Y11, 128*H+96, 8*H+6)

	Q6K_HALF(0)
	Q6K_HALF(1)

	VCVTDQ2PS   Y7, Y7
	VFMADD231PS Y12, Y7, Y0

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R11
	DECQ CX
	JMP  loop

done:
	VEXTRACTF128 $1, Y0, X2
	VADDPS       X2, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+40(FP)
	RET
