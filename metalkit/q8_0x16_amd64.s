//go:build !noasm

#include "textflag.h"

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
	VCVTPH2PS (SI), Z16
	VPXORD    (R8), Z31, Z8
	VPXORD    64(R8), Z31, Z9
	VPXORD    128(R8), Z31, Z10
	VPXORD    192(R8), Z31, Z11
	VPXORD    256(R8), Z31, Z12
	VPXORD    320(R8), Z31, Z13
	VPXORD    384(R8), Z31, Z14
	VPXORD    448(R8), Z31, Z15
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
