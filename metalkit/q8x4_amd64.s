//go:build !noasm

#include "textflag.h"

// One weight row × four activation columns (prefill and batched decode):
// the row's block is loaded, made absolute and its scale converted once, then
// used for four columns. Column c's quants are at DI + c·R8 and its scales
// at DX + c·R9 (R10 = 3·R8, R11 = 3·R9). Y0-Y3 = per-column accumulators,
// Y6 = w, Y7 = |w|, Y11 = d_w, Y15 = int16 ones.

#define X4_PROLOGUE \
	MOVQ     w+0(FP), SI;         \
	MOVQ     qs+8(FP), DI;        \
	MOVQ     qsStride+16(FP), R8; \
	MOVQ     d+24(FP), DX;        \
	MOVQ     dStride+32(FP), R9;  \
	MOVQ     nb+40(FP), CX;       \
	LEAQ     (R8)(R8*2), R10;     \
	LEAQ     (R9)(R9*2), R11;     \
	VXORPS   Y0, Y0, Y0;          \
	VXORPS   Y1, Y1, Y1;          \
	VXORPS   Y2, Y2, Y2;          \
	VXORPS   Y3, Y3, Y3;          \
	VPCMPEQW Y15, Y15, Y15;       \
	VPSRLW   $15, Y15, Y15

#define X4_EPILOGUE \
	VHADDPS      Y1, Y0, Y0;     \
	VHADDPS      Y3, Y2, Y2;     \
	VHADDPS      Y2, Y0, Y0;     \
	VEXTRACTF128 $1, Y0, X1;     \
	VADDPS       X1, X0, X0;     \
	MOVQ         out+48(FP), AX; \
	VMOVUPS      X0, (AX);       \
	VZEROUPPER;                  \
	RET

// d_w of the block at SI, broadcast to Y11
#define X4_WSCALE \
	MOVWLZX      (SI), AX;   \
	VMOVD        AX, X11;    \
	VCVTPH2PS    X11, X11;   \
	VBROADCASTSS X11, Y11

#define X4_COL_AVX2(QP, DP, ACC) \
	VMOVDQU      QP, Y8;       \
	VPSIGNB      Y6, Y8, Y8;   \
	VPMADDUBSW   Y8, Y7, Y8;   \
	VPMADDWD     Y15, Y8, Y8;  \
	VCVTDQ2PS    Y8, Y8;       \
	VBROADCASTSS DP, Y9;       \
	VMULPS       Y11, Y9, Y9;  \
	VFMADD231PS  Y9, Y8, ACC

#define X4_COL_VNNI(QP, DP, ACC) \
	VMOVDQU      QP, Y8;       \
	VPSIGNB      Y6, Y8, Y8;   \
	VPXOR        Y12, Y12, Y12; \
	VPDPBUSD     Y8, Y7, Y12;  \
	VCVTDQ2PS    Y12, Y12;     \
	VBROADCASTSS DP, Y9;       \
	VMULPS       Y11, Y9, Y9;  \
	VFMADD231PS  Y9, Y12, ACC

#define X4_COLS_AVX2 \
	X4_COL_AVX2((DI), (DX), Y0);             \
	X4_COL_AVX2((DI)(R8*1), (DX)(R9*1), Y1); \
	X4_COL_AVX2((DI)(R8*2), (DX)(R9*2), Y2); \
	X4_COL_AVX2((DI)(R10*1), (DX)(R11*1), Y3)

#define X4_COLS_VNNI \
	X4_COL_VNNI((DI), (DX), Y0);             \
	X4_COL_VNNI((DI)(R8*1), (DX)(R9*1), Y1); \
	X4_COL_VNNI((DI)(R8*2), (DX)(R9*2), Y2); \
	X4_COL_VNNI((DI)(R10*1), (DX)(R11*1), Y3)


#define X4_NEXT(BYTES) \
	ADDQ $BYTES, SI; \
	ADDQ $32, DI;    \
	ADDQ $4, DX;     \
	DECQ CX

// Q4_0 block at SI → signed values −8..7 in Y6 (Y14 = 0x0F, Y13 = 0x08).
#define X4_Q4LOAD \
	VMOVDQU     2(SI), X6;      \
	VPSRLW      $4, X6, X7;     \
	VINSERTI128 $1, X7, Y6, Y6; \
	VPAND       Y14, Y6, Y6;    \
	VPSUBB      Y13, Y6, Y6;    \
	VPSIGNB     Y6, Y6, Y7

#define X4_Q4CONSTS \
	MOVL         $0x0f0f0f0f, AX; \
	VMOVD        AX, X14;         \
	VPBROADCASTD X14, Y14;        \
	MOVL         $0x08080808, AX; \
	VMOVD        AX, X13;         \
	VPBROADCASTD X13, Y13

// func q8_0Dot1x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)
TEXT ·q8_0Dot1x4AVX2(SB), NOSPLIT, $0-56
	X4_PROLOGUE

loop:
	TESTQ   CX, CX
	JEQ     done
	VMOVDQU 2(SI), Y6
	VPSIGNB Y6, Y6, Y7
	X4_WSCALE
	X4_COLS_AVX2
	X4_NEXT(34)
	JMP     loop

done:
	X4_EPILOGUE

// func q8_0Dot1x4VNNI(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)
TEXT ·q8_0Dot1x4VNNI(SB), NOSPLIT, $0-56
	X4_PROLOGUE

loop:
	TESTQ   CX, CX
	JEQ     done
	VMOVDQU 2(SI), Y6
	VPSIGNB Y6, Y6, Y7
	X4_WSCALE
	X4_COLS_VNNI
	X4_NEXT(34)
	JMP     loop

done:
	X4_EPILOGUE

// func q4_0Dot1x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)
TEXT ·q4_0Dot1x4AVX2(SB), NOSPLIT, $0-56
	X4_PROLOGUE
	X4_Q4CONSTS

loop:
	TESTQ CX, CX
	JEQ   done
	X4_Q4LOAD
	X4_WSCALE
	X4_COLS_AVX2
	X4_NEXT(18)
	JMP   loop

done:
	X4_EPILOGUE

// func q4_0Dot1x4VNNI(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)
TEXT ·q4_0Dot1x4VNNI(SB), NOSPLIT, $0-56
	X4_PROLOGUE
	X4_Q4CONSTS

loop:
	TESTQ CX, CX
	JEQ   done
	X4_Q4LOAD
	X4_WSCALE
	X4_COLS_VNNI
	X4_NEXT(18)
	JMP   loop

done:
	X4_EPILOGUE
