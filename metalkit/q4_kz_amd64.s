//go:build !noasm

#include "textflag.h"

// func q4KDotZ(w *byte, qs *int8, d *float32, bs32 *int16, nb int) float32
//
// One Q4_K row against Q8_K activations on ZMM registers (AVX512BW+VNNI),
// the same sums as q4KDotAVX2. Each 32-byte chunk j of nibbles is
// broadcast to both halves of a ZMM and shifted by 0 in the lower half and
// 4 in the upper (VPSRLVW), so one register holds sub-blocks 2j and 2j+1 in
// the order the activations already have; VPMADDUBSW makes int16 pair
// sums, and VPDPWSSD multiplies them by the sub-blocks' scales (spread by
// VPERMW to [a_2j ×16, a_2j+1 ×16]) and accumulates int32.
//
// Registers: SI = block, DI = activations, DX = activation scales, R11 =
// bsums32, CX = blocks left; Z0 = f32 accumulator (d part), X1 = f32
// accumulator (min part, 4 lanes), Z7 = the block's int32 sum, Z12 =
// d·dy, X13 = dmin·dy; Z14 = 0x0F bytes, Z15 = word shifts [0 ×16, 4
// ×16], Z20-Z23 = VPERMW indices for chunks 0-3.

// Z(dst) = words [lo ×16, hi ×16]
#define SPREAD_WORDS(LO, HI, DST) \
	MOVL          $LO, AX;          \
	VPBROADCASTW  AX, Y24;          \
	MOVL          $HI, AX;          \
	VPBROADCASTW  AX, Y25;          \
	VINSERTI64X4  $1, Y25, Z24, DST

#define Q4KZ_CHUNK(J, ZS) \
	VBROADCASTI64X4 (16+32*J)(SI), Z8;  \
	VPSRLVW         Z15, Z8, Z8;        \
	VPANDD          Z14, Z8, Z8;        \
	VPMADDUBSW      (64*J)(DI), Z8, Z8; \
	VPDPWSSD        ZS, Z8, Z7

TEXT ·q4KDotZ(SB), NOSPLIT, $0-44
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         bs32+24(FP), R11
	MOVQ         nb+32(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       X1, X1, X1
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	SPREAD_WORDS(0, 4, Z15)
	SPREAD_WORDS(0, 1, Z20)
	SPREAD_WORDS(2, 3, Z21)
	SPREAD_WORDS(4, 5, Z22)
	SPREAD_WORDS(6, 7, Z23)

loop:
	TESTQ CX, CX
	JEQ   done
	PREFETCHT0 576(SI)
	PREFETCHT0 640(SI)

	// Z12 = d·dy, X13 = dmin·dy (broadcast)
	MOVL         (SI), AX
	VMOVD        AX, X2
	VCVTPH2PS    X2, X2
	VBROADCASTSS (DX), X3
	VMULPS       X3, X2, X2
	VBROADCASTSS X2, Z12
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

	// mins: X1 += dmin·dy · Σ_k b_k·bsum32_k (as 4 lanes)
	VMOVQ       BX, X5
	VPMOVZXBW   X5, X5
	VPMADDWD    (R11), X5, X5
	VCVTDQ2PS   X5, X5
	VFMADD231PS X13, X5, X1

	// scales as words, spread per chunk
	VMOVQ     AX, X4
	VPMOVZXBW X4, X4
	VPERMW    Z4, Z20, Z16
	VPERMW    Z4, Z21, Z17
	VPERMW    Z4, Z22, Z18
	VPERMW    Z4, Z23, Z19

	VPXORD Z7, Z7, Z7
	Q4KZ_CHUNK(0, Z16)
	Q4KZ_CHUNK(1, Z17)
	Q4KZ_CHUNK(2, Z18)
	Q4KZ_CHUNK(3, Z19)
	VCVTDQ2PS   Z7, Z7
	VFMADD231PS Z12, Z7, Z0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R11
	DECQ CX
	JMP  loop

done:
	VEXTRACTF64X4 $1, Z0, Y2
	VADDPS        Y2, Y0, Y0
	VEXTRACTF128  $1, Y0, X2
	VADDPS        X2, X0, X0
	VSUBPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+40(FP)
	RET

// func q4KDot1x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[4]float32)
//
// One Q4_K row × four activation columns (prefill): each super-block's
// nibbles and scales are unpacked once and used for all four. Column c's
// quants are at qs + c·qsStride, its scales at d + c·dStride and its
// 32-value sums at bs32 + 4c·dStride (bytes; actBuf's layout).
//
// Registers: SI = block, DI = column 0's quants, DX = column 0's scales,
// R14 = column 0's bsums, R11 = qsStride, R13 = dStride, CX = blocks left;
// per column c, R12 = its quants and R10 = c·dStride. Z0-Z3 = f32
// accumulators (d part), X4-X7 = f32 accumulators (min part), Z24-Z27 =
// the block's nibbles by chunk, Z16-Z19 = spread scales, X8 = mins as
// words, Z12 = d_w, X15 = dmin_w; Z20 = 0x0F bytes, Z21 = word shifts,
// Z28-Z31 = VPERMW indices; Z9-Z11, X13 = temporaries.

#define Q4KX4_NIBBLES(J, ZN) \
	VBROADCASTI64X4 (16+32*J)(SI), ZN; \
	VPSRLVW         Z21, ZN, ZN;       \
	VPANDD          Z20, ZN, ZN

// Column at R12/R10 into ACC (d part) and MACC (min part).
#define Q4KX4_COL(ACC, MACC) \
	VPXORD       Z9, Z9, Z9;           \
	VPMADDUBSW   (R12), Z24, Z10;      \
	VPDPWSSD     Z16, Z10, Z9;         \
	VPMADDUBSW   64(R12), Z25, Z10;    \
	VPDPWSSD     Z17, Z10, Z9;         \
	VPMADDUBSW   128(R12), Z26, Z10;   \
	VPDPWSSD     Z18, Z10, Z9;         \
	VPMADDUBSW   192(R12), Z27, Z10;   \
	VPDPWSSD     Z19, Z10, Z9;         \
	VCVTDQ2PS    Z9, Z9;               \
	VBROADCASTSS (DX)(R10*1), Z11;     \
	VMULPS       Z12, Z11, Z10;        \
	VFMADD231PS  Z10, Z9, ACC;         \
	VPMADDWD     (R14)(R10*4), X8, X9; \
	VCVTDQ2PS    X9, X9;               \
	VMULPS       X15, X11, X13;        \
	VFMADD231PS  X13, X9, MACC;        \
	ADDQ         R11, R12;             \
	ADDQ         R13, R10

TEXT ·q4KDot1x4Z(SB), NOSPLIT, $0-64
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         qsStride+16(FP), R11
	MOVQ         d+24(FP), DX
	MOVQ         dStride+32(FP), R13
	MOVQ         bs32+40(FP), R14
	MOVQ         nb+48(FP), CX
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	VXORPS       X4, X4, X4
	VXORPS       X5, X5, X5
	VXORPS       X6, X6, X6
	VXORPS       X7, X7, X7
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z20
	SPREAD_WORDS(0, 4, Z21)
	SPREAD_WORDS(0, 1, Z28)
	SPREAD_WORDS(2, 3, Z29)
	SPREAD_WORDS(4, 5, Z30)
	SPREAD_WORDS(6, 7, Z31)

loop4:
	TESTQ CX, CX
	JEQ   done4

	// Z12 = d_w, X15 = dmin_w (broadcast)
	MOVL         (SI), AX
	VMOVD        AX, X9
	VCVTPH2PS    X9, X9
	VBROADCASTSS X9, Z12
	VMOVSHDUP    X9, X15
	VBROADCASTSS X15, X15

	// Unpack scales (AX:R8) and mins (BX:R9) as in q4KDotZ.
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

	VMOVQ     BX, X8
	VPMOVZXBW X8, X8
	VMOVQ     AX, X9
	VPMOVZXBW X9, X9
	VPERMW    Z9, Z28, Z16
	VPERMW    Z9, Z29, Z17
	VPERMW    Z9, Z30, Z18
	VPERMW    Z9, Z31, Z19

	Q4KX4_NIBBLES(0, Z24)
	Q4KX4_NIBBLES(1, Z25)
	Q4KX4_NIBBLES(2, Z26)
	Q4KX4_NIBBLES(3, Z27)

	MOVQ DI, R12
	XORQ R10, R10
	Q4KX4_COL(Z0, X4)
	Q4KX4_COL(Z1, X5)
	Q4KX4_COL(Z2, X6)
	Q4KX4_COL(Z3, X7)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R14
	DECQ CX
	JMP  loop4

done4:
	VEXTRACTF64X4 $1, Z0, Y9
	VADDPS        Y9, Y0, Y0
	VEXTRACTF128  $1, Y0, X9
	VADDPS        X9, X0, X0
	VSUBPS        X4, X0, X0
	VEXTRACTF64X4 $1, Z1, Y9
	VADDPS        Y9, Y1, Y1
	VEXTRACTF128  $1, Y1, X9
	VADDPS        X9, X1, X1
	VSUBPS        X5, X1, X1
	VEXTRACTF64X4 $1, Z2, Y9
	VADDPS        Y9, Y2, Y2
	VEXTRACTF128  $1, Y2, X9
	VADDPS        X9, X2, X2
	VSUBPS        X6, X2, X2
	VEXTRACTF64X4 $1, Z3, Y9
	VADDPS        Y9, Y3, Y3
	VEXTRACTF128  $1, Y3, X9
	VADDPS        X9, X3, X3
	VSUBPS        X7, X3, X3
	VHADDPS       X1, X0, X0
	VHADDPS       X3, X2, X2
	VHADDPS       X2, X0, X0
	MOVQ          out+56(FP), AX
	VMOVUPS       X0, (AX)
	VZEROUPPER
	RET
