//go:build !noasm

#include "textflag.h"

DATA q2kMask3<>+0(SB)/8, $0x0303030303030303
GLOBL q2kMask3<>(SB), RODATA|NOPTR, $8

// func q2kBlocksAVX2(w *byte, q *int8, nb int, out *int32)
//
// For each of nb Q2_K blocks (84 bytes at w) and Q8_K activation blocks
// (256 int8 at q): out[b] = Σ_s a_s · Σ_{i in sub-block s} q2_i · q_i (the
// scale part; the caller folds in the mins from bsums). Row r = 4h + j
// holds values 128h + 32j + l: qs[32h + l] >> 2j & 3, sub-blocks 2r and
// 2r+1. Each row is unpacked with a shift and a mask, multiplied with
// VPMADDUBSW (2-bit values unsigned, activations signed), and its two
// halves weighted by their 4-bit scales with VPMADDWD.
TEXT ·q2kBlocksAVX2(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         nb+16(FP), CX
	MOVQ         out+24(FP), DX
	VPBROADCASTQ q2kMask3<>(SB), Y15

block:
	TESTQ CX, CX
	JZ    done
	VPXOR Y7, Y7, Y7
	XORQ  R12, R12

row:
	MOVQ    R12, R13
	SHRQ    $2, R13
	SHLQ    $5, R13                // 32h
	VMOVDQU 16(SI)(R13*1), Y0      // qs[32h : 32h+32]
	MOVQ    R12, R14
	ANDQ    $3, R14
	SHLQ    $1, R14                // shift 2j
	VMOVQ   R14, X9
	VPSRLW  X9, Y0, Y1
	VPAND   Y15, Y1, Y1            // 2-bit values
	MOVQ    R12, R13
	SHLQ    $5, R13                // 32r = 128h + 32j
	VMOVDQU (DI)(R13*1), Y2        // activations
	VPMADDUBSW Y2, Y1, Y3          // int16 pairs

	MOVBLZX (SI)(R12*2), R8        // scales[2r]
	ANDL    $15, R8
	MOVBLZX 1(SI)(R12*2), R9       // scales[2r+1]
	ANDL    $15, R9
	VMOVD        R8, X4
	VPBROADCASTW X4, X4
	VMOVD        R9, X5
	VPBROADCASTW X5, X5
	VINSERTI128  $1, X5, Y4, Y4
	VPMADDWD     Y4, Y3, Y3
	VPADDD       Y3, Y7, Y7

	INCQ R12
	CMPQ R12, $8
	JLT  row

	VEXTRACTI128 $1, Y7, X8
	VPADDD       X8, X7, X7
	VPSHUFD      $0x4E, X7, X8
	VPADDD       X8, X7, X7
	VPSHUFD      $0xB1, X7, X8
	VPADDD       X8, X7, X7
	VMOVD        X7, R11
	MOVL         R11, (DX)
	ADDQ         $4, DX
	ADDQ         $84, SI
	ADDQ         $256, DI
	DECQ         CX
	JMP          block

done:
	VZEROUPPER
	RET
