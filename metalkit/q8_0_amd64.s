//go:build !noasm

#include "textflag.h"

// Q8_0 × Q8 dots, four weight rows per pass sharing each activation block.
// Registers: SI, R8, R9, R10 = the four rows; DI = activation qs; DX =
// activation scales; CX = blocks left; Y0-Y3 = per-row f32 accumulators;
// Y4 = activation block; X5 = its scale; Y15 = int16 ones.

// Software prefetch distance ahead of each row: DRAM latency is hidden
// better than by the hardware prefetcher alone with four interleaved rows.
#define PFDIST 640

// Signed×signed bytes with VPMADDUBSW (unsigned×signed): |w| × (y·sign(w)).
#define Q8ROW_AVX2(P, ACC) \
	PREFETCHT0   PFDIST(P);    \
	VMOVDQU      2(P), Y6;     \
	VPSIGNB      Y6, Y6, Y7;   \
	VPSIGNB      Y6, Y4, Y8;   \
	VPMADDUBSW   Y8, Y7, Y9;   \
	VPMADDWD     Y15, Y9, Y9;  \
	VCVTDQ2PS    Y9, Y9;       \
	MOVWLZX      (P), AX;      \
	VMOVD        AX, X10;      \
	VCVTPH2PS    X10, X10;     \
	VMULSS       X5, X10, X10; \
	VBROADCASTSS X10, Y10;     \
	VFMADD231PS  Y10, Y9, ACC; \
	ADDQ         $34, P

// The same with one VPDPBUSD (AVX512-VNNI on YMM) for the byte products.
#define Q8ROW_VNNI(P, ACC) \
	PREFETCHT0   PFDIST(P);    \
	VMOVDQU      2(P), Y6;     \
	VPSIGNB      Y6, Y6, Y7;   \
	VPSIGNB      Y6, Y4, Y8;   \
	VPXOR        Y9, Y9, Y9;   \
	VPDPBUSD     Y8, Y7, Y9;   \
	VCVTDQ2PS    Y9, Y9;       \
	MOVWLZX      (P), AX;      \
	VMOVD        AX, X10;      \
	VCVTPH2PS    X10, X10;     \
	VMULSS       X5, X10, X10; \
	VBROADCASTSS X10, Y10;     \
	VFMADD231PS  Y10, Y9, ACC; \
	ADDQ         $34, P

#define DOT4_PROLOGUE \
	MOVQ     w+0(FP), SI;          \
	MOVQ     stride+8(FP), BX;     \
	MOVQ     qs+16(FP), DI;        \
	MOVQ     d+24(FP), DX;         \
	MOVQ     nb+32(FP), CX;        \
	LEAQ     (SI)(BX*1), R8;       \
	LEAQ     (R8)(BX*1), R9;       \
	LEAQ     (R9)(BX*1), R10;      \
	VXORPS   Y0, Y0, Y0;           \
	VXORPS   Y1, Y1, Y1;           \
	VXORPS   Y2, Y2, Y2;           \
	VXORPS   Y3, Y3, Y3;           \
	VPCMPEQW Y15, Y15, Y15;        \
	VPSRLW   $15, Y15, Y15

// Sums each of Y0..Y3 and stores the four totals to out.
#define DOT4_EPILOGUE \
	VHADDPS      Y1, Y0, Y0; \
	VHADDPS      Y3, Y2, Y2; \
	VHADDPS      Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	MOVQ         out+40(FP), AX; \
	VMOVUPS      X0, (AX);   \
	VZEROUPPER;              \
	RET

// func q8_0Dot4AVX2(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)
TEXT ·q8_0Dot4AVX2(SB), NOSPLIT, $0-48
	DOT4_PROLOGUE

loop:
	TESTQ   CX, CX
	JEQ     done
	VMOVDQU (DI), Y4
	VMOVSS  (DX), X5
	Q8ROW_AVX2(SI, Y0)
	Q8ROW_AVX2(R8, Y1)
	Q8ROW_AVX2(R9, Y2)
	Q8ROW_AVX2(R10, Y3)
	ADDQ    $32, DI
	ADDQ    $4, DX
	DECQ    CX
	JMP     loop

done:
	DOT4_EPILOGUE

// func q8_0Dot4VNNI(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)
TEXT ·q8_0Dot4VNNI(SB), NOSPLIT, $0-48
	DOT4_PROLOGUE

loop:
	TESTQ   CX, CX
	JEQ     done
	VMOVDQU (DI), Y4
	VMOVSS  (DX), X5
	Q8ROW_VNNI(SI, Y0)
	Q8ROW_VNNI(R8, Y1)
	Q8ROW_VNNI(R9, Y2)
	Q8ROW_VNNI(R10, Y3)
	ADDQ    $32, DI
	ADDQ    $4, DX
	DECQ    CX
	JMP     loop

done:
	DOT4_EPILOGUE

// Q4_0 rows: 16 bytes of nibbles widen to 32 values 0..15 (low nibbles in
// the low lane, high nibbles in the high lane); Y14 = 0x0F bytes, Y13 =
// 0x08 bytes.
#define Q4UNPACK(P) \
	PREFETCHT0  PFDIST(P);      \
	VMOVDQU     2(P), X6;       \
	VPSRLW      $4, X6, X7;     \
	VINSERTI128 $1, X7, Y6, Y6; \
	VPAND       Y14, Y6, Y6

#define Q4SCALE(P, ACC) \
	VCVTDQ2PS    Y9, Y9;       \
	MOVWLZX      (P), AX;      \
	VMOVD        AX, X10;      \
	VCVTPH2PS    X10, X10;     \
	VMULSS       X5, X10, X10; \
	VBROADCASTSS X10, Y10;     \
	VFMADD231PS  Y10, Y9, ACC; \
	ADDQ         $18, P

#define Q4ROW_AVX2(P, ACC) \
	Q4UNPACK(P);              \
	VPSUBB     Y13, Y6, Y6;   \
	VPSIGNB    Y6, Y6, Y7;    \
	VPSIGNB    Y6, Y4, Y8;    \
	VPMADDUBSW Y8, Y7, Y9;    \
	VPMADDWD   Y15, Y9, Y9;   \
	Q4SCALE(P, ACC)

// VNNI: Σ(q−8)·y = Σq·y − 8·Σy; Y11 holds −8·Σy for the block.
#define Q4ROW_VNNI(P, ACC) \
	Q4UNPACK(P);            \
	VMOVDQU  Y11, Y9;       \
	VPDPBUSD Y4, Y6, Y9;    \
	Q4SCALE(P, ACC)

#define Q4CONSTS \
	MOVL         $0x0f0f0f0f, AX; \
	VMOVD        AX, X14;         \
	VPBROADCASTD X14, Y14;        \
	MOVL         $0x08080808, AX; \
	VMOVD        AX, X13;         \
	VPBROADCASTD X13, Y13;        \
	VPXOR        Y12, Y12, Y12

// func q4_0Dot4AVX2(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)
TEXT ·q4_0Dot4AVX2(SB), NOSPLIT, $0-48
	DOT4_PROLOGUE
	Q4CONSTS

loop:
	TESTQ   CX, CX
	JEQ     done
	VMOVDQU (DI), Y4
	VMOVSS  (DX), X5
	Q4ROW_AVX2(SI, Y0)
	Q4ROW_AVX2(R8, Y1)
	Q4ROW_AVX2(R9, Y2)
	Q4ROW_AVX2(R10, Y3)
	ADDQ    $32, DI
	ADDQ    $4, DX
	DECQ    CX
	JMP     loop

done:
	DOT4_EPILOGUE

// func q4_0Dot4VNNI(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)
TEXT ·q4_0Dot4VNNI(SB), NOSPLIT, $0-48
	DOT4_PROLOGUE
	Q4CONSTS

loop:
	TESTQ    CX, CX
	JEQ      done
	VMOVDQU  (DI), Y4
	VMOVSS   (DX), X5
	VPXOR    Y11, Y11, Y11
	VPDPBUSD Y4, Y13, Y11
	VPSUBD   Y11, Y12, Y11
	Q4ROW_VNNI(SI, Y0)
	Q4ROW_VNNI(R8, Y1)
	Q4ROW_VNNI(R9, Y2)
	Q4ROW_VNNI(R10, Y3)
	ADDQ     $32, DI
	ADDQ     $4, DX
	DECQ     CX
	JMP      loop

done:
	DOT4_EPILOGUE
