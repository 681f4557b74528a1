//go:build !noasm

#include "textflag.h"

// Q8_0 × Q8 tiles on ZMM registers with VPDPBUSD (AVX512-VNNI), two blocks
// (64 values) per instruction. VPDPBUSD multiplies unsigned by signed bytes,
// so each weight byte is flipped to w+128 (XOR 0x80) and the surplus
// 128·Σa is taken back by starting each block's integer sum at the
// activation's correction cz[b] = −16·Σa per lane (8 lanes per block). A
// block's int32 lanes are then converted once, scaled by the activation
// scale and accumulated with the weight scale:
//
//	acc += float(cz + Σ (w+128)·a) · d_a · d_w
//
// Per pair of blocks the scales are spread to [s_b ×8, s_b+1 ×8]: the two
// f16 weight scales by two word broadcasts, the activation scales and
// corrections by VPERMPS/VPERMD with the index in Z27 ([0 ×8, 1 ×8]). An
// odd last block is loaded alone; the upper half then holds zero
// activations, scale and correction, so it adds nothing.
//
// Registers: SI, R8, R9, R10 = the four weight rows; Z16-Z19 = their
// flipped bytes, Z20-Z23 = their spread scales; Z28 = 0x80 bytes; Z29 =
// activation bytes, Z30 = spread corrections, Z31 = spread activation
// scales of the column being done; Z24-Z26 = temporaries; CX = pairs left.

// Prefetch distance ahead of each row (bytes): 512 read DRAM a little
// faster than 1024 or 2048 with two threads on an Emerald Rapids host.
#define ZPFDIST 512

// Weight pair of row P into ZW (flipped) and its spread scales into ZS.
#define WPAIR(P, YW, ZW, XS, XT, YS, ZS) \
	PREFETCHT0    ZPFDIST(P);            \
	VMOVDQU64     2(P), YW;              \
	VINSERTI64X4  $1, 36(P), ZW, ZW;     \
	VPXORD        Z28, ZW, ZW;           \
	VPBROADCASTW  (P), XS;               \
	VPBROADCASTW  34(P), XT;             \
	VINSERTI32X4  $1, XT, YS, YS;        \
	VCVTPH2PS     YS, ZS

// The same for a lone last block.
#define WONE(P, YW, ZW, XS, YS, ZS) \
	VMOVDQU64     2(P), YW;              \
	VPXORD        Z28, ZW, ZW;           \
	VPBROADCASTW  (P), YS;               \
	VCVTPH2PS     YS, ZS

// Activation pair of the column at QA (bytes), DA (scales), CA (corrections).
#define APAIR(QA, DA, CA) \
	VMOVDQU64 QA, Z29;        \
	VMOVQ     DA, X31;        \
	VPERMPS   Z31, Z27, Z31;  \
	VMOVQ     CA, X30;        \
	VPERMD    Z30, Z27, Z30

#define AONE(QA, DA, CA) \
	VMOVDQU64 QA, Y29;        \
	VMOVD     DA, X31;        \
	VPERMPS   Z31, Z27, Z31;  \
	VMOVD     CA, X30;        \
	VPERMD    Z30, Z27, Z30

// ACC += float(Z30 + ZW·Z29) · Z31 · ZS, with temporary T.
#define MAC(ZW, ZS, ACC, T) \
	VMOVDQA64   Z30, T;       \
	VPDPBUSD    Z29, ZW, T;   \
	VCVTDQ2PS   T, T;         \
	VMULPS      Z31, T, T;    \
	VFMADD231PS ZS, T, ACC

// All four rows against the current column.
#define MAC4(A0, A1, A2, A3) \
	MAC(Z16, Z20, A0, Z24); \
	MAC(Z17, Z21, A1, Z25); \
	MAC(Z18, Z22, A2, Z26); \
	MAC(Z19, Z23, A3, Z24)

#define WROWS_PAIR \
	WPAIR(SI, Y16, Z16, X20, X24, Y20, Z20);  \
	WPAIR(R8, Y17, Z17, X21, X25, Y21, Z21);  \
	WPAIR(R9, Y18, Z18, X22, X26, Y22, Z22);  \
	WPAIR(R10, Y19, Z19, X23, X24, Y23, Z23)

#define WROWS_ONE \
	WONE(SI, Y16, Z16, X20, Y20, Z20);  \
	WONE(R8, Y17, Z17, X21, Y21, Z21);  \
	WONE(R9, Y18, Z18, X22, Y22, Z22);  \
	WONE(R10, Y19, Z19, X23, Y23, Z23)

#define ROWS_PROLOGUE \
	MOVQ          w+0(FP), SI;         \
	MOVQ          stride+8(FP), BX;    \
	LEAQ          (SI)(BX*1), R8;      \
	LEAQ          (R8)(BX*1), R9;      \
	LEAQ          (R9)(BX*1), R10;     \
	MOVL          $0x80808080, AX;     \
	VPBROADCASTD  AX, Z28;             \
	VPXORD        Z27, Z27, Z27;       \
	MOVL          $1, AX;              \
	VPBROADCASTD  AX, Y26;             \
	VINSERTI64X4  $1, Y26, Z27, Z27

// Sums the 16 lanes of each of Z(a)..Z(d) (low 16 registers) and stores the
// four totals at OFF(AX).
#define RED4(ZA, YA, XA, ZB, YB, ZC, YC, ZD, YD, XT, OFF) \
	VEXTRACTF64X4 $1, ZA, Y24;  \
	VADDPS        Y24, YA, YA;  \
	VEXTRACTF64X4 $1, ZB, Y25;  \
	VADDPS        Y25, YB, YB;  \
	VEXTRACTF64X4 $1, ZC, Y24;  \
	VADDPS        Y24, YC, YC;  \
	VEXTRACTF64X4 $1, ZD, Y25;  \
	VADDPS        Y25, YD, YD;  \
	VHADDPS       YB, YA, YA;   \
	VHADDPS       YD, YC, YC;   \
	VHADDPS       YC, YA, YA;   \
	VEXTRACTF128  $1, YA, XT;   \
	VADDPS        XT, XA, XA;   \
	VMOVUPS       XA, OFF(AX)

// func q8_0Dot4x1Z(w *byte, stride int, qs *int8, d *float32, cz *int32, nb int, out *[4]float32)
//
// Four rows (row r at w + r·stride) × one column: the batch-1 decode kernel.
TEXT ·q8_0Dot4x1Z(SB), NOSPLIT, $0-56
	ROWS_PROLOGUE
	MOVQ   qs+16(FP), DI
	MOVQ   d+24(FP), DX
	MOVQ   cz+32(FP), R11
	MOVQ   nb+40(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	SHRQ   $1, CX
	JEQ    tail

pairs:
	APAIR((DI), (DX), (R11))
	WROWS_PAIR
	MAC4(Z0, Z1, Z2, Z3)
	ADDQ   $68, SI
	ADDQ   $68, R8
	ADDQ   $68, R9
	ADDQ   $68, R10
	ADDQ   $64, DI
	ADDQ   $8, DX
	ADDQ   $8, R11
	DECQ   CX
	JNE    pairs

tail:
	MOVQ   nb+40(FP), CX
	ANDQ   $1, CX
	JEQ    done
	AONE((DI), (DX), (R11))
	WROWS_ONE
	MAC4(Z0, Z1, Z2, Z3)

done:
	MOVQ out+48(FP), AX
	RED4(Z0, Y0, X0, Z1, Y1, Z2, Y2, Z3, Y3, X1, 0)
	VZEROUPPER
	RET

// func q8_0Dot4x4Z(w *byte, stride int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, nb int, out *[16]float32)
//
// Four rows × four columns (prefill and batched decode): column c's bytes
// at qs + c·qsStride, its scales and corrections at d + c·sStride and
// cz + c·sStride (strides in bytes); out[4c+r]. Z0-Z15 = accumulators,
// column c's in Z(4c)..Z(4c+3).
TEXT ·q8_0Dot4x4Z(SB), NOSPLIT, $0-72
	ROWS_PROLOGUE
	MOVQ   qs+16(FP), DI
	MOVQ   qsStride+24(FP), R12
	MOVQ   d+32(FP), DX
	MOVQ   cz+40(FP), R11
	MOVQ   sStride+48(FP), R13
	LEAQ   (R12)(R12*2), R14
	LEAQ   (R13)(R13*2), BX
	MOVQ   nb+56(FP), CX
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
	SHRQ   $1, CX
	JEQ    tail

pairs:
	WROWS_PAIR
	APAIR((DI), (DX), (R11))
	MAC4(Z0, Z1, Z2, Z3)
	APAIR((DI)(R12*1), (DX)(R13*1), (R11)(R13*1))
	MAC4(Z4, Z5, Z6, Z7)
	APAIR((DI)(R12*2), (DX)(R13*2), (R11)(R13*2))
	MAC4(Z8, Z9, Z10, Z11)
	APAIR((DI)(R14*1), (DX)(BX*1), (R11)(BX*1))
	MAC4(Z12, Z13, Z14, Z15)
	ADDQ   $68, SI
	ADDQ   $68, R8
	ADDQ   $68, R9
	ADDQ   $68, R10
	ADDQ   $64, DI
	ADDQ   $8, DX
	ADDQ   $8, R11
	DECQ   CX
	JNE    pairs

tail:
	MOVQ   nb+56(FP), CX
	ANDQ   $1, CX
	JEQ    done
	WROWS_ONE
	AONE((DI), (DX), (R11))
	MAC4(Z0, Z1, Z2, Z3)
	AONE((DI)(R12*1), (DX)(R13*1), (R11)(R13*1))
	MAC4(Z4, Z5, Z6, Z7)
	AONE((DI)(R12*2), (DX)(R13*2), (R11)(R13*2))
	MAC4(Z8, Z9, Z10, Z11)
	AONE((DI)(R14*1), (DX)(BX*1), (R11)(BX*1))
	MAC4(Z12, Z13, Z14, Z15)

done:
	MOVQ out+64(FP), AX
	RED4(Z0, Y0, X0, Z1, Y1, Z2, Y2, Z3, Y3, X1, 0)
	RED4(Z4, Y4, X4, Z5, Y5, Z6, Y6, Z7, Y7, X5, 16)
	RED4(Z8, Y8, X8, Z9, Y9, Z10, Y10, Z11, Y11, X9, 32)
	RED4(Z12, Y12, X12, Z13, Y13, Z14, Y14, Z15, Y15, X13, 48)
	VZEROUPPER
	RET
