//go:build !noasm

#include "textflag.h"

// Read loops for the bandwidth probe (bandwidth.go): each reads every byte
// of p[:n] (n a positive multiple of 256) once, with as little work per
// byte as a kernel could do, and software-prefetches ahead bytes ahead (0:
// the line being read, which costs nothing). The xor of all the data is
// returned only so that the loads have a use.

// func readZ(p *byte, n int, ahead int) uint64
TEXT ·readZ(SB), NOSPLIT, $0-32
	MOVQ   p+0(FP), SI
	MOVQ   n+8(FP), CX
	MOVQ   ahead+16(FP), DX
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3

loop:
	PREFETCHT0 (SI)(DX*1)
	PREFETCHT0 64(SI)(DX*1)
	PREFETCHT0 128(SI)(DX*1)
	PREFETCHT0 192(SI)(DX*1)
	VPXORQ     (SI), Z0, Z0
	VPXORQ     64(SI), Z1, Z1
	VPXORQ     128(SI), Z2, Z2
	VPXORQ     192(SI), Z3, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JNZ        loop

	VPXORQ        Z1, Z0, Z0
	VPXORQ        Z3, Z2, Z2
	VPXORQ        Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPXOR         Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPXOR         X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPXOR         X1, X0, X0
	VMOVQ         X0, AX
	VZEROUPPER
	MOVQ          AX, ret+24(FP)
	RET

// func readY(p *byte, n int, ahead int) uint64
TEXT ·readY(SB), NOSPLIT, $0-32
	MOVQ  p+0(FP), SI
	MOVQ  n+8(FP), CX
	MOVQ  ahead+16(FP), DX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3

loop:
	PREFETCHT0 (SI)(DX*1)
	PREFETCHT0 64(SI)(DX*1)
	PREFETCHT0 128(SI)(DX*1)
	PREFETCHT0 192(SI)(DX*1)
	VPXOR      (SI), Y0, Y0
	VPXOR      32(SI), Y1, Y1
	VPXOR      64(SI), Y2, Y2
	VPXOR      96(SI), Y3, Y3
	VPXOR      128(SI), Y0, Y0
	VPXOR      160(SI), Y1, Y1
	VPXOR      192(SI), Y2, Y2
	VPXOR      224(SI), Y3, Y3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JNZ        loop

	VPXOR        Y1, Y0, Y0
	VPXOR        Y3, Y2, Y2
	VPXOR        Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPXOR        X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPXOR        X1, X0, X0
	VMOVQ        X0, AX
	VZEROUPPER
	MOVQ         AX, ret+24(FP)
	RET
