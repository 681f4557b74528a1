//go:build !noasm

#include "textflag.h"

// AMX kernels (Intel Advanced Matrix Extensions: AMX-TILE, AMX-INT8). Go's
// assembler has no AMX mnemonics, so each AMX instruction is spelled out
// as its bytes (VEX-encoded, checked against GNU as), with the instruction
// in a comment; every tile program lives inside one function, which the Go
// scheduler never preempts, and ends with TILERELEASE. The tile state is
// requested from the kernel once (amx_linux_amd64.go).

// The tile configuration (LDTILECFG's 64 bytes): palette 1; colsb (bytes
// per row, uint16 each) from byte 16, rows (one byte each) from byte 48.
//
//	tmm0  C  16 rows × 64 bytes: row m = column m's 16 int32 row sums
//	tmm1  A  16 rows × 32 bytes: row m = column m's 32 activations
//	tmm2  B   8 rows × 64 bytes: a Q8_0×16 block's eight lines
DATA amxQ8Cfg<>+0(SB)/8, $1
DATA amxQ8Cfg<>+8(SB)/8, $0
DATA amxQ8Cfg<>+16(SB)/8, $0x0000004000200040
DATA amxQ8Cfg<>+24(SB)/8, $0
DATA amxQ8Cfg<>+32(SB)/8, $0
DATA amxQ8Cfg<>+40(SB)/8, $0
DATA amxQ8Cfg<>+48(SB)/8, $0x0000000000081010
DATA amxQ8Cfg<>+56(SB)/8, $0
GLOBL amxQ8Cfg<>(SB), RODATA|NOPTR, $64

#define LDTILECFG_DX        BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x02
#define TILEZERO_T0         BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0
#define TILELOADD_T1_DI_BX  BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x0c; BYTE $0x1f
#define TILELOADD_T2_SI_AX  BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x06
#define TDPBSSD_T0_T1_T2    BYTE $0xc4; BYTE $0xe2; BYTE $0x6b; BYTE $0x5e; BYTE $0xc1
#define TILESTORED_CX_AX_T0 BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x01
#define TILERELEASE         BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0

// Column C's block sums (row C of the stored C tile at CX), scaled by the
// weights' scales (Z16) times the column's (at R13), into accumulator ACC:
// ACC += float(isum)·(d_w·d_a), rounded as the VNNI kernels round it
// (q8_0x16_amd64.s), so that a column gets the same bits in a 16-column
// tile as alone. (Scaling by d_w first, then d_a, rounded differently:
// TestBackendX16TilesExact.)
#define AMX_Q8_COL(C, ACC) \
	VCVTDQ2PS   (64*C)(CX), Z17; \
	VMULPS.BCST (R13), Z16, Z18;  \
	VFMADD231PS Z18, Z17, ACC;    \
	ADDQ        R10, R13

// func q8_0Tile16x16AMX(w *byte, nb int, qs *int8, qsStride int, d *float32, sStride int, out *[256]float32)
//
// Sixteen rows of a Q8_0×16 group (nb blocks a row, at w; layout in
// q8_0x16.go) × sixteen columns of activations in 32-value blocks, column
// c's quants at qs + c·qsStride and scales at d + c·sStride (bytes);
// out[16c+r]. Per block: C = A·B by one TDPBSSD (signed × signed, so no
// correction), C stored to the stack, and each column's row sums scaled by
// d_w·d_a into its accumulator Z0..Z15. (AMX-TILE, AMX-INT8, AVX512F)
//
// Registers: R8 = block scales, SI = block lines (B), DI = the block's
// activations of column 0 (A), BX = their stride, AX = 64 (B's and C's
// stride), CX = the stored C tile, R9 = column 0's scale for the block,
// R13 = column c's, R10 = their stride, R11 = blocks left.
TEXT ·q8_0Tile16x16AMX(SB), 0, $1024-56
	MOVQ w+0(FP), R8
	MOVQ nb+8(FP), R11
	MOVQ qs+16(FP), DI
	MOVQ qsStride+24(FP), BX
	MOVQ d+32(FP), R9
	MOVQ sStride+40(FP), R10
	MOVQ out+48(FP), R12

	MOVQ R11, SI
	SHLQ $5, SI
	ADDQ R8, SI
	MOVQ $64, AX
	MOVQ SP, CX
	LEAQ amxQ8Cfg<>(SB), DX
	LDTILECFG_DX

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

block:
	TILEZERO_T0
	TILELOADD_T1_DI_BX
	TILELOADD_T2_SI_AX
	TDPBSSD_T0_T1_T2
	TILESTORED_CX_AX_T0
	VCVTPH2PS (R8), Z16
	MOVQ      R9, R13
	AMX_Q8_COL(0, Z0)
	AMX_Q8_COL(1, Z1)
	AMX_Q8_COL(2, Z2)
	AMX_Q8_COL(3, Z3)
	AMX_Q8_COL(4, Z4)
	AMX_Q8_COL(5, Z5)
	AMX_Q8_COL(6, Z6)
	AMX_Q8_COL(7, Z7)
	AMX_Q8_COL(8, Z8)
	AMX_Q8_COL(9, Z9)
	AMX_Q8_COL(10, Z10)
	AMX_Q8_COL(11, Z11)
	AMX_Q8_COL(12, Z12)
	AMX_Q8_COL(13, Z13)
	AMX_Q8_COL(14, Z14)
	AMX_Q8_COL(15, Z15)
	ADDQ      $32, R8
	ADDQ      $512, SI
	ADDQ      $32, DI
	ADDQ      $4, R9
	DECQ      R11
	JNZ       block

	TILERELEASE
	VMOVUPS Z0, (R12)
	VMOVUPS Z1, 64(R12)
	VMOVUPS Z2, 128(R12)
	VMOVUPS Z3, 192(R12)
	VMOVUPS Z4, 256(R12)
	VMOVUPS Z5, 320(R12)
	VMOVUPS Z6, 384(R12)
	VMOVUPS Z7, 448(R12)
	VMOVUPS Z8, 512(R12)
	VMOVUPS Z9, 576(R12)
	VMOVUPS Z10, 640(R12)
	VMOVUPS Z11, 704(R12)
	VMOVUPS Z12, 768(R12)
	VMOVUPS Z13, 832(R12)
	VMOVUPS Z14, 896(R12)
	VMOVUPS Z15, 960(R12)
	VZEROUPPER
	RET

// func xgetbv0() (eax, edx uint32)
//
// XCR0, the state components the OS saves and restores. (OSXSAVE)
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	BYTE $0x0f; BYTE $0x01; BYTE $0xd0 // XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
