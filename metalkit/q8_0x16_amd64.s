//go:build !noasm

#include "textflag.h"

// Q8X16_BLOCK loads block b's 16 scales (Z16) and its eight lines with the
// sign bits flipped (Z8..Z15), and prefetches the lines 8 KiB ahead.
#define Q8X16_BLOCK \
	VCVTPH2PS  (SI), Z16;      \
	VPXORD     (R8), Z31, Z8;  \
	VPXORD     64(R8), Z31, Z9;  \
	VPXORD     128(R8), Z31, Z10; \
	VPXORD     192(R8), Z31, Z11; \
	VPXORD     256(R8), Z31, Z12; \
	VPXORD     320(R8), Z31, Z13; \
	VPXORD     384(R8), Z31, Z14; \
	VPXORD     448(R8), Z31, Z15; \
	PREFETCHT2 8192(R8);       \
	PREFETCHT2 8256(R8);       \
	PREFETCHT2 8320(R8);       \
	PREFETCHT2 8384(R8);       \
	PREFETCHT2 8448(R8);       \
	PREFETCHT2 8512(R8);       \
	PREFETCHT2 8576(R8);       \
	PREFETCHT2 8640(R8)

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
// instructions).
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
	Q8X16_BLOCK
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
