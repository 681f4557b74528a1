//go:build !noasm

#include "textflag.h"

// func iq2xxsBlocksAVX2(w *byte, tab *[8]int8, q *int8, nb int, out *int32)
//
// For each of nb IQ2_XXS blocks (66 bytes at w) and Q8_K activation blocks
// (256 int8 at q): out[b] = Σ_sub (2s+1) · Σ_i signed(grid)_i · q_i, the
// signed codebook rows read from tab (iq2xxsSigned, index g<<7 | z).
// Per sub-block: |w| (unsigned) × q·sign(w) with VPMADDUBSW, pairs summed
// with VPMADDWD, times 2s+1, accumulated in 8 int32 lanes.
TEXT ·iq2xxsBlocksAVX2(SB), NOSPLIT, $0-40
	MOVQ     w+0(FP), SI
	MOVQ     tab+8(FP), R10
	MOVQ     q+16(FP), DI
	MOVQ     nb+24(FP), CX
	MOVQ     out+32(FP), DX
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15 // int16 ones

block:
	TESTQ CX, CX
	JZ    done
	VPXOR Y7, Y7, Y7
	LEAQ  2(SI), R12
	MOVQ  $8, R13

sub:
	MOVL (R12), AX  // four codebook indices
	MOVL 4(R12), BX // four sign selectors, scale in bits 28..31

	MOVL    AX, R8
	ANDL    $255, R8
	SHLL    $7, R8
	MOVL    BX, R9
	ANDL    $127, R9
	ORL     R9, R8
	VMOVQ   (R10)(R8*8), X1

	MOVL    AX, R8
	SHRL    $8, R8
	ANDL    $255, R8
	SHLL    $7, R8
	MOVL    BX, R9
	SHRL    $7, R9
	ANDL    $127, R9
	ORL     R9, R8
	VPINSRQ $1, (R10)(R8*8), X1, X1

	MOVL    AX, R8
	SHRL    $16, R8
	ANDL    $255, R8
	SHLL    $7, R8
	MOVL    BX, R9
	SHRL    $14, R9
	ANDL    $127, R9
	ORL     R9, R8
	VMOVQ   (R10)(R8*8), X2

	MOVL    AX, R8
	SHRL    $24, R8
	SHLL    $7, R8
	MOVL    BX, R9
	SHRL    $21, R9
	ANDL    $127, R9
	ORL     R9, R8
	VPINSRQ $1, (R10)(R8*8), X2, X2

	VINSERTI128 $1, X2, Y1, Y1 // 32 signed weights
	VMOVDQU     (DI), Y2       // 32 activations
	VPSIGNB     Y1, Y2, Y3     // q·sign(w)
	VPABSB      Y1, Y4         // |w|
	VPMADDUBSW  Y3, Y4, Y5
	VPMADDWD    Y15, Y5, Y5

	MOVL         BX, R9
	SHRL         $28, R9
	LEAL         1(R9)(R9*1), R9 // 2s+1
	VMOVD        R9, X6
	VPBROADCASTD X6, Y6
	VPMULLD      Y6, Y5, Y5
	VPADDD       Y5, Y7, Y7

	ADDQ $8, R12
	ADDQ $32, DI
	DECQ R13
	JNZ  sub

	VEXTRACTI128 $1, Y7, X8
	VPADDD       X8, X7, X7
	VPSHUFD      $0x4E, X7, X8
	VPADDD       X8, X7, X7
	VPSHUFD      $0xB1, X7, X8
	VPADDD       X8, X7, X7
	VMOVD        X7, R11
	MOVL         R11, (DX)
	ADDQ         $4, DX
	ADDQ         $66, SI
	DECQ         CX
	JMP          block

done:
	VZEROUPPER
	RET
