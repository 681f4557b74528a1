//go:build !noasm

#include "textflag.h"

// Q4_K×16 kernels (layout in q4_kx16.go) on ZMM registers, AVX512F+BW+VNNI.
// Lane r of every vector is row r of the group. Per super-block:
//
//   - Scales and mins: the three scale dwords of the 16 rows are unpacked
//     with vector ANDs and shifts into a_0..3, a_4..7 (Z19, Z20: one byte
//     each) and b_0..3, b_4..7, and the mins spread to word pairs (b_2p,
//     b_2p+1) by VPSHUFB (Z26, Z27, Z29, Z28).
//   - Mins: per column, four VPDPWSSD with the column's 32-value sums
//     broadcast as word pairs give Σ_k b_k·bsum32_k per row; the column's
//     float sum F starts at −dmin times that.
//   - Sub-block k: its scale vector d·a_k (Z16) and its nibbles, eight
//     64-byte lines ANDed with 0x0F (low nibbles) or 0xF0 (high nibbles:
//     16 times the value, so the scale is d·a_k/16, exact, and the unpacking
//     is one AND); per column, eight VPDPBUSD, each multiplying four nibbles
//     of every row by four activations broadcast from memory, give the
//     int32 sub-block sums of all 16 rows, and F += float(sum)·d·a_k.
//   - acc += F·d_a, the column's activation scale.
//
// Constants: Z23 = 0x0F bytes, Z24 = 0xF0 bytes, Z25 = 0xFF dwords; the
// mins' VPSHUFB indices, 0x3F and 0x30 bytes and 1/16 in memory.

DATA q4kxMinIdx<>+0x00(SB)/8, $0x8005800480018000
DATA q4kxMinIdx<>+0x08(SB)/8, $0x800d800c80098008
DATA q4kxMinIdx<>+0x10(SB)/8, $0x8005800480018000
DATA q4kxMinIdx<>+0x18(SB)/8, $0x800d800c80098008
DATA q4kxMinIdx<>+0x20(SB)/8, $0x8005800480018000
DATA q4kxMinIdx<>+0x28(SB)/8, $0x800d800c80098008
DATA q4kxMinIdx<>+0x30(SB)/8, $0x8005800480018000
DATA q4kxMinIdx<>+0x38(SB)/8, $0x800d800c80098008
DATA q4kxMinIdx<>+0x40(SB)/8, $0x8007800680038002
DATA q4kxMinIdx<>+0x48(SB)/8, $0x800f800e800b800a
DATA q4kxMinIdx<>+0x50(SB)/8, $0x8007800680038002
DATA q4kxMinIdx<>+0x58(SB)/8, $0x800f800e800b800a
DATA q4kxMinIdx<>+0x60(SB)/8, $0x8007800680038002
DATA q4kxMinIdx<>+0x68(SB)/8, $0x800f800e800b800a
DATA q4kxMinIdx<>+0x70(SB)/8, $0x8007800680038002
DATA q4kxMinIdx<>+0x78(SB)/8, $0x800f800e800b800a
GLOBL q4kxMinIdx<>(SB), RODATA|NOPTR, $128

DATA q4kx3F<>+0(SB)/4, $0x3f3f3f3f
GLOBL q4kx3F<>(SB), RODATA|NOPTR, $4
DATA q4kx30<>+0(SB)/4, $0x30303030
GLOBL q4kx30<>(SB), RODATA|NOPTR, $4
DATA q4kxSixteenth<>+0(SB)/4, $0x3d800000
GLOBL q4kxSixteenth<>(SB), RODATA|NOPTR, $4

#define Q4KX_CONSTS \
	MOVL         $0x0f0f0f0f, AX; \
	VPBROADCASTD AX, Z23;         \
	MOVL         $0xf0f0f0f0, AX; \
	VPBROADCASTD AX, Z24;         \
	MOVL         $0xff, AX;       \
	VPBROADCASTD AX, Z25

// The super-block at SI: Z21 = d, Z22 = d/16, Z30 = dmin, Z19/Z20 = scales
// a_0..3/a_4..7 (bytes of each lane), Z26, Z27, Z29, Z28 = min word pairs
// (b_0,b_1), (b_2,b_3), (b_4,b_5), (b_6,b_7).
#define Q4KX_SCALES \
	VCVTPH2PS       (SI), Z21;                    \
	VMULPS.BCST     q4kxSixteenth<>(SB), Z21, Z22; \
	VCVTPH2PS       32(SI), Z30;                  \
	VMOVDQU32       64(SI), Z26;                  \
	VMOVDQU32       128(SI), Z27;                 \
	VMOVDQU32       192(SI), Z28;                 \
	VPANDD.BCST     q4kx3F<>(SB), Z26, Z19;       \
	VPSRLD          $2, Z26, Z26;                 \
	VPANDD.BCST     q4kx30<>(SB), Z26, Z26;       \
	VPANDD          Z23, Z28, Z20;                \
	VPORD           Z26, Z20, Z20;                \
	VPANDD.BCST     q4kx3F<>(SB), Z27, Z29;       \
	VPSRLD          $2, Z27, Z27;                 \
	VPANDD.BCST     q4kx30<>(SB), Z27, Z27;       \
	VPSRLD          $4, Z28, Z28;                 \
	VPANDD          Z23, Z28, Z28;                \
	VPORD           Z27, Z28, Z28;                \
	VPSHUFB         q4kxMinIdx<>(SB), Z29, Z26;   \
	VPSHUFB         q4kxMinIdx<>+64(SB), Z29, Z27; \
	VPSHUFB         q4kxMinIdx<>(SB), Z28, Z29;   \
	VPSHUFB         q4kxMinIdx<>+64(SB), Z28, Z28

// F = −dmin · Σ_k b_k·bsum32_k for the column whose sums are at BS.
#define Q4KX_MINS(BS, F) \
	VPXORD          Z17, Z17, Z17;        \
	VPDPWSSD.BCST   (0)BS, Z26, Z17;      \
	VPDPWSSD.BCST   (4)BS, Z27, Z17;      \
	VPDPWSSD.BCST   (8)BS, Z29, Z17;      \
	VPDPWSSD.BCST   (12)BS, Z28, Z17;     \
	VCVTDQ2PS       Z17, Z17;             \
	VPXORD          F, F, F;              \
	VFNMADD231PS    Z30, Z17, F

// Z16 = float(byte SH/8 of each lane of SC) · DV, a sub-block's scales.
#define Q4KX_SCALE(SC, SH, DV) \
	VPSRLD    $SH, SC, Z16;   \
	VPANDD    Z25, Z16, Z16;  \
	VCVTDQ2PS Z16, Z16;       \
	VMULPS    DV, Z16, Z16

// Z8..Z15 = chunk J's eight nibble lines ANDed with MASK.
#define Q4KX_NIBBLES(J, MASK) \
	VPANDD (256+512*J)(SI), MASK, Z8;      \
	VPANDD (256+512*J+64)(SI), MASK, Z9;   \
	VPANDD (256+512*J+128)(SI), MASK, Z10; \
	VPANDD (256+512*J+192)(SI), MASK, Z11; \
	VPANDD (256+512*J+256)(SI), MASK, Z12; \
	VPANDD (256+512*J+320)(SI), MASK, Z13; \
	VPANDD (256+512*J+384)(SI), MASK, Z14; \
	VPANDD (256+512*J+448)(SI), MASK, Z15

// F += float(Σ_i Z(8+i)·bcast(activations at OFF+4i of column A))·Z16,
// with T as the int32 sum.
#define Q4KX_DOT8(OFF, A, T, F) \
	VPXORD          T, T, T;              \
	VPDPBUSD.BCST   (OFF)A, Z8, T;        \
	VPDPBUSD.BCST   (OFF+4)A, Z9, T;      \
	VPDPBUSD.BCST   (OFF+8)A, Z10, T;     \
	VPDPBUSD.BCST   (OFF+12)A, Z11, T;    \
	VPDPBUSD.BCST   (OFF+16)A, Z12, T;    \
	VPDPBUSD.BCST   (OFF+20)A, Z13, T;    \
	VPDPBUSD.BCST   (OFF+24)A, Z14, T;    \
	VPDPBUSD.BCST   (OFF+28)A, Z15, T;    \
	VCVTDQ2PS       T, T;                 \
	VFMADD231PS     Z16, T, F

// func q4KDot16x1Z(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)
//
// Q4KX_PREFETCH asks for the super-block 8 KiB ahead (its 36 lines), for
// the one-column kernel: with PREFETCHT2 there one thread streamed 13.6-14.5
// GB/s of weights over a 450 MB matrix instead of 12.2-12.4 (a 2-core Xeon
// VM, family 6 model 207; T0 at 4 KiB gained nothing). The many-column
// kernels are bound by their arithmetic, not the loads, and go without.
#define Q4KX_PREFETCH \
	PREFETCHT2 8192(SI) \
	PREFETCHT2 8256(SI) \
	PREFETCHT2 8320(SI) \
	PREFETCHT2 8384(SI) \
	PREFETCHT2 8448(SI) \
	PREFETCHT2 8512(SI) \
	PREFETCHT2 8576(SI) \
	PREFETCHT2 8640(SI) \
	PREFETCHT2 8704(SI) \
	PREFETCHT2 8768(SI) \
	PREFETCHT2 8832(SI) \
	PREFETCHT2 8896(SI) \
	PREFETCHT2 8960(SI) \
	PREFETCHT2 9024(SI) \
	PREFETCHT2 9088(SI) \
	PREFETCHT2 9152(SI) \
	PREFETCHT2 9216(SI) \
	PREFETCHT2 9280(SI) \
	PREFETCHT2 9344(SI) \
	PREFETCHT2 9408(SI) \
	PREFETCHT2 9472(SI) \
	PREFETCHT2 9536(SI) \
	PREFETCHT2 9600(SI) \
	PREFETCHT2 9664(SI) \
	PREFETCHT2 9728(SI) \
	PREFETCHT2 9792(SI) \
	PREFETCHT2 9856(SI) \
	PREFETCHT2 9920(SI) \
	PREFETCHT2 9984(SI) \
	PREFETCHT2 10048(SI) \
	PREFETCHT2 10112(SI) \
	PREFETCHT2 10176(SI) \
	PREFETCHT2 10240(SI) \
	PREFETCHT2 10304(SI) \
	PREFETCHT2 10368(SI) \
	PREFETCHT2 10432(SI)

// Sixteen rows × one column (decode). Registers: SI = super-block, DI =
// activations, DX = their scales, R14 = their 32-value sums, CX = blocks
// left; Z0 = acc, Z4 = F, Z17/Z18 = int32 sums.
#define Q4KX1_CHUNK(J, SC, SH) \
	Q4KX_SCALE(SC, SH, Z21);              \
	Q4KX_NIBBLES(J, Z23);                 \
	Q4KX_DOT8(64*J, (DI), Z17, Z4);       \
	Q4KX_SCALE(SC, SH+8, Z22);            \
	Q4KX_NIBBLES(J, Z24);                 \
	Q4KX_DOT8(64*J+32, (DI), Z18, Z4)

TEXT ·q4KDot16x1Z(SB), NOSPLIT, $0-48
	MOVQ   w+0(FP), SI
	MOVQ   qs+8(FP), DI
	MOVQ   d+16(FP), DX
	MOVQ   bs32+24(FP), R14
	MOVQ   nb+32(FP), CX
	VPXORD Z0, Z0, Z0
	Q4KX_CONSTS

loop1:
	Q4KX_PREFETCH
	Q4KX_SCALES
	Q4KX_MINS((R14), Z4)
	Q4KX1_CHUNK(0, Z19, 0)
	Q4KX1_CHUNK(1, Z19, 16)
	Q4KX1_CHUNK(2, Z20, 0)
	Q4KX1_CHUNK(3, Z20, 16)
	VFMADD231PS.BCST (DX), Z4, Z0
	ADDQ $2304, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R14
	DECQ CX
	JNE  loop1

	MOVQ    out+40(FP), AX
	VMOVUPS Z0, (AX)
	VZEROUPPER
	RET

// func q4KDot16x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[64]float32)
//
// Sixteen rows × four columns (prefill), out[16c+r]: the nibbles and scales
// of each super-block are unpacked once for the four columns. Column c's
// quants are at qs + c·qsStride, its scales at d + c·dStride and its sums
// at bs32 + 4c·dStride (bytes; actBuf's layout). Registers: DI, DX, R14 =
// column 0's quants, scales and sums; R11, R12 = qsStride, 3·qsStride;
// R13, BX = dStride, 3·dStride; R8, R9 = 4·dStride, 12·dStride; Z0-Z3 =
// acc, Z4-Z7 = F by column.
#define Q4KX4_SUB(OFF) \
	Q4KX_DOT8(OFF, (DI), Z17, Z4);        \
	Q4KX_DOT8(OFF, (DI)(R11*1), Z18, Z5); \
	Q4KX_DOT8(OFF, (DI)(R11*2), Z17, Z6); \
	Q4KX_DOT8(OFF, (DI)(R12*1), Z18, Z7)

#define Q4KX4_CHUNK(J, SC, SH) \
	Q4KX_SCALE(SC, SH, Z21);   \
	Q4KX_NIBBLES(J, Z23);      \
	Q4KX4_SUB(64*J);           \
	Q4KX_SCALE(SC, SH+8, Z22); \
	Q4KX_NIBBLES(J, Z24);      \
	Q4KX4_SUB(64*J+32)

TEXT ·q4KDot16x4Z(SB), NOSPLIT, $0-64
	MOVQ   w+0(FP), SI
	MOVQ   qs+8(FP), DI
	MOVQ   qsStride+16(FP), R11
	MOVQ   d+24(FP), DX
	MOVQ   dStride+32(FP), R13
	MOVQ   bs32+40(FP), R14
	MOVQ   nb+48(FP), CX
	LEAQ   (R11)(R11*2), R12
	LEAQ   (R13)(R13*2), BX
	LEAQ   (R13*4), R8
	LEAQ   (R8)(R8*2), R9
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	Q4KX_CONSTS

loop4:
	Q4KX_SCALES
	Q4KX_MINS((R14), Z4)
	Q4KX_MINS((R14)(R8*1), Z5)
	Q4KX_MINS((R14)(R8*2), Z6)
	Q4KX_MINS((R14)(R9*1), Z7)
	Q4KX4_CHUNK(0, Z19, 0)
	Q4KX4_CHUNK(1, Z19, 16)
	Q4KX4_CHUNK(2, Z20, 0)
	Q4KX4_CHUNK(3, Z20, 16)
	VFMADD231PS.BCST (DX), Z4, Z0
	VFMADD231PS.BCST (DX)(R13*1), Z5, Z1
	VFMADD231PS.BCST (DX)(R13*2), Z6, Z2
	VFMADD231PS.BCST (DX)(BX*1), Z7, Z3
	ADDQ $2304, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R14
	DECQ CX
	JNE  loop4

	MOVQ    out+56(FP), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	VZEROUPPER
	RET

DATA q4kxFF<>+0(SB)/4, $0x000000ff
GLOBL q4kxFF<>(SB), RODATA|NOPTR, $4

// func q4KDot16x8Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[128]float32)
//
// Sixteen rows × eight columns, out[16c+r], as q4KDot16x4Z with the same
// column layout: each super-block's unpacking serves eight columns. Every
// ZMM register is taken: Z0-Z7 = acc, Z22 and Z25-Z31 = F by column, Z8-Z15
// = nibbles (at the super-block's start: the scale dwords, then the min
// pairs in Z12-Z15 and dmin in Z8), Z16 = a sub-block's scales, Z17/Z18 =
// int32 sums, Z19/Z20 = a_0..3/a_4..7, Z21 = d, Z23/Z24 = 0x0F/0xF0 bytes;
// 0xFF and 1/16 come from memory. GP registers: DI, R8 = columns 0 and 4's
// quants, R11, R12 = qsStride, 3·qsStride; DX, R10 = columns 0 and 4's
// scales, R13, BX = dStride, 3·dStride; R14, CX = columns 0 and 4's sums,
// R9, AX = 4·dStride, 12·dStride; 0(SP) = blocks left.
#define Q4KX8_SCALES \
	VCVTPH2PS   (SI), Z21;                     \
	VMOVDQU32   64(SI), Z8;                    \
	VMOVDQU32   128(SI), Z9;                   \
	VMOVDQU32   192(SI), Z10;                  \
	VPANDD.BCST q4kx3F<>(SB), Z8, Z19;         \
	VPSRLD      $2, Z8, Z8;                    \
	VPANDD.BCST q4kx30<>(SB), Z8, Z8;          \
	VPANDD      Z23, Z10, Z20;                 \
	VPORD       Z8, Z20, Z20;                  \
	VPANDD.BCST q4kx3F<>(SB), Z9, Z11;         \
	VPSRLD      $2, Z9, Z9;                    \
	VPANDD.BCST q4kx30<>(SB), Z9, Z9;          \
	VPSRLD      $4, Z10, Z10;                  \
	VPANDD      Z23, Z10, Z10;                 \
	VPORD       Z9, Z10, Z10;                  \
	VPSHUFB     q4kxMinIdx<>(SB), Z11, Z12;    \
	VPSHUFB     q4kxMinIdx<>+64(SB), Z11, Z13; \
	VPSHUFB     q4kxMinIdx<>(SB), Z10, Z14;    \
	VPSHUFB     q4kxMinIdx<>+64(SB), Z10, Z15; \
	VCVTPH2PS   32(SI), Z8

#define Q4KX8_MINS(BS, F) \
	VPXORD          Z17, Z17, Z17;        \
	VPDPWSSD.BCST   (0)BS, Z12, Z17;      \
	VPDPWSSD.BCST   (4)BS, Z13, Z17;      \
	VPDPWSSD.BCST   (8)BS, Z14, Z17;      \
	VPDPWSSD.BCST   (12)BS, Z15, Z17;     \
	VCVTDQ2PS       Z17, Z17;             \
	VPXORD          F, F, F;              \
	VFNMADD231PS    Z8, Z17, F

// Z16 = d·a_k (HI = 0) or d·a_k/16 (HI = 1) from byte SH/8 of SC.
#define Q4KX8_SCALE_LO(SC, SH) \
	VPSRLD      $SH, SC, Z16;           \
	VPANDD.BCST q4kxFF<>(SB), Z16, Z16; \
	VCVTDQ2PS   Z16, Z16;               \
	VMULPS      Z21, Z16, Z16

#define Q4KX8_SCALE_HI(SC, SH) \
	Q4KX8_SCALE_LO(SC, SH); \
	VMULPS.BCST q4kxSixteenth<>(SB), Z16, Z16

#define Q4KX8_SUB(OFF) \
	Q4KX_DOT8(OFF, (DI), Z17, Z22);        \
	Q4KX_DOT8(OFF, (DI)(R11*1), Z18, Z25); \
	Q4KX_DOT8(OFF, (DI)(R11*2), Z17, Z26); \
	Q4KX_DOT8(OFF, (DI)(R12*1), Z18, Z27); \
	Q4KX_DOT8(OFF, (R8), Z17, Z28);        \
	Q4KX_DOT8(OFF, (R8)(R11*1), Z18, Z29); \
	Q4KX_DOT8(OFF, (R8)(R11*2), Z17, Z30); \
	Q4KX_DOT8(OFF, (R8)(R12*1), Z18, Z31)

#define Q4KX8_CHUNK(J, SC, SH) \
	Q4KX8_SCALE_LO(SC, SH);   \
	Q4KX_NIBBLES(J, Z23);     \
	Q4KX8_SUB(64*J);          \
	Q4KX8_SCALE_HI(SC, SH+8); \
	Q4KX_NIBBLES(J, Z24);     \
	Q4KX8_SUB(64*J+32)

TEXT ·q4KDot16x8Z(SB), NOSPLIT, $8-64
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z23
	MOVL         $0xf0f0f0f0, AX
	VPBROADCASTD AX, Z24
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         qsStride+16(FP), R11
	MOVQ         d+24(FP), DX
	MOVQ         dStride+32(FP), R13
	MOVQ         bs32+40(FP), R14
	MOVQ         nb+48(FP), AX
	MOVQ         AX, 0(SP)
	LEAQ         (R11)(R11*2), R12
	LEAQ         (DI)(R11*4), R8
	LEAQ         (R13)(R13*2), BX
	LEAQ         (DX)(R13*4), R10
	LEAQ         (R13*4), R9
	LEAQ         (R14)(R9*4), CX
	LEAQ         (R9)(R9*2), AX
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	VPXORD       Z4, Z4, Z4
	VPXORD       Z5, Z5, Z5
	VPXORD       Z6, Z6, Z6
	VPXORD       Z7, Z7, Z7

loop8:
	Q4KX8_SCALES
	Q4KX8_MINS((R14), Z22)
	Q4KX8_MINS((R14)(R9*1), Z25)
	Q4KX8_MINS((R14)(R9*2), Z26)
	Q4KX8_MINS((R14)(AX*1), Z27)
	Q4KX8_MINS((CX), Z28)
	Q4KX8_MINS((CX)(R9*1), Z29)
	Q4KX8_MINS((CX)(R9*2), Z30)
	Q4KX8_MINS((CX)(AX*1), Z31)
	Q4KX8_CHUNK(0, Z19, 0)
	Q4KX8_CHUNK(1, Z19, 16)
	Q4KX8_CHUNK(2, Z20, 0)
	Q4KX8_CHUNK(3, Z20, 16)
	VFMADD231PS.BCST (DX), Z22, Z0
	VFMADD231PS.BCST (DX)(R13*1), Z25, Z1
	VFMADD231PS.BCST (DX)(R13*2), Z26, Z2
	VFMADD231PS.BCST (DX)(BX*1), Z27, Z3
	VFMADD231PS.BCST (R10), Z28, Z4
	VFMADD231PS.BCST (R10)(R13*1), Z29, Z5
	VFMADD231PS.BCST (R10)(R13*2), Z30, Z6
	VFMADD231PS.BCST (R10)(BX*1), Z31, Z7
	ADDQ $2304, SI
	ADDQ $256, DI
	ADDQ $256, R8
	ADDQ $4, DX
	ADDQ $4, R10
	ADDQ $16, R14
	ADDQ $16, CX
	DECQ 0(SP)
	JNE  loop8

	MOVQ    out+56(FP), SI
	VMOVUPS Z0, (SI)
	VMOVUPS Z1, 64(SI)
	VMOVUPS Z2, 128(SI)
	VMOVUPS Z3, 192(SI)
	VMOVUPS Z4, 256(SI)
	VMOVUPS Z5, 320(SI)
	VMOVUPS Z6, 384(SI)
	VMOVUPS Z7, 448(SI)
	VZEROUPPER
	RET
