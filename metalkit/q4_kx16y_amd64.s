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

// The half super-block with scales at W and d, dmin at DW (both (reg)):
// S_k to S+32k(SP), M_p to M+32p(SP), d to DO(SP), dmin to DO+32(SP).
// Uses Y8-Y13; Y15 = 0x0F bytes.
#define Q4KY_SCALES(W, DW, S, M, DO) \
	VCVTPH2PS  DW, Y8;                          \
	VMOVUPS    Y8, (DO)(SP);                    \
	VCVTPH2PS  (32)DW, Y8;                      \
	VMOVUPS    Y8, (DO+32)(SP);                 \
	VMOVDQU    (64)W, Y8;                       \
	VMOVDQU    (128)W, Y9;                      \
	VMOVDQU    (192)W, Y10;                     \
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

#define Q4KY_HI(L, W, N) \
	VMOVDQU (L)W, N;    \
	VPSRLW  $4, N, N;   \
	VPAND   Y15, N, N

// func q4KDot8x4AVX2(w *byte, half int, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *float32)
//
// Rows 8·half..8·half+7 of a Q4_K×16 group × four columns (prefill): column
// c's quants at qs + c·qsStride, its scales at d + c·dStride, its 32-value
// sums at bs32 + 4c·dStride (bytes; actBuf's layout); row r of column c to
// out[16c+r]. Each line of nibbles, unpacked once, serves four columns.
// Registers: SI = the half's scales and nibbles, R8 = its d and dmin;
// DI, DX, R14 = column 0's quants, scales and sums; R11, R12 = qsStride,
// 3·qsStride; R13, BX = dStride, 3·dStride; R9, R10 = 4·dStride,
// 12·dStride; CX = blocks left. Y0-Y3 = F, Y4-Y7 = I, Y8-Y11 = int16 sums
// P by column; Y12 = nibbles, Y13/Y14 = products, Y15 = 0x0F bytes. Stack:
// S_k at 32k, M_p at 256+32p, d at 384, dmin at 416.

// One step (line L, activations at offset A) of the four columns; the
// first step of a sub-block sets P, the others add to it.
#define Q4KY4_FIRST(A) \
	VPBROADCASTD (A)(DI), Y13;         \
	VPMADDUBSW   Y13, Y12, Y8;         \
	VPBROADCASTD (A)(DI)(R11*1), Y14;  \
	VPMADDUBSW   Y14, Y12, Y9;         \
	VPBROADCASTD (A)(DI)(R11*2), Y13;  \
	VPMADDUBSW   Y13, Y12, Y10;        \
	VPBROADCASTD (A)(DI)(R12*1), Y14;  \
	VPMADDUBSW   Y14, Y12, Y11

#define Q4KY4_NEXT(A) \
	VPBROADCASTD (A)(DI), Y13;         \
	VPMADDUBSW   Y13, Y12, Y13;        \
	VPADDW       Y13, Y8, Y8;          \
	VPBROADCASTD (A)(DI)(R11*1), Y14;  \
	VPMADDUBSW   Y14, Y12, Y14;        \
	VPADDW       Y14, Y9, Y9;          \
	VPBROADCASTD (A)(DI)(R11*2), Y13;  \
	VPMADDUBSW   Y13, Y12, Y13;        \
	VPADDW       Y13, Y10, Y10;        \
	VPBROADCASTD (A)(DI)(R12*1), Y14;  \
	VPMADDUBSW   Y14, Y12, Y14;        \
	VPADDW       Y14, Y11, Y11

// I += P·S_k for the four columns, S_k at S.
#define Q4KY4_SCALE(S) \
	VPMADDWD S, Y8, Y8;   \
	VPADDD   Y8, Y4, Y4;  \
	VPMADDWD S, Y9, Y9;   \
	VPADDD   Y9, Y5, Y5;  \
	VPMADDWD S, Y10, Y10; \
	VPADDD   Y10, Y6, Y6; \
	VPMADDWD S, Y11, Y11; \
	VPADDD   Y11, Y7, Y7

// The low (HI = 0, NIB = Q4KY_LO) or high (1, Q4KY_HI) sub-block of the
// chunk at SI (nibbles from 256(SI)), DI (activations), AX (its S_k).
#define Q4KY4_SUB(HI, NIB) \
	NIB(256, (SI), Y12);        \
	Q4KY4_FIRST(32*HI);         \
	NIB(256+64, (SI), Y12);     \
	Q4KY4_NEXT(32*HI+4);        \
	NIB(256+128, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+8);        \
	NIB(256+192, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+12);       \
	NIB(256+256, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+16);       \
	NIB(256+320, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+20);       \
	NIB(256+384, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+24);       \
	NIB(256+448, (SI), Y12);    \
	Q4KY4_NEXT(32*HI+28);       \
	Q4KY4_SCALE((32*HI)(AX))

TEXT ·q4KDot8x4AVX2(SB), NOSPLIT, $456-72
	MOVQ         w+0(FP), SI
	MOVQ         half+8(FP), AX
	SHLQ         $4, AX
	LEAQ         (SI)(AX*1), R8
	LEAQ         (SI)(AX*2), SI
	MOVQ         qs+16(FP), DI
	MOVQ         qsStride+24(FP), R11
	MOVQ         d+32(FP), DX
	MOVQ         dStride+40(FP), R13
	MOVQ         bs32+48(FP), R14
	MOVQ         nb+56(FP), CX
	LEAQ         (R11)(R11*2), R12
	LEAQ         (R13)(R13*2), BX
	LEAQ         (R13*4), R9
	LEAQ         (R9)(R9*2), R10
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

loop4:
	Q4KY_SCALES((SI), (R8), 0, 256, 384)
	Q4KY_MINS((R14), (DX), Y0, Y4, 256, 384)
	Q4KY_MINS((R14)(R9*1), (DX)(R13*1), Y1, Y5, 256, 384)
	Q4KY_MINS((R14)(R9*2), (DX)(R13*2), Y2, Y6, 256, 384)
	Q4KY_MINS((R14)(R10*1), (DX)(BX*1), Y3, Y7, 256, 384)
	VPXOR        Y4, Y4, Y4
	VPXOR        Y5, Y5, Y5
	VPXOR        Y6, Y6, Y6
	VPXOR        Y7, Y7, Y7
	// The four chunks of the super-block, a loop rather than unrolled so
	// that it runs from the op cache: SI and DI step through the chunks
	// (DI ends at the next super-block's activations), AX through S_k.
	LEAQ         0(SP), AX
	MOVQ         $4, 448(SP)

chunk4:
	Q4KY4_SUB(0, Q4KY_LO)
	Q4KY4_SUB(1, Q4KY_HI)
	ADDQ         $512, SI
	ADDQ         $64, DI
	ADDQ         $64, AX
	DECQ         448(SP)
	JNE          chunk4

	Q4KY_FINISH(Y4, (DX), Y0, 384)
	Q4KY_FINISH(Y5, (DX)(R13*1), Y1, 384)
	Q4KY_FINISH(Y6, (DX)(R13*2), Y2, 384)
	Q4KY_FINISH(Y7, (DX)(BX*1), Y3, 384)
	ADDQ         $256, SI
	ADDQ         $2304, R8
	ADDQ         $4, DX
	ADDQ         $16, R14
	DECQ         CX
	JNE          loop4

	MOVQ    out+64(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 64(AX)
	VMOVUPS Y2, 128(AX)
	VMOVUPS Y3, 192(AX)
	VZEROUPPER
	RET

// func q4KDot16x1AVX2(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)
//
// All sixteen rows of a Q4_K×16 group × one column (decode): both halves
// in one pass, so each line of the group is read once, with the
// super-block PF bytes ahead prefetched. Registers: SI, R8 = the halves'
// scales and nibbles (R8 = SI+32), R9 = half 1's d and dmin (SI+16); DI, DX,
// R14 = the column's quants, scales and sums; CX = blocks left. Y0/Y1 = F,
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

#define Q4KY1_STEP(L, A, NIB, STEP) \
	NIB(L, (SI), Y6); \
	NIB(L, (R8), Y7); \
	STEP(A)

#define Q4KY1_SUB(J, HI, NIB) \
	Q4KY1_STEP(256+512*J, 64*J+32*HI, NIB, Q4KY1_FIRST);         \
	Q4KY1_STEP(256+512*J+64, 64*J+32*HI+4, NIB, Q4KY1_NEXT);     \
	Q4KY1_STEP(256+512*J+128, 64*J+32*HI+8, NIB, Q4KY1_NEXT);    \
	Q4KY1_STEP(256+512*J+192, 64*J+32*HI+12, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+256, 64*J+32*HI+16, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+320, 64*J+32*HI+20, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+384, 64*J+32*HI+24, NIB, Q4KY1_NEXT);   \
	Q4KY1_STEP(256+512*J+448, 64*J+32*HI+28, NIB, Q4KY1_NEXT);   \
	VPMADDWD (32*(2*J+HI))(SP), Y4, Y4;                          \
	VPADDD   Y4, Y2, Y2;                                         \
	VPMADDWD (256+32*(2*J+HI))(SP), Y5, Y5;                      \
	VPADDD   Y5, Y3, Y3

#define Q4KY_PF 4608

#define Q4KY_PREFETCH \
	PREFETCHT0 (Q4KY_PF)(SI);      \
	PREFETCHT0 (Q4KY_PF+64)(SI);   \
	PREFETCHT0 (Q4KY_PF+128)(SI);  \
	PREFETCHT0 (Q4KY_PF+192)(SI);  \
	PREFETCHT0 (Q4KY_PF+256)(SI);  \
	PREFETCHT0 (Q4KY_PF+320)(SI);  \
	PREFETCHT0 (Q4KY_PF+384)(SI);  \
	PREFETCHT0 (Q4KY_PF+448)(SI);  \
	PREFETCHT0 (Q4KY_PF+512)(SI);  \
	PREFETCHT0 (Q4KY_PF+576)(SI);  \
	PREFETCHT0 (Q4KY_PF+640)(SI);  \
	PREFETCHT0 (Q4KY_PF+704)(SI);  \
	PREFETCHT0 (Q4KY_PF+768)(SI);  \
	PREFETCHT0 (Q4KY_PF+832)(SI);  \
	PREFETCHT0 (Q4KY_PF+896)(SI);  \
	PREFETCHT0 (Q4KY_PF+960)(SI);  \
	PREFETCHT0 (Q4KY_PF+1024)(SI); \
	PREFETCHT0 (Q4KY_PF+1088)(SI); \
	PREFETCHT0 (Q4KY_PF+1152)(SI); \
	PREFETCHT0 (Q4KY_PF+1216)(SI); \
	PREFETCHT0 (Q4KY_PF+1280)(SI); \
	PREFETCHT0 (Q4KY_PF+1344)(SI); \
	PREFETCHT0 (Q4KY_PF+1408)(SI); \
	PREFETCHT0 (Q4KY_PF+1472)(SI); \
	PREFETCHT0 (Q4KY_PF+1536)(SI); \
	PREFETCHT0 (Q4KY_PF+1600)(SI); \
	PREFETCHT0 (Q4KY_PF+1664)(SI); \
	PREFETCHT0 (Q4KY_PF+1728)(SI); \
	PREFETCHT0 (Q4KY_PF+1792)(SI); \
	PREFETCHT0 (Q4KY_PF+1856)(SI); \
	PREFETCHT0 (Q4KY_PF+1920)(SI); \
	PREFETCHT0 (Q4KY_PF+1984)(SI); \
	PREFETCHT0 (Q4KY_PF+2048)(SI); \
	PREFETCHT0 (Q4KY_PF+2112)(SI); \
	PREFETCHT0 (Q4KY_PF+2176)(SI); \
	PREFETCHT0 (Q4KY_PF+2240)(SI)

TEXT ·q4KDot16x1AVX2(SB), 0, $896-48
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         bs32+24(FP), R14
	MOVQ         nb+32(FP), CX
	LEAQ         32(SI), R8
	LEAQ         16(SI), R9
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1

loop1:
	Q4KY_PREFETCH
	Q4KY_SCALES((SI), (SI), 0, 512, 768)
	Q4KY_SCALES((R8), (R9), 256, 640, 832)
	Q4KY_MINS((R14), (DX), Y0, Y4, 512, 768)
	Q4KY_MINS((R14), (DX), Y1, Y5, 640, 832)
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	Q4KY1_SUB(0, 0, Q4KY_LO)
	Q4KY1_SUB(0, 1, Q4KY_HI)
	Q4KY1_SUB(1, 0, Q4KY_LO)
	Q4KY1_SUB(1, 1, Q4KY_HI)
	Q4KY1_SUB(2, 0, Q4KY_LO)
	Q4KY1_SUB(2, 1, Q4KY_HI)
	Q4KY1_SUB(3, 0, Q4KY_LO)
	Q4KY1_SUB(3, 1, Q4KY_HI)
	Q4KY_FINISH(Y2, (DX), Y0, 768)
	Q4KY_FINISH(Y3, (DX), Y1, 832)
	ADDQ         $2304, SI
	ADDQ         $2304, R8
	ADDQ         $2304, R9
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
