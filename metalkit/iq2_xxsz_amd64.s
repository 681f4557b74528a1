//go:build !noasm

#include "textflag.h"

// func iq2xxsDot4Z(w *byte, stride int, grid *uint64, qs *int8, d *float32, nb int, out *[4]float32)
//
// Four IQ2_XXS rows × one activation column on ZMM registers (AVX512BW,
// VBMI, BITALG, VNNI), a row at a time. Per block, the 64 bytes of qs (eight
// sub-blocks' w0, w1 as qword s) are decoded with vector ops only:
//
//   - signs: VPMULTISHIFTQB takes the 7-bit selectors z_t of qword s (bits
//     32+7t) to byte t, the byte's popcount gives the parity bit, so byte
//     t = K(z_t); VPMOVQD packs the four of each sub-block together and
//     they are stored on the stack, where qword G is quarter G's sign mask
//     (bit 8k+i: value i of its group k), loaded by KMOVQ;
//   - scales: qword s >> 59 | 1 = 2·s_s+1, its low word at word 4s;
//   - for each quarter G of the block (sub-blocks 2G, 2G+1: 8 groups, 64
//     values): VPERMB spreads the 8 grid indices to qwords (zero-extended)
//     and VPGATHERQQ reads their codebook entries, the 64 magnitudes in
//     value order; the sign mask negates the activations (merge-masked
//     VPSUBB); VPMADDUBSW (magnitudes unsigned, activations
//     signed) gives word pairs and VPDPWSSD adds them times their
//     sub-block's 2s+1 (VPERMW) into int32 lanes;
//   - acc += float(sums)·d·d_y.
//
// out[r] = Σ acc / 8. Registers: SI = row r's first block, R8 = stride, R10
// = grid, DI, DX = the column's quants and scales, R9 = blocks per row,
// BX = out, R11 = rows left; in the block loop R12, R13, R14 = block,
// quants, scale, CX = blocks left. Z0 = acc, Z1 = qs, Z2 = sign bytes, Z3 =
// scales, Z4 = int32 sums; Z20-Z23 = the VPERMB indices, Z24-Z27 the
// VPERMW indices of G = 0..3; Z29 = multishift control, Z31 = zero; K1 =
// byte 0 of each qword; 0(SP)..32(SP) = the block's four sign masks.

// VPERMB indices, 64 bytes per G: qword k = byte 8(2G+k/4) + k%4, eight
// times.
DATA iq2zIdx<>+0x00(SB)/8, $0x0000000000000000
DATA iq2zIdx<>+0x08(SB)/8, $0x0101010101010101
DATA iq2zIdx<>+0x10(SB)/8, $0x0202020202020202
DATA iq2zIdx<>+0x18(SB)/8, $0x0303030303030303
DATA iq2zIdx<>+0x20(SB)/8, $0x0808080808080808
DATA iq2zIdx<>+0x28(SB)/8, $0x0909090909090909
DATA iq2zIdx<>+0x30(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA iq2zIdx<>+0x38(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA iq2zIdx<>+0x40(SB)/8, $0x1010101010101010
DATA iq2zIdx<>+0x48(SB)/8, $0x1111111111111111
DATA iq2zIdx<>+0x50(SB)/8, $0x1212121212121212
DATA iq2zIdx<>+0x58(SB)/8, $0x1313131313131313
DATA iq2zIdx<>+0x60(SB)/8, $0x1818181818181818
DATA iq2zIdx<>+0x68(SB)/8, $0x1919191919191919
DATA iq2zIdx<>+0x70(SB)/8, $0x1a1a1a1a1a1a1a1a
DATA iq2zIdx<>+0x78(SB)/8, $0x1b1b1b1b1b1b1b1b
DATA iq2zIdx<>+0x80(SB)/8, $0x2020202020202020
DATA iq2zIdx<>+0x88(SB)/8, $0x2121212121212121
DATA iq2zIdx<>+0x90(SB)/8, $0x2222222222222222
DATA iq2zIdx<>+0x98(SB)/8, $0x2323232323232323
DATA iq2zIdx<>+0xa0(SB)/8, $0x2828282828282828
DATA iq2zIdx<>+0xa8(SB)/8, $0x2929292929292929
DATA iq2zIdx<>+0xb0(SB)/8, $0x2a2a2a2a2a2a2a2a
DATA iq2zIdx<>+0xb8(SB)/8, $0x2b2b2b2b2b2b2b2b
DATA iq2zIdx<>+0xc0(SB)/8, $0x3030303030303030
DATA iq2zIdx<>+0xc8(SB)/8, $0x3131313131313131
DATA iq2zIdx<>+0xd0(SB)/8, $0x3232323232323232
DATA iq2zIdx<>+0xd8(SB)/8, $0x3333333333333333
DATA iq2zIdx<>+0xe0(SB)/8, $0x3838383838383838
DATA iq2zIdx<>+0xe8(SB)/8, $0x3939393939393939
DATA iq2zIdx<>+0xf0(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA iq2zIdx<>+0xf8(SB)/8, $0x3b3b3b3b3b3b3b3b
GLOBL iq2zIdx<>(SB), RODATA|NOPTR, $256

// VPERMW indices, 64 bytes per G: words 0-15 = word 8G (sub-block 2G's
// scale), words 16-31 = word 8G+4 (sub-block 2G+1's).
DATA iq2zScIdx<>+0x00(SB)/8, $0x0000000000000000
DATA iq2zScIdx<>+0x08(SB)/8, $0x0000000000000000
DATA iq2zScIdx<>+0x10(SB)/8, $0x0000000000000000
DATA iq2zScIdx<>+0x18(SB)/8, $0x0000000000000000
DATA iq2zScIdx<>+0x20(SB)/8, $0x0004000400040004
DATA iq2zScIdx<>+0x28(SB)/8, $0x0004000400040004
DATA iq2zScIdx<>+0x30(SB)/8, $0x0004000400040004
DATA iq2zScIdx<>+0x38(SB)/8, $0x0004000400040004
DATA iq2zScIdx<>+0x40(SB)/8, $0x0008000800080008
DATA iq2zScIdx<>+0x48(SB)/8, $0x0008000800080008
DATA iq2zScIdx<>+0x50(SB)/8, $0x0008000800080008
DATA iq2zScIdx<>+0x58(SB)/8, $0x0008000800080008
DATA iq2zScIdx<>+0x60(SB)/8, $0x000c000c000c000c
DATA iq2zScIdx<>+0x68(SB)/8, $0x000c000c000c000c
DATA iq2zScIdx<>+0x70(SB)/8, $0x000c000c000c000c
DATA iq2zScIdx<>+0x78(SB)/8, $0x000c000c000c000c
DATA iq2zScIdx<>+0x80(SB)/8, $0x0010001000100010
DATA iq2zScIdx<>+0x88(SB)/8, $0x0010001000100010
DATA iq2zScIdx<>+0x90(SB)/8, $0x0010001000100010
DATA iq2zScIdx<>+0x98(SB)/8, $0x0010001000100010
DATA iq2zScIdx<>+0xa0(SB)/8, $0x0014001400140014
DATA iq2zScIdx<>+0xa8(SB)/8, $0x0014001400140014
DATA iq2zScIdx<>+0xb0(SB)/8, $0x0014001400140014
DATA iq2zScIdx<>+0xb8(SB)/8, $0x0014001400140014
DATA iq2zScIdx<>+0xc0(SB)/8, $0x0018001800180018
DATA iq2zScIdx<>+0xc8(SB)/8, $0x0018001800180018
DATA iq2zScIdx<>+0xd0(SB)/8, $0x0018001800180018
DATA iq2zScIdx<>+0xd8(SB)/8, $0x0018001800180018
DATA iq2zScIdx<>+0xe0(SB)/8, $0x001c001c001c001c
DATA iq2zScIdx<>+0xe8(SB)/8, $0x001c001c001c001c
DATA iq2zScIdx<>+0xf0(SB)/8, $0x001c001c001c001c
DATA iq2zScIdx<>+0xf8(SB)/8, $0x001c001c001c001c
GLOBL iq2zScIdx<>(SB), RODATA|NOPTR, $256

DATA iq2zShift<>+0(SB)/8, $0x00000000352e2720
GLOBL iq2zShift<>(SB), RODATA|NOPTR, $8
DATA iq2z7F<>+0(SB)/4, $0x7f7f7f7f
GLOBL iq2z7F<>(SB), RODATA|NOPTR, $4
DATA iq2z80<>+0(SB)/4, $0x80808080
GLOBL iq2z80<>(SB), RODATA|NOPTR, $4
DATA iq2zOne<>+0(SB)/8, $1
GLOBL iq2zOne<>(SB), RODATA|NOPTR, $8
DATA iq2zEighth<>+0(SB)/4, $0x3e000000
GLOBL iq2zEighth<>(SB), RODATA|NOPTR, $4

// Z4 OP= quarter G's scaled pair sums (OP: VPMADDWD for the first, then
// VPDPWSSD).
#define IQ2Z_QUARTER(G, IDX, IDXW, OP) \
	VPERMB.Z   Z1, IDX, K1, Z5;     \
	KXNORB     K2, K2, K2;          \
	VPXORQ     Z6, Z6, Z6;          \
	VPGATHERQQ (R10)(Z5*8), K2, Z6; \
	KMOVQ      (8*G)(SP), K3;       \
	VMOVDQU8   (64*G)(R13), Z8;     \
	VPSUBB     Z8, Z31, K3, Z8;     \
	VPMADDUBSW Z8, Z6, Z8;          \
	VPERMW     Z3, IDXW, Z9;        \
	OP         Z9, Z8, Z4

TEXT ·iq2xxsDot4Z(SB), NOSPLIT, $32-56
	MOVQ         w+0(FP), SI
	MOVQ         stride+8(FP), R8
	MOVQ         grid+16(FP), R10
	MOVQ         qs+24(FP), DI
	MOVQ         d+32(FP), DX
	MOVQ         nb+40(FP), R9
	MOVQ         out+48(FP), BX
	VPXORD       Z31, Z31, Z31
	VPBROADCASTQ iq2zShift<>(SB), Z29
	VMOVDQU64    iq2zIdx<>+0(SB), Z20
	VMOVDQU64    iq2zIdx<>+64(SB), Z21
	VMOVDQU64    iq2zIdx<>+128(SB), Z22
	VMOVDQU64    iq2zIdx<>+192(SB), Z23
	VMOVDQU64    iq2zScIdx<>+0(SB), Z24
	VMOVDQU64    iq2zScIdx<>+64(SB), Z25
	VMOVDQU64    iq2zScIdx<>+128(SB), Z26
	VMOVDQU64    iq2zScIdx<>+192(SB), Z27
	MOVQ         $0x0101010101010101, AX
	KMOVQ        AX, K1
	MOVQ         $4, R11

row:
	MOVQ   SI, R12
	MOVQ   DI, R13
	MOVQ   DX, R14
	MOVQ   R9, CX
	VPXORD Z0, Z0, Z0

block:
	VMOVDQU8       2(R12), Z1
	VPMULTISHIFTQB Z1, Z29, Z2
	VPANDD.BCST    iq2z7F<>(SB), Z2, Z2
	VPOPCNTB       Z2, Z3
	VPSLLW         $7, Z3, Z3
	VPANDD.BCST    iq2z80<>(SB), Z3, Z3
	VPORD          Z3, Z2, Z2
	VPMOVQD        Z2, Y28
	VMOVDQU64      Y28, (SP)
	VPSRLQ         $59, Z1, Z3
	VPORQ.BCST     iq2zOne<>(SB), Z3, Z3
	IQ2Z_QUARTER(0, Z20, Z24, VPMADDWD)
	IQ2Z_QUARTER(1, Z21, Z25, VPDPWSSD)
	IQ2Z_QUARTER(2, Z22, Z26, VPDPWSSD)
	IQ2Z_QUARTER(3, Z23, Z27, VPDPWSSD)
	VPBROADCASTW   (R12), Y10
	VCVTPH2PS      Y10, Z10
	VMULPS.BCST    (R14), Z10, Z10
	VCVTDQ2PS      Z4, Z4
	VFMADD231PS    Z10, Z4, Z0
	ADDQ           $66, R12
	ADDQ           $256, R13
	ADDQ           $4, R14
	DECQ           CX
	JNE            block

	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VMULSS        iq2zEighth<>(SB), X0, X0
	VMOVSS        X0, (BX)
	ADDQ          $4, BX
	ADDQ          R8, SI
	DECQ          R11
	JNE           row
	VZEROUPPER
	RET

// func iq2xxsDot1x4Z(w *byte, grid *uint64, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)
//
// One IQ2_XXS row × four activation columns (prefill), out[c]: each
// block's magnitudes, sign masks and scale words are decoded once, as in
// iq2xxsDot4Z, and serve the four. Column c's quants are at qs +
// c·qsStride, its scales at d + c·dStride (bytes). Registers: SI = block,
// R10 = grid, R13, R14 = column 0's quants and scale, R11, R12 = qsStride,
// 3·qsStride, R8, R9 = dStride, 3·dStride, CX = blocks left; Z16-Z19 =
// acc, Z4, Z11-Z13 = int32 sums by column; the rest as in iq2xxsDot4Z.
#define IQ2Z4_COL(G, A, ACC, OP) \
	VMOVDQU8   (64*G)A, Z8;  \
	VPSUBB     Z8, Z31, K3, Z8; \
	VPMADDUBSW Z8, Z6, Z8;   \
	OP         Z9, Z8, ACC

#define IQ2Z4_QUARTER(G, IDX, IDXW, OP) \
	VPERMB.Z   Z1, IDX, K1, Z5;          \
	KXNORB     K2, K2, K2;               \
	VPXORQ     Z6, Z6, Z6;               \
	VPGATHERQQ (R10)(Z5*8), K2, Z6;      \
	KMOVQ      (8*G)(SP), K3;            \
	VPERMW     Z3, IDXW, Z9;             \
	IQ2Z4_COL(G, (R13), Z4, OP);         \
	IQ2Z4_COL(G, (R13)(R11*1), Z11, OP); \
	IQ2Z4_COL(G, (R13)(R11*2), Z12, OP); \
	IQ2Z4_COL(G, (R13)(R12*1), Z13, OP)

// out[OFF/4] = Σ lanes of ZA (YA its low half) / 8.
#define IQ2Z_SUM(ZA, YA, OFF) \
	VEXTRACTF64X4 $1, ZA, Y14;              \
	VADDPS        Y14, YA, Y14;             \
	VEXTRACTF128  $1, Y14, X15;             \
	VADDPS        X15, X14, X14;            \
	VHADDPS       X14, X14, X14;            \
	VHADDPS       X14, X14, X14;            \
	VMULSS        iq2zEighth<>(SB), X14, X14; \
	VMOVSS        X14, OFF(AX)

TEXT ·iq2xxsDot1x4Z(SB), NOSPLIT, $32-64
	MOVQ         w+0(FP), SI
	MOVQ         grid+8(FP), R10
	MOVQ         qs+16(FP), R13
	MOVQ         qsStride+24(FP), R11
	MOVQ         d+32(FP), R14
	MOVQ         dStride+40(FP), R8
	MOVQ         nb+48(FP), CX
	LEAQ         (R11)(R11*2), R12
	LEAQ         (R8)(R8*2), R9
	VPXORD       Z31, Z31, Z31
	VPBROADCASTQ iq2zShift<>(SB), Z29
	VMOVDQU64    iq2zIdx<>+0(SB), Z20
	VMOVDQU64    iq2zIdx<>+64(SB), Z21
	VMOVDQU64    iq2zIdx<>+128(SB), Z22
	VMOVDQU64    iq2zIdx<>+192(SB), Z23
	VMOVDQU64    iq2zScIdx<>+0(SB), Z24
	VMOVDQU64    iq2zScIdx<>+64(SB), Z25
	VMOVDQU64    iq2zScIdx<>+128(SB), Z26
	VMOVDQU64    iq2zScIdx<>+192(SB), Z27
	MOVQ         $0x0101010101010101, AX
	KMOVQ        AX, K1
	VPXORD       Z16, Z16, Z16
	VPXORD       Z17, Z17, Z17
	VPXORD       Z18, Z18, Z18
	VPXORD       Z19, Z19, Z19

block1x4:
	VMOVDQU8       2(SI), Z1
	VPMULTISHIFTQB Z1, Z29, Z2
	VPANDD.BCST    iq2z7F<>(SB), Z2, Z2
	VPOPCNTB       Z2, Z3
	VPSLLW         $7, Z3, Z3
	VPANDD.BCST    iq2z80<>(SB), Z3, Z3
	VPORD          Z3, Z2, Z2
	VPMOVQD        Z2, Y28
	VMOVDQU64      Y28, (SP)
	VPSRLQ         $59, Z1, Z3
	VPORQ.BCST     iq2zOne<>(SB), Z3, Z3
	IQ2Z4_QUARTER(0, Z20, Z24, VPMADDWD)
	IQ2Z4_QUARTER(1, Z21, Z25, VPDPWSSD)
	IQ2Z4_QUARTER(2, Z22, Z26, VPDPWSSD)
	IQ2Z4_QUARTER(3, Z23, Z27, VPDPWSSD)
	VPBROADCASTW   (SI), Y10
	VCVTPH2PS      Y10, Z10
	VCVTDQ2PS      Z4, Z4
	VMULPS.BCST    (R14), Z10, Z14
	VFMADD231PS    Z14, Z4, Z16
	VCVTDQ2PS      Z11, Z11
	VMULPS.BCST    (R14)(R8*1), Z10, Z14
	VFMADD231PS    Z14, Z11, Z17
	VCVTDQ2PS      Z12, Z12
	VMULPS.BCST    (R14)(R8*2), Z10, Z14
	VFMADD231PS    Z14, Z12, Z18
	VCVTDQ2PS      Z13, Z13
	VMULPS.BCST    (R14)(R9*1), Z10, Z14
	VFMADD231PS    Z14, Z13, Z19
	ADDQ           $66, SI
	ADDQ           $256, R13
	ADDQ           $4, R14
	DECQ           CX
	JNE            block1x4

	MOVQ out+56(FP), AX
	IQ2Z_SUM(Z16, Y16, 0)
	IQ2Z_SUM(Z17, Y17, 4)
	IQ2Z_SUM(Z18, Y18, 8)
	IQ2Z_SUM(Z19, Y19, 12)
	VZEROUPPER
	RET
