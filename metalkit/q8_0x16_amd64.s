//go:build !noasm

#include "textflag.h"

// Q8X16_LINES loads block b's 16 scales (Z16) and its eight lines with the
// sign bits flipped (Z8..Z15).
#define Q8X16_LINES \
	VCVTPH2PS (SI), Z16;        \
	VPXORD    (R8), Z31, Z8;    \
	VPXORD    64(R8), Z31, Z9;  \
	VPXORD    128(R8), Z31, Z10; \
	VPXORD    192(R8), Z31, Z11; \
	VPXORD    256(R8), Z31, Z12; \
	VPXORD    320(R8), Z31, Z13; \
	VPXORD    384(R8), Z31, Z14; \
	VPXORD    448(R8), Z31, Z15

// Q8X16_BLOCK is Q8X16_LINES and a prefetch of the lines 8 KiB ahead into
// L2 (PREFETCHT2), for one column.
#define Q8X16_BLOCK \
	Q8X16_LINES;         \
	PREFETCHT2 8192(R8); \
	PREFETCHT2 8256(R8); \
	PREFETCHT2 8320(R8); \
	PREFETCHT2 8384(R8); \
	PREFETCHT2 8448(R8); \
	PREFETCHT2 8512(R8); \
	PREFETCHT2 8576(R8); \
	PREFETCHT2 8640(R8)

// Q8X16_BLOCK8 is Q8X16_LINES and a prefetch of the lines 12 KiB ahead
// into L1 (PREFETCHT0), for eight columns: see q8_0Dot16x8Z.
#define Q8X16_BLOCK8 \
	Q8X16_LINES;          \
	PREFETCHT0 12288(R8); \
	PREFETCHT0 12352(R8); \
	PREFETCHT0 12416(R8); \
	PREFETCHT0 12480(R8); \
	PREFETCHT0 12544(R8); \
	PREFETCHT0 12608(R8); \
	PREFETCHT0 12672(R8); \
	PREFETCHT0 12736(R8)

// func q8_0Dot16xNZ(w *byte, nb int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, n int, out *float32)
//
// Sixteen rows of a Q8_0×16 group (layout in q8_0x16.go) × n columns,
// out[16c+r], AVX512F+BW+VNNI. Lane r of every vector is row r. Per block,
// the eight 64-byte lines are loaded once with their sign bits flipped
// (Z8..Z15: w+128, unsigned for VPDPBUSD) and the 16 scales widened (Z16);
// then for each column two chains of four VPDPBUSD multiply four weights
// of every row by four activations broadcast from memory, the first chain
// starting from 8·cz = −128·Σ qs, which takes the flip back, and the
// column's 16 sums accumulate in out: out += float(isum)·d_w·d_a.
// Each block prefetches the lines 8 KiB ahead (PREFETCHT2, the best of
// T0/T1/T2 at 1-16 KiB and NTA on one thread of a 2-core Xeon VM, family 6
// model 207, over an 850 MB matrix: one column streamed 14.9-15.0 GB/s of
// weights without it, 16.0-16.1 with it).
//
// Registers: SI = block scales, R8 = block lines, DI/DX/BX = column 0's
// quants, scale, correction for this block; R13/R14/R15 = column c's, AX =
// its 16 outputs, R11 = the end of out; CX = blocks left. Z31 = 0x80 bytes.
TEXT ·q8_0Dot16xNZ(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ qsStride+24(FP), R9
	MOVQ d+32(FP), DX
	MOVQ cz+40(FP), BX
	MOVQ sStride+48(FP), R10
	MOVQ n+56(FP), R11
	MOVQ out+64(FP), R12

	// out = 0; R11 = its end.
	SHLQ   $6, R11
	ADDQ   R12, R11
	VPXORD Z0, Z0, Z0
	MOVQ   R12, AX

zero:
	VMOVUPS Z0, (AX)
	ADDQ    $64, AX
	CMPQ    AX, R11
	JNE     zero

	// R8 = the lines, after nb blocks of 32 bytes of scales.
	MOVQ         CX, R8
	SHLQ         $5, R8
	ADDQ         SI, R8
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z31

block:
	Q8X16_BLOCK
	MOVQ      DI, R13
	MOVQ      DX, R14
	MOVQ      BX, R15
	MOVQ      R12, AX

column:
	VPBROADCASTD  (R15), Z17
	VPSLLD        $3, Z17, Z17
	VPXORD        Z18, Z18, Z18
	VPDPBUSD.BCST (R13), Z8, Z17
	VPDPBUSD.BCST 16(R13), Z12, Z18
	VPDPBUSD.BCST 4(R13), Z9, Z17
	VPDPBUSD.BCST 20(R13), Z13, Z18
	VPDPBUSD.BCST 8(R13), Z10, Z17
	VPDPBUSD.BCST 24(R13), Z14, Z18
	VPDPBUSD.BCST 12(R13), Z11, Z17
	VPDPBUSD.BCST 28(R13), Z15, Z18
	VPADDD        Z18, Z17, Z17
	VCVTDQ2PS     Z17, Z17
	VMULPS.BCST   (R14), Z16, Z18
	VMOVUPS       (AX), Z19
	VFMADD231PS   Z18, Z17, Z19
	VMOVUPS       Z19, (AX)
	ADDQ          R9, R13
	ADDQ          R10, R14
	ADDQ          R10, R15
	ADDQ          $64, AX
	CMPQ          AX, R11
	JNE           column

	ADDQ $32, SI
	ADDQ $512, R8
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JNZ  block

	VZEROUPPER
	RET

// func q8_0Dot16x8Z(w *byte, nb int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, out *float32)
//
// q8_0Dot16xNZ for exactly eight columns (a decode batch of eight
// sessions, a prefill's columns eight at a time), with the eight columns'
// sums in registers (Z0..Z7) for the whole row instead of read and
// written back per block (8% faster from cache): a block is its loads,
// 64 VPDPBUSD and 8 scale FMAs. Both kernels prefetch; with eight
// columns a block's arithmetic takes long enough that the hardware
// prefetcher alone left the loads waiting: one thread streamed 8.9 GB/s
// of weights at eight columns against 15 at one (same host and matrix);
// with the prefetch 13.1-13.3 (the arithmetic alone, from cache, runs at
// about one VPDPBUSD a cycle, so what is left is overlap, not
// instructions). It prefetches into L1 (T0) 12 KiB ahead where the
// one-column kernel takes T2 at 8 KiB: on a 2-core Zen 5 EPYC (family 26,
// 3.4 GHz; a VPDPBUSD takes 4 cycles, two a cycle), streaming 136 MB from
// DRAM on one thread, thread CPU time, best of 40 alternated passes: T2
// at 8 KiB 22.4-22.6 GB/s, T0 at 4, 8, 12, 16 KiB 21.8-23.3, 22.0-23.6,
// 24.9-26.2, 23.0-24.6, none 11.5; from cache 38 GB/s (48 cycles a
// block: the 64 VPDPBUSD alone, operands in registers, take 35). At 2
// threads, 8 sessions of the 1B Q8_0 file decoding, alternated in one
// process at load 6-8, median (first quartile) of 20 rounds: T2 8 KiB
// 76.9 (84.4) tok/s, T0 12 KiB 79.2 (89.6), 16 KiB 82.5 (89.7); the
// one-column kernel gained nothing from T0 (8-16 KiB).
//
// Registers as in q8_0Dot16xNZ; R13/R14/R15 walk the columns of a block.
#define Q8X8_COL(ACC) \
	VPBROADCASTD  (R15), Z17;          \
	VPSLLD        $3, Z17, Z17;        \
	VPXORD        Z18, Z18, Z18;       \
	VPDPBUSD.BCST (R13), Z8, Z17;      \
	VPDPBUSD.BCST 16(R13), Z12, Z18;   \
	VPDPBUSD.BCST 4(R13), Z9, Z17;     \
	VPDPBUSD.BCST 20(R13), Z13, Z18;   \
	VPDPBUSD.BCST 8(R13), Z10, Z17;    \
	VPDPBUSD.BCST 24(R13), Z14, Z18;   \
	VPDPBUSD.BCST 12(R13), Z11, Z17;   \
	VPDPBUSD.BCST 28(R13), Z15, Z18;   \
	VPADDD        Z18, Z17, Z17;       \
	VCVTDQ2PS     Z17, Z17;            \
	VMULPS.BCST   (R14), Z16, Z18;     \
	VFMADD231PS   Z18, Z17, ACC;       \
	ADDQ          R9, R13;             \
	ADDQ          R10, R14;            \
	ADDQ          R10, R15

TEXT ·q8_0Dot16x8Z(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ qsStride+24(FP), R9
	MOVQ d+32(FP), DX
	MOVQ cz+40(FP), BX
	MOVQ sStride+48(FP), R10

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

	MOVQ         CX, R8
	SHLQ         $5, R8
	ADDQ         SI, R8
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z31

block8:
	Q8X16_BLOCK8
	MOVQ       DI, R13
	MOVQ       DX, R14
	MOVQ       BX, R15
	Q8X8_COL(Z0)
	Q8X8_COL(Z1)
	Q8X8_COL(Z2)
	Q8X8_COL(Z3)
	Q8X8_COL(Z4)
	Q8X8_COL(Z5)
	Q8X8_COL(Z6)
	Q8X8_COL(Z7)
	ADDQ       $32, SI
	ADDQ       $512, R8
	ADDQ       $32, DI
	ADDQ       $4, DX
	ADDQ       $4, BX
	DECQ       CX
	JNZ        block8

	MOVQ    out+56(FP), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	VMOVUPS Z4, 256(AX)
	VMOVUPS Z5, 320(AX)
	VMOVUPS Z6, 384(AX)
	VMOVUPS Z7, 448(AX)
	VZEROUPPER
	RET

// AVX2 kernels for the same layout. AVX2 has no VPDPBUSD, so four weights
// of eight rows (half a line, one YMM) meet four activations the way the
// GGUF-layout AVX2 kernels multiply: VPMADDUBSW of |w| (unsigned) with
// a·sign(w) (VPSIGNB), which cannot saturate (|w| ≤ 128, |a| ≤ 127), then
// VPMADDWD with int16 ones sums each row's four products into its int32
// lane. Both VPABSB and VPSIGNB read the weights from memory, so a half
// line is five instructions. The lanes are rows, so the per-block scales
// are a vector (d_w of eight rows × d_a broadcast) and one conversion and
// one FMA serve eight rows, where the GGUF kernels spend them on one.

// Q8Y_PREFETCH prefetches a block's eight lines 1 KiB ahead. On one core
// of a Zen 3 EPYC (AVX2, no AVX-512), streaming an 8192×2048 matrix from
// DRAM with one column, CPU time, shared host: PREFETCHT0 1 KiB ahead
// 14.2-17.6 GB/s, none 12.4-14.5 (T0 at 512 B and 2-4 KiB and T2 at
// 8 KiB in between); with eight columns 62.0-63.9 GB/s × columns against
// 51.6-61.5 without.
#define Q8Y_PREFETCH \
	PREFETCHT0 1024(R8); \
	PREFETCHT0 1088(R8); \
	PREFETCHT0 1152(R8); \
	PREFETCHT0 1216(R8); \
	PREFETCHT0 1280(R8); \
	PREFETCHT0 1344(R8); \
	PREFETCHT0 1408(R8); \
	PREFETCHT0 1472(R8)

// Q8Y_HALF adds half a line's products (weights at MEM, activations
// broadcast in A) to the int32 row sums ACC; Y15 = int16 ones.
#define Q8Y_HALF(MEM, A, ACC) \
	VPABSB     MEM, Y6;      \
	VPSIGNB    MEM, A, Y7;   \
	VPMADDUBSW Y7, Y6, Y7;   \
	VPMADDWD   Y15, Y7, Y7;  \
	VPADDD     Y7, ACC, ACC

// Q8Y_LINE does line I of a block for one column (activations at DI):
// rows 0-7 into LO, rows 8-15 into HI.
#define Q8Y_LINE(QOFF, WOFF, WOFF2, LO, HI) \
	VPBROADCASTD QOFF(DI), Y4;        \
	Q8Y_HALF(WOFF(R8), Y4, LO);       \
	Q8Y_HALF(WOFF2(R8), Y4, HI)

// func q8_0Dot16AVX2(w *byte, nb int, qs *int8, d *float32, out *[16]float32)
//
// The sixteen rows of a Q8_0×16 group × one column (decode), out[r].
// (AVX2+FMA+F16C)
//
// Registers: SI = block scales, R8 = block lines, DI/DX = the column's
// quants and scale for this block, CX = blocks left; Y0/Y1 = float sums of
// rows 0-7/8-15; Y2/Y3 (even lines) and Y8/Y9 (odd lines) = the block's
// int32 sums; Y15 = int16 ones.
TEXT ·q8_0Dot16AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ d+24(FP), DX

	VXORPS   Y0, Y0, Y0
	VXORPS   Y1, Y1, Y1
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15

	// R8 = the lines, after nb blocks of 32 bytes of scales.
	MOVQ CX, R8
	SHLQ $5, R8
	ADDQ SI, R8

block1:
	Q8Y_PREFETCH
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	Q8Y_LINE(0, 0, 32, Y2, Y3)
	Q8Y_LINE(4, 64, 96, Y8, Y9)
	Q8Y_LINE(8, 128, 160, Y2, Y3)
	Q8Y_LINE(12, 192, 224, Y8, Y9)
	Q8Y_LINE(16, 256, 288, Y2, Y3)
	Q8Y_LINE(20, 320, 352, Y8, Y9)
	Q8Y_LINE(24, 384, 416, Y2, Y3)
	Q8Y_LINE(28, 448, 480, Y8, Y9)
	VPADDD       Y8, Y2, Y2
	VPADDD       Y9, Y3, Y3
	VCVTDQ2PS    Y2, Y2
	VCVTDQ2PS    Y3, Y3
	VBROADCASTSS (DX), Y10
	VCVTPH2PS    (SI), Y11
	VCVTPH2PS    16(SI), Y12
	VMULPS       Y10, Y11, Y11
	VMULPS       Y10, Y12, Y12
	VFMADD231PS  Y11, Y2, Y0
	VFMADD231PS  Y12, Y3, Y1
	ADDQ         $32, SI
	ADDQ         $512, R8
	ADDQ         $32, DI
	ADDQ         $4, DX
	DECQ         CX
	JNZ          block1

	MOVQ    out+32(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	VZEROUPPER
	RET

// Q8Y_COL adds line products of one column (quants at Q, the line's
// weights in Y8/Y9 and their magnitudes in Y10/Y11) to LO and HI.
#define Q8Y_COL(Q, LO, HI) \
	VPBROADCASTD Q, Y12;        \
	VPSIGNB      Y8, Y12, Y13;  \
	VPSIGNB      Y9, Y12, Y12;  \
	VPMADDUBSW   Y13, Y10, Y13; \
	VPMADDUBSW   Y12, Y11, Y12; \
	VPMADDWD     Y15, Y13, Y13; \
	VPMADDWD     Y15, Y12, Y12; \
	VPADDD       Y13, LO, LO;   \
	VPADDD       Y12, HI, HI

// Q8Y_COL0 is Q8Y_COL for a block's first line: it sets LO and HI.
#define Q8Y_COL0(Q, LO, HI) \
	VPBROADCASTD Q, Y12;        \
	VPSIGNB      Y8, Y12, Y13;  \
	VPSIGNB      Y9, Y12, Y12;  \
	VPMADDUBSW   Y13, Y10, Y13; \
	VPMADDUBSW   Y12, Y11, Y12; \
	VPMADDWD     Y15, Y13, LO;  \
	VPMADDWD     Y15, Y12, HI

// Q8Y_LINE4 does line I (weights at WOFF(R8), quants at QOFF) for the
// four columns at R13 + c·R9 (R10 = 3·R9).
#define Q8Y_LINE4(COL, QOFF, WOFF, WOFF2) \
	VMOVDQU WOFF(R8), Y8;             \
	VMOVDQU WOFF2(R8), Y9;            \
	VPABSB  Y8, Y10;                  \
	VPABSB  Y9, Y11;                  \
	COL(QOFF(R13), Y0, Y1);           \
	COL(QOFF(R13)(R9*1), Y2, Y3);     \
	COL(QOFF(R13)(R9*2), Y4, Y5);     \
	COL(QOFF(R13)(R10*1), Y6, Y7)

// Q8Y_OUT adds one column's block sums (LO, HI) times the scales to its
// 16 outputs at OUT; the column's scale is at D, Y14 = the block's
// scales of rows 0-7.
#define Q8Y_OUT(D, LO, HI, OUT, OUT2) \
	VBROADCASTSS D, Y12;             \
	VMULPS       Y14, Y12, Y13;      \
	VCVTPH2PS    16(SI), Y8;         \
	VMULPS       Y8, Y12, Y12;       \
	VCVTDQ2PS    LO, LO;             \
	VCVTDQ2PS    HI, HI;             \
	VFMADD213PS  OUT, Y13, LO;       \
	VFMADD213PS  OUT2, Y12, HI;      \
	VMOVUPS      LO, OUT;            \
	VMOVUPS      HI, OUT2

// func q8_0Dot16xNAVX2(w *byte, nb int, qs *int8, qsStride int, d *float32, sStride int, n int, out *float32)
//
// The sixteen rows of a Q8_0×16 group × n columns, n a multiple of 4
// (prefill, batched decode), out[16c+r]. (AVX2+FMA+F16C)
//
// Per block, four columns at a time: each line is loaded and made
// absolute once for the four, whose 16 int32 row sums stay in Y0..Y7
// through the block's eight lines; then each column's sums are scaled
// into its outputs in memory (out is zeroed first and holds the float
// sums, as in q8_0Dot16xNZ).
//
// Registers: SI = block scales, R8 = block lines, DI/DX = column 0's
// quants and scale for this block; R13/R14 = those of the first of the
// four columns, AX = their outputs, BX = the end of out; R9 = qsStride,
// R10 = 3·qsStride, R11 = sStride, R12 = 3·sStride; CX = blocks left;
// Y8/Y9 = a line, Y10/Y11 = its magnitudes, Y14 = block scales of rows
// 0-7, Y15 = int16 ones.
TEXT ·q8_0Dot16xNAVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ qsStride+24(FP), R9
	MOVQ d+32(FP), DX
	MOVQ sStride+40(FP), R11
	MOVQ n+48(FP), BX
	MOVQ out+56(FP), R15
	LEAQ (R9)(R9*2), R10
	LEAQ (R11)(R11*2), R12

	// out = 0; BX = its end.
	SHLQ   $6, BX
	ADDQ   R15, BX
	VXORPS Y0, Y0, Y0
	MOVQ   R15, AX

zeroN:
	VMOVUPS Y0, (AX)
	VMOVUPS Y0, 32(AX)
	ADDQ    $64, AX
	CMPQ    AX, BX
	JNE     zeroN

	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15

	MOVQ CX, R8
	SHLQ $5, R8
	ADDQ SI, R8

blockN:
	Q8Y_PREFETCH
	VCVTPH2PS (SI), Y14
	MOVQ      DI, R13
	MOVQ      DX, R14
	MOVQ      R15, AX

quadN:
	Q8Y_LINE4(Q8Y_COL0, 0, 0, 32)
	Q8Y_LINE4(Q8Y_COL, 4, 64, 96)
	Q8Y_LINE4(Q8Y_COL, 8, 128, 160)
	Q8Y_LINE4(Q8Y_COL, 12, 192, 224)
	Q8Y_LINE4(Q8Y_COL, 16, 256, 288)
	Q8Y_LINE4(Q8Y_COL, 20, 320, 352)
	Q8Y_LINE4(Q8Y_COL, 24, 384, 416)
	Q8Y_LINE4(Q8Y_COL, 28, 448, 480)
	Q8Y_OUT((R14), Y0, Y1, (AX), 32(AX))
	Q8Y_OUT((R14)(R11*1), Y2, Y3, 64(AX), 96(AX))
	Q8Y_OUT((R14)(R11*2), Y4, Y5, 128(AX), 160(AX))
	Q8Y_OUT((R14)(R12*1), Y6, Y7, 192(AX), 224(AX))
	LEAQ      (R13)(R9*4), R13
	LEAQ      (R14)(R11*4), R14
	ADDQ      $256, AX
	CMPQ      AX, BX
	JNE       quadN

	ADDQ $32, SI
	ADDQ $512, R8
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  blockN

	VZEROUPPER
	RET
