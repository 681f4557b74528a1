//go:build !noasm

#include "textflag.h"

DATA q8kPerm<>+0x00(SB)/8, $0x0000000400000000
DATA q8kPerm<>+0x08(SB)/8, $0x0000000500000001
DATA q8kPerm<>+0x10(SB)/8, $0x0000000600000002
DATA q8kPerm<>+0x18(SB)/8, $0x0000000700000003
GLOBL q8kPerm<>(SB), RODATA|NOPTR, $32

// func quantQ8KBlocksAVX2(x *float32, nb int, qs *int8, d *float32, bs16 *int16, bs32 *int16)
//
// quantActGo for 256-value super-blocks (the K-quants' activations) on YMM
// registers: d = max|x|/127, q = round-to-even(x·(1/d)) (VCVTPS2DQ's
// rounding, as math.RoundToEven of the float32 product), and the sums of
// each 16 and 32 quants. Each step takes 32 values: four YMMs of int32
// quants, packed with saturation to bytes (VPACKSSDW, VPACKSSWB interleave
// the 128-bit lanes; VPERMD puts the dwords back in order). R9 = steps
// left in the block. (AVX2)
TEXT ·quantQ8KBlocksAVX2(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         qs+16(FP), DI
	MOVQ         d+24(FP), DX
	MOVQ         bs16+32(FP), R8
	MOVQ         bs32+40(FP), R10
	MOVL         $0x7fffffff, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x42fe0000, AX // 127
	VMOVD        AX, X14
	MOVL         $0x3f800000, AX // 1
	VMOVD        AX, X13
	VMOVDQU      q8kPerm<>(SB), Y12

kloop:
	TESTQ CX, CX
	JEQ   kdone

	// max |x| over the 256 values
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   $0, R9

kmax:
	VANDPS (SI)(R9*1), Y15, Y4
	VMAXPS Y4, Y2, Y2
	VANDPS 32(SI)(R9*1), Y15, Y5
	VMAXPS Y5, Y3, Y3
	ADDQ   $64, R9
	CMPQ   R9, $1024
	JLT    kmax
	VMAXPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0x4e, X2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0xb1, X2, X3
	VMAXPS       X3, X2, X2
	VDIVSS       X14, X2, X4 // d
	VMOVSS       X4, (DX)
	VXORPS       X5, X5, X5
	VMOVD        X4, AX
	TESTL        AX, AX
	JEQ          kzero
	VDIVSS       X4, X13, X5 // 1/d

kzero:
	VBROADCASTSS X5, Y5
	MOVQ         $8, R9

kstep:
	VMULPS     (SI), Y5, Y0
	VMULPS     32(SI), Y5, Y1
	VMULPS     64(SI), Y5, Y2
	VMULPS     96(SI), Y5, Y3
	VCVTPS2DQ  Y0, Y0
	VCVTPS2DQ  Y1, Y1
	VCVTPS2DQ  Y2, Y2
	VCVTPS2DQ  Y3, Y3
	VPACKSSDW  Y1, Y0, Y6
	VPACKSSDW  Y3, Y2, Y7
	VPACKSSWB  Y7, Y6, Y6
	VPERMD     Y6, Y12, Y6
	VMOVDQU    Y6, (DI)

	// sums of the two 16-value groups: lanes of Y0+Y1 and of Y2+Y3
	// (the quants are within ±127, so the int32s need no saturation)
	VPADDD       Y1, Y0, Y0
	VPADDD       Y3, Y2, Y2
	VPHADDD      Y2, Y0, Y0
	VPHADDD      Y0, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0 // dword 0 = group 0, dword 1 = group 1
	VMOVD        X0, AX
	VPEXTRD      $1, X0, BX
	MOVW         AX, (R8)
	MOVW         BX, 2(R8)
	ADDL         BX, AX
	MOVW         AX, (R10)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $2, R10
	DECQ R9
	JNE  kstep

	ADDQ $4, DX
	DECQ CX
	JMP  kloop

kdone:
	VZEROUPPER
	RET
