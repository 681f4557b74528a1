//go:build !noasm

#include "textflag.h"

// func quantQ8BlocksAVX512(x *float32, nb int, qs *int8, d *float32, cz *int32)
//
// Quantises nb blocks of 32 activations as quantAct does with 32-value
// blocks: d = max|x|/127, q = round-to-even(x·(1/d)) (0 when d = 0), and
// the correction cz = −16·Σq. Z0, Z1 = the block; Z30 = abs mask.
TEXT ·quantQ8BlocksAVX512(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         qs+16(FP), DI
	MOVQ         d+24(FP), DX
	MOVQ         cz+32(FP), R8
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x42fe0000, AX // 127
	VMOVD        AX, X29
	MOVL         $0x3f800000, AX // 1
	VMOVD        AX, X28

loop:
	TESTQ CX, CX
	JEQ   done
	VMOVUPS       (SI), Z0
	VMOVUPS       64(SI), Z1
	VANDPS        Z30, Z0, Z2
	VANDPS        Z30, Z1, Z3
	VMAXPS        Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS        Y3, Y2, Y2
	VEXTRACTF128  $1, Y2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0x4e, X2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0xb1, X2, X3
	VMAXPS        X3, X2, X2
	VDIVSS        X29, X2, X4 // d
	VMOVSS        X4, (DX)
	VXORPS        X5, X5, X5
	VMOVD         X4, AX
	TESTL         AX, AX
	JEQ           zero
	VDIVSS        X4, X28, X5 // 1/d

zero:
	VBROADCASTSS  X5, Z5
	VMULPS        Z5, Z0, Z0
	VMULPS        Z5, Z1, Z1
	VCVTPS2DQ     Z0, Z0
	VCVTPS2DQ     Z1, Z1
	VPMOVSDB      Z0, X6
	VPMOVSDB      Z1, X7
	VMOVDQU       X6, (DI)
	VMOVDQU       X7, 16(DI)
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPADDD        X1, X0, X0
	VMOVD         X0, AX
	SHLL          $4, AX
	NEGL          AX
	MOVL          AX, (R8)
	ADDQ          $128, SI
	ADDQ          $32, DI
	ADDQ          $4, DX
	ADDQ          $4, R8
	DECQ          CX
	JMP           loop

done:
	VZEROUPPER
	RET

// func quantQ8KBlocksAVX512(x *float32, nb int, qs *int8, d *float32, bs16 *int16, bs32 *int16)
//
// quantQ8BlocksAVX512 for 256-value super-blocks (the K-quants' activation
// side): one scale per 256 values, and the sums of each 16 and 32 quants
// (bs16, bs32) instead of the correction. Each ZMM of 16 values is one
// 16-value group. R9 = groups left in the block, BX = the previous group's
// sum.
TEXT ·quantQ8KBlocksAVX512(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         qs+16(FP), DI
	MOVQ         d+24(FP), DX
	MOVQ         bs16+32(FP), R8
	MOVQ         bs32+40(FP), R10
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x42fe0000, AX // 127
	VMOVD        AX, X29
	MOVL         $0x3f800000, AX // 1
	VMOVD        AX, X28

kloop:
	TESTQ CX, CX
	JEQ   kdone

	// max |x| over the 256 values
	VPXORD Z2, Z2, Z2
	MOVQ   $0, R9

kmax:
	VANDPS (SI)(R9*1), Z30, Z3
	VMAXPS Z3, Z2, Z2
	ADDQ   $64, R9
	CMPQ   R9, $1024
	JLT    kmax
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS        Y3, Y2, Y2
	VEXTRACTF128  $1, Y2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0x4e, X2, X3
	VMAXPS        X3, X2, X2
	VPERMILPS     $0xb1, X2, X3
	VMAXPS        X3, X2, X2
	VDIVSS        X29, X2, X4 // d
	VMOVSS        X4, (DX)
	VXORPS        X5, X5, X5
	VMOVD         X4, AX
	TESTL         AX, AX
	JEQ           kzero
	VDIVSS        X4, X28, X5 // 1/d

kzero:
	VBROADCASTSS X5, Z5
	MOVQ         $16, R9

kgroup:
	VMOVUPS       (SI), Z0
	VMULPS        Z5, Z0, Z0
	VCVTPS2DQ     Z0, Z0
	VPMOVSDB      Z0, X6
	VMOVDQU       X6, (DI)
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPADDD        X1, X0, X0
	VMOVD         X0, AX
	MOVW          AX, (R8)
	TESTQ         $1, R9
	JNE           kodd
	MOVL          AX, BX
	JMP           knext

kodd:
	ADDL AX, BX
	MOVW BX, (R10)
	ADDQ $2, R10

knext:
	ADDQ $64, SI
	ADDQ $16, DI
	ADDQ $2, R8
	DECQ R9
	JNE  kgroup

	ADDQ $4, DX
	DECQ CX
	JMP  kloop

kdone:
	VZEROUPPER
	RET

// func quantQ8BlocksAVX2(x *float32, nb int, qs *int8, d *float32, cz *int32)
//
// quantQ8BlocksAVX512 with YMM (AVX2, for the avx2 backend). The packs
// (VPACKSSDW, VPACKSSWB) work within 128-bit lanes, which leaves the
// block's eight groups of four quants in the order 0 2 4 6 1 3 5 7;
// VPERMD with Y13 puts them back. Y0-Y3 = the block; Y15 = abs mask.
TEXT ·quantQ8BlocksAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         qs+16(FP), DI
	MOVQ         d+24(FP), DX
	MOVQ         cz+32(FP), R8
	MOVL         $0x7fffffff, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x42fe0000, AX // 127
	VMOVD        AX, X14
	MOVL         $0x3f800000, AX // 1
	VMOVD        AX, X12
	VMOVDQU      quantPermAVX2<>(SB), Y13

qloop:
	TESTQ CX, CX
	JEQ   qdone
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMOVUPS      64(SI), Y2
	VMOVUPS      96(SI), Y3
	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VANDPS       Y15, Y2, Y6
	VANDPS       Y15, Y3, Y7
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0x4e, X4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0xb1, X4, X5
	VMAXPS       X5, X4, X4
	VDIVSS       X14, X4, X4 // d
	VMOVSS       X4, (DX)
	VXORPS       X5, X5, X5
	VMOVD        X4, AX
	TESTL        AX, AX
	JEQ          qzero
	VDIVSS       X4, X12, X5 // 1/d

qzero:
	VBROADCASTSS X5, Y5
	VMULPS       Y5, Y0, Y0
	VMULPS       Y5, Y1, Y1
	VMULPS       Y5, Y2, Y2
	VMULPS       Y5, Y3, Y3
	VCVTPS2DQ    Y0, Y0
	VCVTPS2DQ    Y1, Y1
	VCVTPS2DQ    Y2, Y2
	VCVTPS2DQ    Y3, Y3
	VPACKSSDW    Y1, Y0, Y4
	VPACKSSDW    Y3, Y2, Y5
	VPACKSSWB    Y5, Y4, Y4
	VPERMD       Y4, Y13, Y4
	VMOVDQU      Y4, (DI)
	VPADDD       Y1, Y0, Y0
	VPADDD       Y3, Y2, Y2
	VPADDD       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	SHLL         $4, AX
	NEGL         AX
	MOVL         AX, (R8)
	ADDQ         $128, SI
	ADDQ         $32, DI
	ADDQ         $4, DX
	ADDQ         $4, R8
	DECQ         CX
	JMP          qloop

qdone:
	VZEROUPPER
	RET

// The dword order that undoes the lane-wise packs: 0 4 1 5 2 6 3 7.
DATA quantPermAVX2<>+0(SB)/4, $0
DATA quantPermAVX2<>+4(SB)/4, $4
DATA quantPermAVX2<>+8(SB)/4, $1
DATA quantPermAVX2<>+12(SB)/4, $5
DATA quantPermAVX2<>+16(SB)/4, $2
DATA quantPermAVX2<>+20(SB)/4, $6
DATA quantPermAVX2<>+24(SB)/4, $3
DATA quantPermAVX2<>+28(SB)/4, $7
GLOBL quantPermAVX2<>(SB), RODATA|NOPTR, $32
