//go:build !noasm

#include "textflag.h"

// Q4_K×16 kernels (layout in q4_kx16.go) on YMM registers, AVX2+FMA+F16C,
// for CPUs without VNNI. A YMM holds half a group: lane r of every vector
// is row 8h+r of the group (bytes 32h.. of each 64-byte line). Per
// super-block and half:
//
//   - Scales and mins: the three scale dwords of the 8 rows unpack with
//     vector ANDs and shifts into a_0..3, a_4..7, b_0..3, b_4..7 (one byte
//     each); VPSHUFB spreads each a_k to a word pair per lane (S_k) and the
//     mins to word pairs (b_2p, b_2p+1) (M_p), kept on the stack with the
//     rows' d and dmin as floats.
//   - Mins: per column, four VPMADDWD of M_p with the column's 32-value
//     sums broadcast as word pairs give Σ_k b_k·bsum32_k per row, and the
//     column's float sum F −= that·dmin·d_a at once.
//   - Sub-block k: eight 32-byte lines of nibbles, ANDed with 0x0F (low
//     nibbles, sub-block 2j) or shifted right by 4 first (high, 2j+1); per
//     column, eight VPMADDUBSW (nibbles unsigned × four activations
//     broadcast, signed) summed in int16 (8 × 2 × 15 × 127 < 2^15), one
//     VPMADDWD by S_k into the int32 sum I, so the sub-block scales cost one
//     multiply per eight.
//   - F += float(I)·d·d_a.
//
// Both kernels take the two halves of a group together, so that each
// broadcast of four activations serves two VPMADDUBSW. Per 32
// multiply-adds the four-column kernel issues about 3.5 instructions
// (broadcast share, VPMADDUBSW, VPADDW, unpacking and scales); on Zen 3 the
// VPMADDUBSW+VPADDW pairs alone bound it at about 0.65 cycles.

DATA q4kyIdxS<>+0x00(SB)/8, $0x8004800480008000
DATA q4kyIdxS<>+0x08(SB)/8, $0x800c800c80088008
DATA q4kyIdxS<>+0x10(SB)/8, $0x8004800480008000
DATA q4kyIdxS<>+0x18(SB)/8, $0x800c800c80088008
DATA q4kyIdxS<>+0x20(SB)/8, $0x8005800580018001
DATA q4kyIdxS<>+0x28(SB)/8, $0x800d800d80098009
DATA q4kyIdxS<>+0x30(SB)/8, $0x8005800580018001
DATA q4kyIdxS<>+0x38(SB)/8, $0x800d800d80098009
DATA q4kyIdxS<>+0x40(SB)/8, $0x8006800680028002
DATA q4kyIdxS<>+0x48(SB)/8, $0x800e800e800a800a
DATA q4kyIdxS<>+0x50(SB)/8, $0x8006800680028002
DATA q4kyIdxS<>+0x58(SB)/8, $0x800e800e800a800a
DATA q4kyIdxS<>+0x60(SB)/8, $0x8007800780038003
DATA q4kyIdxS<>+0x68(SB)/8, $0x800f800f800b800b
DATA q4kyIdxS<>+0x70(SB)/8, $0x8007800780038003
DATA q4kyIdxS<>+0x78(SB)/8, $0x800f800f800b800b
GLOBL q4kyIdxS<>(SB), RODATA|NOPTR, $128

DATA q4kyIdxM<>+0x00(SB)/8, $0x8005800480018000
DATA q4kyIdxM<>+0x08(SB)/8, $0x800d800c80098008
DATA q4kyIdxM<>+0x10(SB)/8, $0x8005800480018000
DATA q4kyIdxM<>+0x18(SB)/8, $0x800d800c80098008
DATA q4kyIdxM<>+0x20(SB)/8, $0x8007800680038002
DATA q4kyIdxM<>+0x28(SB)/8, $0x800f800e800b800a
DATA q4kyIdxM<>+0x30(SB)/8, $0x8007800680038002
DATA q4kyIdxM<>+0x38(SB)/8, $0x800f800e800b800a
GLOBL q4kyIdxM<>(SB), RODATA|NOPTR, $64

DATA q4ky3F<>+0x00(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA q4ky3F<>+0x08(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA q4ky3F<>+0x10(SB)/8, $0x3f3f3f3f3f3f3f3f
DATA q4ky3F<>+0x18(SB)/8, $0x3f3f3f3f3f3f3f3f
GLOBL q4ky3F<>(SB), RODATA|NOPTR, $32

DATA q4ky30<>+0x00(SB)/8, $0x3030303030303030
DATA q4ky30<>+0x08(SB)/8, $0x3030303030303030
DATA q4ky30<>+0x10(SB)/8, $0x3030303030303030
DATA q4ky30<>+0x18(SB)/8, $0x3030303030303030
GLOBL q4ky30<>(SB), RODATA|NOPTR, $32

// The half super-block with scales at WO+64(SI).. and d, dmin at DO(SI),
// DO+32(SI): S_k to S+32k(SP), M_p to M+32p(SP), d to DS(SP), dmin to
// DS+32(SP). Uses Y8-Y13; Y15 = 0x0F bytes.
#define Q4KY_SCALES(WO, DO, S, M, DS) \
	VCVTPH2PS  (DO)(SI), Y8;                    \
	VMOVUPS    Y8, (DS)(SP);                    \
	VCVTPH2PS  (DO+32)(SI), Y8;                 \
	VMOVUPS    Y8, (DS+32)(SP);                 \
	VMOVDQU    (WO+64)(SI), Y8;                 \
	VMOVDQU    (WO+128)(SI), Y9;                \
	VMOVDQU    (WO+192)(SI), Y10;               \
	VPAND      q4ky3F<>(SB), Y8, Y11;           \
	VPSRLW     $2, Y8, Y8;                      \
	VPAND      q4ky30<>(SB), Y8, Y8;            \
	VPAND      Y15, Y10, Y12;                   \
	VPOR       Y8, Y12, Y12;                    \
	VPAND      q4ky3F<>(SB), Y9, Y13;           \
	VPSRLW     $2, Y9, Y9;                      \
	VPAND      q4ky30<>(SB), Y9, Y9;            \
	VPSRLW     $4, Y10, Y10;                    \
	VPAND      Y15, Y10, Y10;                   \
	VPOR       Y9, Y10, Y10;                    \
	VPSHUFB    q4kyIdxS<>+0(SB), Y11, Y8;       \
	VMOVDQU    Y8, (S)(SP);                     \
	VPSHUFB    q4kyIdxS<>+32(SB), Y11, Y8;      \
	VMOVDQU    Y8, (S+32)(SP);                  \
	VPSHUFB    q4kyIdxS<>+64(SB), Y11, Y8;      \
	VMOVDQU    Y8, (S+64)(SP);                  \
	VPSHUFB    q4kyIdxS<>+96(SB), Y11, Y8;      \
	VMOVDQU    Y8, (S+96)(SP);                  \
	VPSHUFB    q4kyIdxS<>+0(SB), Y12, Y8;       \
	VMOVDQU    Y8, (S+128)(SP);                 \
	VPSHUFB    q4kyIdxS<>+32(SB), Y12, Y8;      \
	VMOVDQU    Y8, (S+160)(SP);                 \
	VPSHUFB    q4kyIdxS<>+64(SB), Y12, Y8;      \
	VMOVDQU    Y8, (S+192)(SP);                 \
	VPSHUFB    q4kyIdxS<>+96(SB), Y12, Y8;      \
	VMOVDQU    Y8, (S+224)(SP);                 \
	VPSHUFB    q4kyIdxM<>+0(SB), Y13, Y8;       \
	VMOVDQU    Y8, (M)(SP);                     \
	VPSHUFB    q4kyIdxM<>+32(SB), Y13, Y8;      \
	VMOVDQU    Y8, (M+32)(SP);                  \
	VPSHUFB    q4kyIdxM<>+0(SB), Y10, Y8;       \
	VMOVDQU    Y8, (M+64)(SP);                  \
	VPSHUFB    q4kyIdxM<>+32(SB), Y10, Y8;      \
	VMOVDQU    Y8, (M+96)(SP)

// F −= float(Σ_p M_p·bsum32 pair p of the column at BS)·dmin·(d_a at DV),
// with P as scratch (and Y13).
#define Q4KY_MINS(BS, DV, F, P, M, DO) \
	VPBROADCASTD (0)BS, Y13;           \
	VPMADDWD     (M)(SP), Y13, P;      \
	VPBROADCASTD (4)BS, Y13;           \
	VPMADDWD     (M+32)(SP), Y13, Y13; \
	VPADDD       Y13, P, P;            \
	VPBROADCASTD (8)BS, Y13;           \
	VPMADDWD     (M+64)(SP), Y13, Y13; \
	VPADDD       Y13, P, P;            \
	VPBROADCASTD (12)BS, Y13;          \
	VPMADDWD     (M+96)(SP), Y13, Y13; \
	VPADDD       Y13, P, P;            \
	VCVTDQ2PS    P, P;                 \
	VBROADCASTSS DV, Y13;              \
	VMULPS       (DO+32)(SP), Y13, Y13; \
	VFNMADD231PS Y13, P, F

// F += float(I)·d·(d_a at DV), with Y13 as scratch.
#define Q4KY_FINISH(I, DV, F, DO) \
	VCVTDQ2PS    I, I;           \
	VBROADCASTSS DV, Y13;        \
	VMULPS       (DO)(SP), Y13, Y13; \
	VFMADD231PS  Y13, I, F

// N = the nibbles of line L (byte offset in the half super-block at W)
// for the low (sub-block 2j) or high (2j+1) half of each byte.
#define Q4KY_LO(L, W, N) \
	VPAND (L)W, Y15, N

// Q4KY_LO, and the same line of the super-block Q4KY_PF bytes ahead
// prefetched (spread over the steps rather than all at its start).
#define Q4KY_LOP(L, W, N) \
	PREFETCHT0 (Q4KY_PF+L)W; \
	VPAND      (L)W, Y15, N

#define Q4KY_HI(L, W, N) \
	VMOVDQU (L)W, N;    \
	VPSRLW  $4, N, N;   \
	VPAND   Y15, N, N

// func q4KDot16x1AVX2(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)
//
// All sixteen rows of a Q4_K×16 group × one column (decode): both halves
// in one pass, so each line of the group comes from memory once, with the
// lines Q4KY_PF bytes ahead prefetched (past the group's end too: the next
// group, usually; a prefetch never faults). Registers: SI = the super-block
// (half h's lines at 32h within each 64 bytes); DI, DX, R14 = the
// column's quants, scales and sums; CX = blocks left. Y0/Y1 = F,
// Y2/Y3 = I, Y4/Y5 = P by half; Y6/Y7 = nibbles, Y8 = activations, Y9/Y10
// = products, Y15 = 0x0F bytes. Stack: half h's S_k at 256h+32k, M_p at
// 512+128h+32p, d at 768+64h, dmin at 800+64h.
#define Q4KY1_FIRST(A) \
	VPBROADCASTD (A)(DI), Y8; \
	VPMADDUBSW   Y8, Y6, Y4;  \
	VPMADDUBSW   Y8, Y7, Y5

#define Q4KY1_NEXT(A) \
	VPBROADCASTD (A)(DI), Y8; \
	VPMADDUBSW   Y8, Y6, Y9;  \
	VPADDW       Y9, Y4, Y4;  \
	VPMADDUBSW   Y8, Y7, Y10; \
	VPADDW       Y10, Y5, Y5

#define Q4KY1_STEP(L, A, NIB0, NIB, STEP) \
	NIB0(L, (SI), Y6);   \
	NIB(L+32, (SI), Y7); \
	STEP(A)

#define Q4KY1_SUB(J, HI, NIB0, NIB) \
	Q4KY1_STEP(256+512*J, 64*J+32*HI, NIB0, NIB, Q4KY1_FIRST);         \
	Q4KY1_STEP(256+512*J+64, 64*J+32*HI+4, NIB0, NIB, Q4KY1_NEXT);     \
	Q4KY1_STEP(256+512*J+128, 64*J+32*HI+8, NIB0, NIB, Q4KY1_NEXT);    \
	Q4KY1_STEP(256+512*J+192, 64*J+32*HI+12, NIB0, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+256, 64*J+32*HI+16, NIB0, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+320, 64*J+32*HI+20, NIB0, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+384, 64*J+32*HI+24, NIB0, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+448, 64*J+32*HI+28, NIB0, NIB, Q4KY1_NEXT);   \
	VPMADDWD (32*(2*J+HI))(SP), Y4, Y4;                          \
	VPADDD   Y4, Y2, Y2;                                         \
	VPMADDWD (256+32*(2*J+HI))(SP), Y5, Y5;                      \
	VPADDD   Y5, Y3, Y3

// Q4KY_PF: how far ahead the one-column kernel prefetches, one line per
// low-nibble step (the first four at the super-block's start) rather than
// a super-block's 36 lines at once: one thread streamed 16-17.6 GB/s of
// weights cold (the best of 8 runs) against 14.1-14.7 for a burst of
// PREFETCHT0 4.5 KiB ahead at each super-block and 15.2 spread 9 KiB ahead
// (AMD EPYC Zen 3, loaded host; a plain YMM read of the same buffer
// 19-21).
#define Q4KY_PF 18432

TEXT ·q4KDot16x1AVX2(SB), 0, $896-48
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         bs32+24(FP), R14
	MOVQ         nb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1

loop1:
	PREFETCHT0   (Q4KY_PF)(SI)
	PREFETCHT0   (Q4KY_PF+64)(SI)
	PREFETCHT0   (Q4KY_PF+128)(SI)
	PREFETCHT0   (Q4KY_PF+192)(SI)
	Q4KY_SCALES(0, 0, 0, 512, 768)
	Q4KY_SCALES(32, 16, 256, 640, 832)
	Q4KY_MINS((R14), (DX), Y0, Y4, 512, 768)
	Q4KY_MINS((R14), (DX), Y1, Y5, 640, 832)
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	Q4KY1_SUB(0, 0, Q4KY_LOP, Q4KY_LO)
	Q4KY1_SUB(0, 1, Q4KY_HI, Q4KY_HI)
	Q4KY1_SUB(1, 0, Q4KY_LOP, Q4KY_LO)
	Q4KY1_SUB(1, 1, Q4KY_HI, Q4KY_HI)
	Q4KY1_SUB(2, 0, Q4KY_LOP, Q4KY_LO)
	Q4KY1_SUB(2, 1, Q4KY_HI, Q4KY_HI)
	Q4KY1_SUB(3, 0, Q4KY_LOP, Q4KY_LO)
	Q4KY1_SUB(3, 1, Q4KY_HI, Q4KY_HI)
	Q4KY_FINISH(Y2, (DX), Y0, 768)
	Q4KY_FINISH(Y3, (DX), Y1, 832)
	ADDQ         $2304, SI
	ADDQ         $256, DI
	ADDQ         $4, DX
	ADDQ         $16, R14
	DECQ         CX
	JNE          loop1

	MOVQ    out+40(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	VZEROUPPER
	RET

// func q4KDot16x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[64]float32)
//
// Sixteen rows × four columns, out[16c+r]: both halves of the group per
// broadcast activation, so a broadcast serves two VPMADDUBSW. The int16
// sums P take eight registers (Y0-Y7, column c half h in Y(2c+h)), so the
// int32 sums I live on the stack and the float sums F in out. Registers:
// SI = the super-block (the chunk's, in the chunk loop), DI, DX, R14 =
// column 0's quants, scales and sums; R11, R12 = qsStride, 3·qsStride;
// R13, BX = dStride, 3·dStride; R9, R10 = 4·dStride, 12·dStride; R8 =
// out; CX = blocks left; AX = the chunk's S_k. Y8/Y9 = nibbles of the
// halves, Y10/Y12 = activations, Y11/Y13 = products, Y15 = 0x0F bytes.
// Stack: half h's S_k at 256h+32k, M_p at 512+128h+32p, d at 768+64h,
// dmin at 800+64h; I of column c, half h at 896+64c+32h; chunks left at
// 1152.
#define Q4KY16_COL(A, Q, P0, P1, B, T) \
	VPBROADCASTD (A)Q, B;      \
	VPMADDUBSW   B, Y8, T;     \
	VPADDW       T, P0, P0;    \
	VPMADDUBSW   B, Y9, T;     \
	VPADDW       T, P1, P1

#define Q4KY16_COL0(A, Q, P0, P1, B) \
	VPBROADCASTD (A)Q, B;      \
	VPMADDUBSW   B, Y8, P0;    \
	VPMADDUBSW   B, Y9, P1

#define Q4KY16_FIRST(L, A, NIB) \
	NIB(L, (SI), Y8);                           \
	NIB(L+32, (SI), Y9);                        \
	Q4KY16_COL0(A, (DI), Y0, Y1, Y10);          \
	Q4KY16_COL0(A, (DI)(R11*1), Y2, Y3, Y12);   \
	Q4KY16_COL0(A, (DI)(R11*2), Y4, Y5, Y10);   \
	Q4KY16_COL0(A, (DI)(R12*1), Y6, Y7, Y12)

#define Q4KY16_NEXT(L, A, NIB) \
	NIB(L, (SI), Y8);                                \
	NIB(L+32, (SI), Y9);                             \
	Q4KY16_COL(A, (DI), Y0, Y1, Y10, Y11);           \
	Q4KY16_COL(A, (DI)(R11*1), Y2, Y3, Y12, Y13);    \
	Q4KY16_COL(A, (DI)(R11*2), Y4, Y5, Y10, Y11);    \
	Q4KY16_COL(A, (DI)(R12*1), Y6, Y7, Y12, Y13)

// I(c, h) += P·S_k.
#define Q4KY16_ACC(P, S, I) \
	VPMADDWD S, P, P;      \
	VPADDD   (I)(SP), P, P; \
	VMOVDQU  P, (I)(SP)

#define Q4KY16_SUB(HI, NIB) \
	Q4KY16_FIRST(256, 32*HI, NIB);        \
	Q4KY16_NEXT(256+64, 32*HI+4, NIB);    \
	Q4KY16_NEXT(256+128, 32*HI+8, NIB);   \
	Q4KY16_NEXT(256+192, 32*HI+12, NIB);  \
	Q4KY16_NEXT(256+256, 32*HI+16, NIB);  \
	Q4KY16_NEXT(256+320, 32*HI+20, NIB);  \
	Q4KY16_NEXT(256+384, 32*HI+24, NIB);  \
	Q4KY16_NEXT(256+448, 32*HI+28, NIB);  \
	Q4KY16_ACC(Y0, (32*HI)(AX), 896);     \
	Q4KY16_ACC(Y1, (256+32*HI)(AX), 928); \
	Q4KY16_ACC(Y2, (32*HI)(AX), 960);     \
	Q4KY16_ACC(Y3, (256+32*HI)(AX), 992); \
	Q4KY16_ACC(Y4, (32*HI)(AX), 1024);    \
	Q4KY16_ACC(Y5, (256+32*HI)(AX), 1056); \
	Q4KY16_ACC(Y6, (32*HI)(AX), 1088);    \
	Q4KY16_ACC(Y7, (256+32*HI)(AX), 1120)

// F(c, ·) −= float(Σ_p M_p·bsum32 pair p)·dmin·d_a for column c (sums at
// BS, scale at DV, F at OUT(R8)), both halves per broadcast.
#define Q4KY16_MINS(BS, DV, OUT) \
	VPBROADCASTD (0)BS, Y10;               \
	VPMADDWD     512(SP), Y10, Y0;         \
	VPMADDWD     640(SP), Y10, Y1;         \
	VPBROADCASTD (4)BS, Y10;               \
	VPMADDWD     544(SP), Y10, Y11;        \
	VPADDD       Y11, Y0, Y0;              \
	VPMADDWD     672(SP), Y10, Y11;        \
	VPADDD       Y11, Y1, Y1;              \
	VPBROADCASTD (8)BS, Y10;               \
	VPMADDWD     576(SP), Y10, Y11;        \
	VPADDD       Y11, Y0, Y0;              \
	VPMADDWD     704(SP), Y10, Y11;        \
	VPADDD       Y11, Y1, Y1;              \
	VPBROADCASTD (12)BS, Y10;              \
	VPMADDWD     608(SP), Y10, Y11;        \
	VPADDD       Y11, Y0, Y0;              \
	VPMADDWD     736(SP), Y10, Y11;        \
	VPADDD       Y11, Y1, Y1;              \
	VCVTDQ2PS    Y0, Y0;                   \
	VCVTDQ2PS    Y1, Y1;                   \
	VBROADCASTSS DV, Y10;                  \
	VMULPS       800(SP), Y10, Y11;        \
	VMOVUPS      (OUT)(R8), Y12;           \
	VFNMADD231PS Y11, Y0, Y12;             \
	VMOVUPS      Y12, (OUT)(R8);           \
	VMULPS       864(SP), Y10, Y11;        \
	VMOVUPS      (OUT+32)(R8), Y12;        \
	VFNMADD231PS Y11, Y1, Y12;             \
	VMOVUPS      Y12, (OUT+32)(R8)

// F(c, ·) += float(I(c, ·))·d·d_a.
#define Q4KY16_END(DV, OUT, I) \
	VBROADCASTSS DV, Y10;              \
	VMULPS       768(SP), Y10, Y11;    \
	VCVTDQ2PS    (I)(SP), Y0;          \
	VMOVUPS      (OUT)(R8), Y12;       \
	VFMADD231PS  Y11, Y0, Y12;         \
	VMOVUPS      Y12, (OUT)(R8);       \
	VMULPS       832(SP), Y10, Y11;    \
	VCVTDQ2PS    (I+32)(SP), Y1;       \
	VMOVUPS      (OUT+32)(R8), Y12;    \
	VFMADD231PS  Y11, Y1, Y12;         \
	VMOVUPS      Y12, (OUT+32)(R8)

TEXT ·q4KDot16x4AVX2(SB), 0, $1160-64
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         qsStride+16(FP), R11
	MOVQ         d+24(FP), DX
	MOVQ         dStride+32(FP), R13
	MOVQ         bs32+40(FP), R14
	MOVQ         nb+48(FP), CX
	MOVQ         out+56(FP), R8
	LEAQ         (R11)(R11*2), R12
	LEAQ         (R13)(R13*2), BX
	LEAQ         (R13*4), R9
	LEAQ         (R9)(R9*2), R10
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VMOVUPS      Y0, (R8)
	VMOVUPS      Y0, 32(R8)
	VMOVUPS      Y0, 64(R8)
	VMOVUPS      Y0, 96(R8)
	VMOVUPS      Y0, 128(R8)
	VMOVUPS      Y0, 160(R8)
	VMOVUPS      Y0, 192(R8)
	VMOVUPS      Y0, 224(R8)

loop16x4:
	Q4KY_SCALES(0, 0, 0, 512, 768)
	Q4KY_SCALES(32, 16, 256, 640, 832)
	Q4KY16_MINS((R14), (DX), 0)
	Q4KY16_MINS((R14)(R9*1), (DX)(R13*1), 64)
	Q4KY16_MINS((R14)(R9*2), (DX)(R13*2), 128)
	Q4KY16_MINS((R14)(R10*1), (DX)(BX*1), 192)
	VPXOR        Y0, Y0, Y0
	VMOVDQU      Y0, 896(SP)
	VMOVDQU      Y0, 928(SP)
	VMOVDQU      Y0, 960(SP)
	VMOVDQU      Y0, 992(SP)
	VMOVDQU      Y0, 1024(SP)
	VMOVDQU      Y0, 1056(SP)
	VMOVDQU      Y0, 1088(SP)
	VMOVDQU      Y0, 1120(SP)
	LEAQ         0(SP), AX
	MOVQ         $4, 1152(SP)

chunk16x4:
	Q4KY16_SUB(0, Q4KY_LO)
	Q4KY16_SUB(1, Q4KY_HI)
	ADDQ         $512, SI
	ADDQ         $64, DI
	ADDQ         $64, AX
	DECQ         1152(SP)
	JNE          chunk16x4

	Q4KY16_END((DX), 0, 896)
	Q4KY16_END((DX)(R13*1), 64, 960)
	Q4KY16_END((DX)(R13*2), 128, 1024)
	Q4KY16_END((DX)(BX*1), 192, 1088)
	ADDQ         $256, SI
	ADDQ         $4, DX
	ADDQ         $16, R14
	DECQ         CX
	JNE          loop16x4

	VZEROUPPER
	RET
