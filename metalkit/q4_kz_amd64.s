//go:build !noasm

#include "textflag.h"

// Q4_K × Q8_K dots on ZMM registers (AVX512BW+VNNI), the sums of
// q4KDotAVX2. Each 32-byte chunk j of nibbles is broadcast to both halves
// of a ZMM and shifted by 0 in the lower half and 4 in the upper (VPSRLVW),
// so one register holds sub-blocks 2j and 2j+1 in the order the
// activations already have; VPMADDUBSW makes int16 pair sums, and VPDPWSSD
// multiplies them by the sub-blocks' 6-bit scales (spread by VPERMW to
// [a_2j ×16, a_2j+1 ×16]) and accumulates int32. The scales and mins are
// unpacked in general registers as in q4KDotAVX2; the mins dot the
// activations' 32-value sums. Constants: 0x0F bytes, the word shifts [0
// ×16, 4 ×16], and four VPERMW indices.

// Z(dst) = words [lo ×16, hi ×16]
#define SPREAD_WORDS(LO, HI, DST) \
	MOVL          $LO, AX;          \
	VPBROADCASTW  AX, Y24;          \
	MOVL          $HI, AX;          \
	VPBROADCASTW  AX, Y25;          \
	VINSERTI64X4  $1, Y25, Z24, DST

// func q4KDot1x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[4]float32)
//
// One Q4_K row × four activation columns (prefill): each super-block's
// nibbles and scales are unpacked once and used for all four. Column c's
// quants are at qs + c·qsStride, its scales at d + c·dStride and its
// 32-value sums at bs32 + 4c·dStride (bytes; actBuf's layout).
//
// Registers: SI = block, DI = column 0's quants, DX = column 0's scales,
// R14 = column 0's bsums, R11 = qsStride, R13 = dStride, CX = blocks left;
// per column c, R12 = its quants and R10 = c·dStride. Z0-Z3 = f32
// accumulators (d part), X4-X7 = f32 accumulators (min part), Z24-Z27 =
// the block's nibbles by chunk, Z16-Z19 = spread scales, X8 = mins as
// words, Z12 = d_w, X15 = dmin_w; Z20 = 0x0F bytes, Z21 = word shifts,
// Z28-Z31 = VPERMW indices; Z9-Z11, X13 = temporaries.

#define Q4KX4_NIBBLES(J, ZN) \
	VBROADCASTI64X4 (16+32*J)(SI), ZN; \
	VPSRLVW         Z21, ZN, ZN;       \
	VPANDD          Z20, ZN, ZN

// Column at R12/R10 into ACC (d part) and MACC (min part).
#define Q4KX4_COL(ACC, MACC) \
	VPXORD       Z9, Z9, Z9;           \
	VPMADDUBSW   (R12), Z24, Z10;      \
	VPDPWSSD     Z16, Z10, Z9;         \
	VPMADDUBSW   64(R12), Z25, Z10;    \
	VPDPWSSD     Z17, Z10, Z9;         \
	VPMADDUBSW   128(R12), Z26, Z10;   \
	VPDPWSSD     Z18, Z10, Z9;         \
	VPMADDUBSW   192(R12), Z27, Z10;   \
	VPDPWSSD     Z19, Z10, Z9;         \
	VCVTDQ2PS    Z9, Z9;               \
	VBROADCASTSS (DX)(R10*1), Z11;     \
	VMULPS       Z12, Z11, Z10;        \
	VFMADD231PS  Z10, Z9, ACC;         \
	VPMADDWD     (R14)(R10*4), X8, X9; \
	VCVTDQ2PS    X9, X9;               \
	VMULPS       X15, X11, X13;        \
	VFMADD231PS  X13, X9, MACC;        \
	ADDQ         R11, R12;             \
	ADDQ         R13, R10

TEXT ·q4KDot1x4Z(SB), NOSPLIT, $0-64
	MOVQ         w+0(FP), SI
	MOVQ         qs+8(FP), DI
	MOVQ         qsStride+16(FP), R11
	MOVQ         d+24(FP), DX
	MOVQ         dStride+32(FP), R13
	MOVQ         bs32+40(FP), R14
	MOVQ         nb+48(FP), CX
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	VXORPS       X4, X4, X4
	VXORPS       X5, X5, X5
	VXORPS       X6, X6, X6
	VXORPS       X7, X7, X7
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z20
	SPREAD_WORDS(0, 4, Z21)
	SPREAD_WORDS(0, 1, Z28)
	SPREAD_WORDS(2, 3, Z29)
	SPREAD_WORDS(4, 5, Z30)
	SPREAD_WORDS(6, 7, Z31)

loop4:
	TESTQ CX, CX
	JEQ   done4

	// Z12 = d_w, X15 = dmin_w (broadcast)
	MOVL         (SI), AX
	VMOVD        AX, X9
	VCVTPH2PS    X9, X9
	VBROADCASTSS X9, Z12
	VMOVSHDUP    X9, X15
	VBROADCASTSS X15, X15

	// Unpack scales (AX:R8) and mins (BX:R9) as in q4KDotAVX2.
	MOVL 4(SI), R8
	MOVL 8(SI), R9
	MOVL 12(SI), R10
	MOVL R10, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R8, BX
	SHRL $6, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL  BX, AX
	MOVL R10, BX
	SHRL $4, BX
	ANDL $0x0f0f0f0f, BX
	MOVL R9, R12
	SHRL $6, R12
	ANDL $0x03030303, R12
	SHLL $4, R12
	ORL  R12, BX
	ANDL $0x3f3f3f3f, R8
	ANDL $0x3f3f3f3f, R9
	SHLQ $32, AX
	ORQ  R8, AX
	SHLQ $32, BX
	ORQ  R9, BX

	VMOVQ     BX, X8
	VPMOVZXBW X8, X8
	VMOVQ     AX, X9
	VPMOVZXBW X9, X9
	VPERMW    Z9, Z28, Z16
	VPERMW    Z9, Z29, Z17
	VPERMW    Z9, Z30, Z18
	VPERMW    Z9, Z31, Z19

	Q4KX4_NIBBLES(0, Z24)
	Q4KX4_NIBBLES(1, Z25)
	Q4KX4_NIBBLES(2, Z26)
	Q4KX4_NIBBLES(3, Z27)

	MOVQ DI, R12
	XORQ R10, R10
	Q4KX4_COL(Z0, X4)
	Q4KX4_COL(Z1, X5)
	Q4KX4_COL(Z2, X6)
	Q4KX4_COL(Z3, X7)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R14
	DECQ CX
	JMP  loop4

done4:
	VEXTRACTF64X4 $1, Z0, Y9
	VADDPS        Y9, Y0, Y0
	VEXTRACTF128  $1, Y0, X9
	VADDPS        X9, X0, X0
	VSUBPS        X4, X0, X0
	VEXTRACTF64X4 $1, Z1, Y9
	VADDPS        Y9, Y1, Y1
	VEXTRACTF128  $1, Y1, X9
	VADDPS        X9, X1, X1
	VSUBPS        X5, X1, X1
	VEXTRACTF64X4 $1, Z2, Y9
	VADDPS        Y9, Y2, Y2
	VEXTRACTF128  $1, Y2, X9
	VADDPS        X9, X2, X2
	VSUBPS        X6, X2, X2
	VEXTRACTF64X4 $1, Z3, Y9
	VADDPS        Y9, Y3, Y3
	VEXTRACTF128  $1, Y3, X9
	VADDPS        X9, X3, X3
	VSUBPS        X7, X3, X3
	VHADDPS       X1, X0, X0
	VHADDPS       X3, X2, X2
	VHADDPS       X2, X0, X0
	MOVQ          out+56(FP), AX
	VMOVUPS       X0, (AX)
	VZEROUPPER
	RET

// func q4KDot4Z(w *byte, stride int, qs *int8, d *float32, bs32 *int16, nb int, out *[4]float32)
//
// Four Q4_K rows (row r at w + r·stride) against one activation column,
// the batch-1 decode kernel: the sums above with each super-block's
// activations loaded once for the four rows, and four weight streams in
// flight with software prefetch into L2 (PREFETCHT1, 1.5 KB ahead: on an
// Emerald Rapids host this beat 384 and 768 bytes into L1), so DRAM latency
// overlaps the unpacking.
//
// Registers: SI, R8, R9, R10 = rows; DI = activations, DX = activation
// scales, R11 = bsums32, 0(SP) = blocks left (CX is an unpacking
// temporary); Z0-Z3 = f32 accumulators (d part), X4-X7 = f32 accumulators
// (min part); Z24-Z27 = the block's activations by chunk, X31 = their
// scale; Z28 = a row's int32 sum, Z29 = nibbles; Z12 = d·dy, X13 =
// dmin·dy; X8-X11 temporaries; constants as in q4KDotAVX2.

#define Q4K4PF 1536

// Unpack row P's scales into AX (8 bytes) and mins into BX (8 bytes).
#define Q4K_UNPACK(P) \
	MOVL 4(P), R12;          \
	MOVL 8(P), R13;          \
	MOVL 12(P), R14;         \
	MOVL R14, AX;            \
	ANDL $0x0f0f0f0f, AX;    \
	MOVL R12, BX;            \
	SHRL $6, BX;             \
	ANDL $0x03030303, BX;    \
	SHLL $4, BX;             \
	ORL  BX, AX;             \
	MOVL R14, BX;            \
	SHRL $4, BX;             \
	ANDL $0x0f0f0f0f, BX;    \
	MOVL R13, CX;            \
	SHRL $6, CX;             \
	ANDL $0x03030303, CX;    \
	SHLL $4, CX;             \
	ORL  CX, BX;             \
	ANDL $0x3f3f3f3f, R12;   \
	ANDL $0x3f3f3f3f, R13;   \
	SHLQ $32, AX;            \
	ORQ  R12, AX;            \
	SHLQ $32, BX;            \
	ORQ  R13, BX

#define Q4K4_ROW(P, ACC, MACC) \
	PREFETCHT1   Q4K4PF(P);                   \
	PREFETCHT1   (Q4K4PF+64)(P);              \
	PREFETCHT1   (Q4K4PF+128)(P);             \
	MOVL         (P), AX;                     \
	VMOVD        AX, X8;                      \
	VCVTPH2PS    X8, X8;                      \
	VMULPS       X31, X8, X8;                 \
	VBROADCASTSS X8, Z12;                     \
	VMOVSHDUP    X8, X13;                     \
	VBROADCASTSS X13, X13;                    \
	Q4K_UNPACK(P);                            \
	VMOVQ        BX, X9;                      \
	VPMOVZXBW    X9, X9;                      \
	VPMADDWD     (R11), X9, X9;               \
	VCVTDQ2PS    X9, X9;                      \
	VFMADD231PS  X13, X9, MACC;               \
	VMOVQ        AX, X10;                     \
	VPMOVZXBW    X10, X10;                    \
	VPERMW       Z10, Z20, Z16;               \
	VPERMW       Z10, Z21, Z17;               \
	VPERMW       Z10, Z22, Z18;               \
	VPERMW       Z10, Z23, Z19;               \
	VPXORD       Z28, Z28, Z28;               \
	VBROADCASTI64X4 16(P), Z29;               \
	VPSRLVW      Z15, Z29, Z29;               \
	VPANDD       Z14, Z29, Z29;               \
	VPMADDUBSW   Z24, Z29, Z29;               \
	VPDPWSSD     Z16, Z29, Z28;               \
	VBROADCASTI64X4 48(P), Z29;               \
	VPSRLVW      Z15, Z29, Z29;               \
	VPANDD       Z14, Z29, Z29;               \
	VPMADDUBSW   Z25, Z29, Z29;               \
	VPDPWSSD     Z17, Z29, Z28;               \
	VBROADCASTI64X4 80(P), Z29;               \
	VPSRLVW      Z15, Z29, Z29;               \
	VPANDD       Z14, Z29, Z29;               \
	VPMADDUBSW   Z26, Z29, Z29;               \
	VPDPWSSD     Z18, Z29, Z28;               \
	VBROADCASTI64X4 112(P), Z29;              \
	VPSRLVW      Z15, Z29, Z29;               \
	VPANDD       Z14, Z29, Z29;               \
	VPMADDUBSW   Z27, Z29, Z29;               \
	VPDPWSSD     Z19, Z29, Z28;               \
	VCVTDQ2PS    Z28, Z28;                    \
	VFMADD231PS  Z12, Z28, ACC;               \
	ADDQ         $144, P

// Z0..Z3 minus X4..X7 summed per row into out.
#define Q4K4_RED(ZA, YA, XA, XM) \
	VEXTRACTF64X4 $1, ZA, Y8; \
	VADDPS        Y8, YA, YA; \
	VEXTRACTF128  $1, YA, X8; \
	VADDPS        X8, XA, XA; \
	VSUBPS        XM, XA, XA

TEXT ·q4KDot4Z(SB), NOSPLIT, $8-56
	MOVQ         w+0(FP), SI
	MOVQ         stride+8(FP), BX
	LEAQ         (SI)(BX*1), R8
	LEAQ         (R8)(BX*1), R9
	LEAQ         (R9)(BX*1), R10
	MOVQ         qs+16(FP), DI
	MOVQ         d+24(FP), DX
	MOVQ         bs32+32(FP), R11
	MOVQ         nb+40(FP), CX
	MOVQ         CX, 0(SP)
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	VXORPS       X4, X4, X4
	VXORPS       X5, X5, X5
	VXORPS       X6, X6, X6
	VXORPS       X7, X7, X7
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	SPREAD_WORDS(0, 4, Z15)
	SPREAD_WORDS(0, 1, Z20)
	SPREAD_WORDS(2, 3, Z21)
	SPREAD_WORDS(4, 5, Z22)
	SPREAD_WORDS(6, 7, Z23)

loop4r:
	CMPQ 0(SP), $0
	JEQ  done4r
	VMOVDQU64    (DI), Z24
	VMOVDQU64    64(DI), Z25
	VMOVDQU64    128(DI), Z26
	VMOVDQU64    192(DI), Z27
	VBROADCASTSS (DX), X31
	Q4K4_ROW(SI, Z0, X4)
	Q4K4_ROW(R8, Z1, X5)
	Q4K4_ROW(R9, Z2, X6)
	Q4K4_ROW(R10, Z3, X7)
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $16, R11
	DECQ 0(SP)
	JMP  loop4r

done4r:
	Q4K4_RED(Z0, Y0, X0, X4)
	Q4K4_RED(Z1, Y1, X1, X5)
	Q4K4_RED(Z2, Y2, X2, X6)
	Q4K4_RED(Z3, Y3, X3, X7)
	VHADDPS X1, X0, X0
	VHADDPS X3, X2, X2
	VHADDPS X2, X0, X0
	MOVQ    out+48(FP), AX
	VMOVUPS X0, (AX)
	VZEROUPPER
	RET
