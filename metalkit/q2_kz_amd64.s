//go:build !noasm

#include "textflag.h"

// func q2KDot4Z(w *byte, stride int, qs *int8, d *float32, bs16 *int16, nb int, out *[4]float32)
//
// Four Q2_K rows × one activation column on ZMM registers (AVX512BW+VNNI),
// the rows of a block one after the other. Per row and block:
//
//   - the 64 bytes of qs shifted by 2j and ANDed with 3 hold the 2-bit
//     values 32j..32j+31 (low half) and 128+32j.. (high half); four
//     VSHUFI64X2 put them in value order, Z8-Z11 = values 0-63, 64-127,
//     128-191, 192-255, so the activations are plain memory operands;
//   - VPMADDUBSW with the activations gives word pairs, each inside one
//     16-value sub-block (lane L of Z8+k is sub-block 4k+L);
//   - the 16 scale bytes broadcast to the four 128-bit lanes and ANDed
//     with 15; VPSHUFB spreads a_s to its sub-block's words (Z12-Z15) and
//     VPMADDWD/VPDPWSSD sum scale × pair into int32 lanes;
//   - the mins: the high nibbles widened to words (Y16), VPMADDWD with the
//     column's 16-value sums (bs16);
//   - acc += float(scale sums)·d·d_y, accm += float(min sums)·dmin·d_y.
//
// out[r] = Σ acc − Σ accm. q2KDot1x4Z does the same steps for four columns
// of one row, so both give a (row, column) pair bit for bit the same sum:
// a prompt's logits then equal those of its tokens decoded one by one.
// Registers: SI = row 0's block, R8, R9 = stride, 3·stride; DI, DX, R14 =
// the column's quants, scale and sums; CX = blocks left; Z0-Z3 = acc,
// Y4-Y7 = accm by row; Z30 = 0x0F bytes, Z31 = 0x03 bytes.

// VPSHUFB indices, 64 bytes per k < 4: lane L's eight words take scale
// byte 4k+L, zero-extended.
DATA q2kzNatIdx<>+0x00(SB)/8, $0x8000800080008000
DATA q2kzNatIdx<>+0x08(SB)/8, $0x8000800080008000
DATA q2kzNatIdx<>+0x10(SB)/8, $0x8001800180018001
DATA q2kzNatIdx<>+0x18(SB)/8, $0x8001800180018001
DATA q2kzNatIdx<>+0x20(SB)/8, $0x8002800280028002
DATA q2kzNatIdx<>+0x28(SB)/8, $0x8002800280028002
DATA q2kzNatIdx<>+0x30(SB)/8, $0x8003800380038003
DATA q2kzNatIdx<>+0x38(SB)/8, $0x8003800380038003
DATA q2kzNatIdx<>+0x40(SB)/8, $0x8004800480048004
DATA q2kzNatIdx<>+0x48(SB)/8, $0x8004800480048004
DATA q2kzNatIdx<>+0x50(SB)/8, $0x8005800580058005
DATA q2kzNatIdx<>+0x58(SB)/8, $0x8005800580058005
DATA q2kzNatIdx<>+0x60(SB)/8, $0x8006800680068006
DATA q2kzNatIdx<>+0x68(SB)/8, $0x8006800680068006
DATA q2kzNatIdx<>+0x70(SB)/8, $0x8007800780078007
DATA q2kzNatIdx<>+0x78(SB)/8, $0x8007800780078007
DATA q2kzNatIdx<>+0x80(SB)/8, $0x8008800880088008
DATA q2kzNatIdx<>+0x88(SB)/8, $0x8008800880088008
DATA q2kzNatIdx<>+0x90(SB)/8, $0x8009800980098009
DATA q2kzNatIdx<>+0x98(SB)/8, $0x8009800980098009
DATA q2kzNatIdx<>+0xa0(SB)/8, $0x800a800a800a800a
DATA q2kzNatIdx<>+0xa8(SB)/8, $0x800a800a800a800a
DATA q2kzNatIdx<>+0xb0(SB)/8, $0x800b800b800b800b
DATA q2kzNatIdx<>+0xb8(SB)/8, $0x800b800b800b800b
DATA q2kzNatIdx<>+0xc0(SB)/8, $0x800c800c800c800c
DATA q2kzNatIdx<>+0xc8(SB)/8, $0x800c800c800c800c
DATA q2kzNatIdx<>+0xd0(SB)/8, $0x800d800d800d800d
DATA q2kzNatIdx<>+0xd8(SB)/8, $0x800d800d800d800d
DATA q2kzNatIdx<>+0xe0(SB)/8, $0x800e800e800e800e
DATA q2kzNatIdx<>+0xe8(SB)/8, $0x800e800e800e800e
DATA q2kzNatIdx<>+0xf0(SB)/8, $0x800f800f800f800f
DATA q2kzNatIdx<>+0xf8(SB)/8, $0x800f800f800f800f
GLOBL q2kzNatIdx<>(SB), RODATA|NOPTR, $256

// Z8-Z15 = the block at P's 2-bit values in value order and the scale
// words of their sub-blocks, Y16 = its mins as words, Z17 = d, Y18 = dmin.
#define Q2KZ_UNPACK(P) \
	VMOVDQU8        (16)P, Z19;                    \
	VPANDD          Z31, Z19, Z20;                 \
	VPSRLW          $2, Z19, Z21;                  \
	VPANDD          Z31, Z21, Z21;                 \
	VPSRLW          $4, Z19, Z22;                  \
	VPANDD          Z31, Z22, Z22;                 \
	VPSRLW          $6, Z19, Z23;                  \
	VPANDD          Z31, Z23, Z23;                 \
	VSHUFI64X2      $0x44, Z21, Z20, Z8;           \
	VSHUFI64X2      $0x44, Z23, Z22, Z9;           \
	VSHUFI64X2      $0xee, Z21, Z20, Z10;          \
	VSHUFI64X2      $0xee, Z23, Z22, Z11;          \
	VBROADCASTI32X4 (0)P, Z24;                     \
	VPANDD          Z30, Z24, Z25;                 \
	VPSHUFB         q2kzNatIdx<>+0(SB), Z25, Z12;  \
	VPSHUFB         q2kzNatIdx<>+64(SB), Z25, Z13; \
	VPSHUFB         q2kzNatIdx<>+128(SB), Z25, Z14; \
	VPSHUFB         q2kzNatIdx<>+192(SB), Z25, Z15; \
	VPSRLW          $4, X24, X25;                  \
	VPANDD          X30, X25, X25;                 \
	VPMOVZXBW       X25, Y16;                      \
	VPBROADCASTW    (80)P, Y17;                    \
	VCVTPH2PS       Y17, Z17;                      \
	VPBROADCASTW    (82)P, X18;                    \
	VCVTPH2PS       X18, Y18

// ACC += the unpacked block's scale sums with the column at A (scale at D)
// times d·d_y; ACCM += its min sums with the column's 16-value sums at BS
// times dmin·d_y.
#define Q2KZ_COL(A, D, BS, ACC, ACCM) \
	VPMADDUBSW  (0)A, Z8, Z19;    \
	VPMADDUBSW  (64)A, Z9, Z20;   \
	VPMADDUBSW  (128)A, Z10, Z21; \
	VPMADDUBSW  (192)A, Z11, Z22; \
	VPMADDWD    Z12, Z19, Z19;    \
	VPDPWSSD    Z13, Z20, Z19;    \
	VPDPWSSD    Z14, Z21, Z19;    \
	VPDPWSSD    Z15, Z22, Z19;    \
	VCVTDQ2PS   Z19, Z19;         \
	VMULPS.BCST (0)D, Z17, Z23;   \
	VFMADD231PS Z23, Z19, ACC;    \
	VPMADDWD    (0)BS, Y16, Y24;  \
	VCVTDQ2PS   Y24, Y24;         \
	VMULPS.BCST (0)D, Y18, Y25;   \
	VFMADD231PS Y25, Y24, ACCM

// out[OFF/4] = Σ lanes of ZA (YA its low half) − Σ lanes of YM.
#define Q2KZ_SUM(ZA, YA, YM, OFF) \
	VEXTRACTF64X4 $1, ZA, Y14; \
	VADDPS        Y14, YA, Y14; \
	VSUBPS        YM, Y14, Y14; \
	VEXTRACTF128  $1, Y14, X15; \
	VADDPS        X15, X14, X14; \
	VHADDPS       X14, X14, X14; \
	VHADDPS       X14, X14, X14; \
	VMOVSS        X14, OFF(AX)

#define Q2KZ_CONSTS \
	MOVL         $0x03030303, AX; \
	VPBROADCASTD AX, Z31;         \
	MOVL         $0x0f0f0f0f, AX; \
	VPBROADCASTD AX, Z30;         \
	VPXORD       Z0, Z0, Z0;      \
	VPXORD       Z1, Z1, Z1;      \
	VPXORD       Z2, Z2, Z2;      \
	VPXORD       Z3, Z3, Z3;      \
	VPXOR        Y4, Y4, Y4;      \
	VPXOR        Y5, Y5, Y5;      \
	VPXOR        Y6, Y6, Y6;      \
	VPXOR        Y7, Y7, Y7

TEXT ·q2KDot4Z(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), R8
	MOVQ qs+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ bs16+32(FP), R14
	MOVQ nb+40(FP), CX
	LEAQ (R8)(R8*2), R9
	Q2KZ_CONSTS

loop:
	Q2KZ_UNPACK((SI))
	Q2KZ_COL((DI), (DX), (R14), Z0, Y4)
	Q2KZ_UNPACK((SI)(R8*1))
	Q2KZ_COL((DI), (DX), (R14), Z1, Y5)
	Q2KZ_UNPACK((SI)(R8*2))
	Q2KZ_COL((DI), (DX), (R14), Z2, Y6)
	Q2KZ_UNPACK((SI)(R9*1))
	Q2KZ_COL((DI), (DX), (R14), Z3, Y7)
	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R14
	DECQ CX
	JNE  loop

	MOVQ out+48(FP), AX
	Q2KZ_SUM(Z0, Y0, Y4, 0)
	Q2KZ_SUM(Z1, Y1, Y5, 4)
	Q2KZ_SUM(Z2, Y2, Y6, 8)
	Q2KZ_SUM(Z3, Y3, Y7, 12)
	VZEROUPPER
	RET

// func q2KDot1x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs16 *int16, nb int, out *[4]float32)
//
// One Q2_K row × four activation columns (prefill), out[c]: each block is
// unpacked once (Q2KZ_UNPACK) for the four columns, whose steps are
// q2KDot4Z's. Column c's quants are at qs + c·qsStride, its scales at d +
// c·dStride and its 16-value sums at bs16 + 8c·dStride (bytes; actBuf's
// layout). Registers: SI = block; DI, DX, R14 = column 0's quants, scale,
// sums; R11, R12 = qsStride, 3·qsStride; R8, R9 = dStride, 3·dStride;
// R10, R13 = 8·dStride, 24·dStride; CX = blocks left; Z0-Z3 = acc, Y4-Y7 =
// accm by column.
TEXT ·q2KDot1x4Z(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ qsStride+16(FP), R11
	MOVQ d+24(FP), DX
	MOVQ dStride+32(FP), R8
	MOVQ bs16+40(FP), R14
	MOVQ nb+48(FP), CX
	LEAQ (R11)(R11*2), R12
	LEAQ (R8)(R8*2), R9
	LEAQ (R8*8), R10
	LEAQ (R10)(R10*2), R13
	Q2KZ_CONSTS

loop1x4:
	Q2KZ_UNPACK((SI))
	Q2KZ_COL((DI), (DX), (R14), Z0, Y4)
	Q2KZ_COL((DI)(R11*1), (DX)(R8*1), (R14)(R10*1), Z1, Y5)
	Q2KZ_COL((DI)(R11*2), (DX)(R8*2), (R14)(R10*2), Z2, Y6)
	Q2KZ_COL((DI)(R12*1), (DX)(R9*1), (R14)(R13*1), Z3, Y7)
	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R14
	DECQ CX
	JNE  loop1x4

	MOVQ out+56(FP), AX
	Q2KZ_SUM(Z0, Y0, Y4, 0)
	Q2KZ_SUM(Z1, Y1, Y5, 4)
	Q2KZ_SUM(Z2, Y2, Y6, 8)
	Q2KZ_SUM(Z3, Y3, Y7, 12)
	VZEROUPPER
	RET
