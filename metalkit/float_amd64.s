//go:build !noasm

#include "textflag.h"

// func dotAVX2(a, b []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

loop32:
	CMPQ        CX, $32
	JLT         loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         loop32

loop8:
	CMPQ        CX, $8
	JLT         reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         loop8

reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0

tail:
	TESTQ       CX, CX
	JEQ         done
	VMOVSS      (SI), X4
	VFMADD231SS (DI), X4, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         tail

done:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func axpyAVX2(out []float32, a float32, x []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+32(FP), SI
	MOVQ         x_len+40(FP), CX
	VBROADCASTSS a+24(FP), Y0

loop32:
	CMPQ        CX, $32
	JLT         loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD213PS (DI), Y0, Y4
	VFMADD213PS 32(DI), Y0, Y5
	VFMADD213PS 64(DI), Y0, Y6
	VFMADD213PS 96(DI), Y0, Y7
	VMOVUPS     Y4, (DI)
	VMOVUPS     Y5, 32(DI)
	VMOVUPS     Y6, 64(DI)
	VMOVUPS     Y7, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         loop32

loop8:
	CMPQ        CX, $8
	JLT         tail
	VMOVUPS     (SI), Y4
	VFMADD213PS (DI), Y0, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         loop8

tail:
	TESTQ       CX, CX
	JEQ         done
	VMOVSS      (SI), X4
	VFMADD213SS (DI), X0, X4
	VMOVSS      X4, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         tail

done:
	VZEROUPPER
	RET

// func sumBytesAVX2(b []byte) uint64
TEXT ·sumBytesAVX2(SB), NOSPLIT, $0-32
	MOVQ   b_base+0(FP), SI
	MOVQ   b_len+8(FP), CX
	VPXOR  Y0, Y0, Y0
	VPXOR  Y1, Y1, Y1
	VPXOR  Y2, Y2, Y2
	VPXOR  Y3, Y3, Y3
	VPXOR  Y15, Y15, Y15

loop128:
	CMPQ    CX, $128
	JLT     reduce
	VPSADBW (SI), Y15, Y4
	VPSADBW 32(SI), Y15, Y5
	VPSADBW 64(SI), Y15, Y6
	VPSADBW 96(SI), Y15, Y7
	VPADDQ  Y4, Y0, Y0
	VPADDQ  Y5, Y1, Y1
	VPADDQ  Y6, Y2, Y2
	VPADDQ  Y7, Y3, Y3
	ADDQ    $128, SI
	SUBQ    $128, CX
	JMP     loop128

reduce:
	VPADDQ       Y1, Y0, Y0
	VPADDQ       Y3, Y2, Y2
	VPADDQ       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX

tail:
	TESTQ   CX, CX
	JEQ     done
	MOVBQZX (SI), DX
	ADDQ    DX, AX
	INCQ    SI
	DECQ    CX
	JMP     tail

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
