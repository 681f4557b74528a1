//go:build !noasm

#include "textflag.h"

// Attention over one page of 32 positions of an f16 KV cache (attend.go's
// attnScores32Go and attnOut32Go). A page stores each head's block
// transposed: row i holds value i of the 32 positions (64 bytes of f16),
// so a row is two ZMM of 16 positions once widened.

// func attnScores32Z(k *uint16, hd int, q *float32, heads int, out *float32)
//
// out[32h+t] = Σ_i q[hd·h+i]·K[i][t] for each head h < heads and position
// t < 32, hd a multiple of 4. Positions are lanes: each row of K is
// widened once per head and meets q[i] broadcast. Eight chains (rows
// i mod 4, positions 0-15 and 16-31) hide the FMA latency; they are
// summed at the end, (c0+c2)+(c1+c3) of each half.
//
// Registers: SI = K, CX = hd, DI = q (head after head), BX = heads left,
// DX = out; R8 = row, R9 = rows left; Z0..Z7 = chains, Z8..Z15 = rows.
TEXT ·attnScores32Z(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), SI
	MOVQ hd+8(FP), CX
	MOVQ q+16(FP), DI
	MOVQ heads+24(FP), BX
	MOVQ out+32(FP), DX

head:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ   SI, R8
	MOVQ   CX, R9

row:
	VCVTPH2PS        (R8), Z8
	VCVTPH2PS        32(R8), Z9
	VCVTPH2PS        64(R8), Z10
	VCVTPH2PS        96(R8), Z11
	VCVTPH2PS        128(R8), Z12
	VCVTPH2PS        160(R8), Z13
	VCVTPH2PS        192(R8), Z14
	VCVTPH2PS        224(R8), Z15
	VFMADD231PS.BCST (DI), Z8, Z0
	VFMADD231PS.BCST (DI), Z9, Z1
	VFMADD231PS.BCST 4(DI), Z10, Z2
	VFMADD231PS.BCST 4(DI), Z11, Z3
	VFMADD231PS.BCST 8(DI), Z12, Z4
	VFMADD231PS.BCST 8(DI), Z13, Z5
	VFMADD231PS.BCST 12(DI), Z14, Z6
	VFMADD231PS.BCST 12(DI), Z15, Z7
	ADDQ             $256, R8
	ADDQ             $16, DI
	SUBQ             $4, R9
	JNZ              row

	VADDPS  Z4, Z0, Z0
	VADDPS  Z6, Z2, Z2
	VADDPS  Z5, Z1, Z1
	VADDPS  Z7, Z3, Z3
	VADDPS  Z2, Z0, Z0
	VADDPS  Z3, Z1, Z1
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ    $128, DX
	DECQ    BX
	JNZ     head

	VZEROUPPER
	RET

// ATTN_ROW sets DST to the products of one row of V (at OFF(R8)) with the
// weights, positions outside the mask zeroed: cvt(lo)·w_lo + cvt(hi)·w_hi.
#define ATTN_ROW(OFF, DST) \
	VCVTPH2PS.Z OFF(R8), K1, DST;    \
	VCVTPH2PS.Z OFF+32(R8), K2, Z18; \
	VMULPS      Z16, DST, DST;       \
	VFMADD231PS Z17, Z18, DST

// ATTN_PAIR folds A and B (16 lanes each) into A: its lanes 0-7 hold A's
// halves added, lanes 8-15 B's.
#define ATTN_PAIR(A, B) \
	VSHUFF64X2 $0x44, B, A, Z18; \
	VSHUFF64X2 $0xEE, B, A, Z19; \
	VADDPS     Z19, Z18, A

// ATTN_QUAD folds two ATTN_PAIR results: each 128-bit lane of A then
// holds four partial sums of one of the four rows.
#define ATTN_QUAD(A, B) \
	VSHUFF32X4 $0x88, B, A, Z18; \
	VSHUFF32X4 $0xDD, B, A, Z19; \
	VADDPS     Z19, Z18, A

// ATTN_HALVE adds neighbouring elements within each 128-bit lane.
#define ATTN_HALVE(A, B) \
	VSHUFPS $0x88, B, A, Z18; \
	VSHUFPS $0xDD, B, A, Z19; \
	VADDPS  Z19, Z18, A

// func attnOut32Z(v *uint16, hd int, w *float32, heads int, mask uint32, out *float32)
//
// out[hd·h+i] += Σ_t w[32h+t]·V[i][t] over the positions t whose bit is
// set in mask, for each head h < heads, hd a multiple of 16. Each row's
// 32 products are one ZMM of 16 partial sums (positions t and t+16);
// sixteen rows' vectors are then folded into one vector of their 16 sums
// (halves, quarters, pairs, neighbours: 15 shuffle pairs and adds). The
// rows are taken in the order that leaves row i in lane i: slot s holds
// row 4(s mod 4) + s/4. Masked-off positions are loaded as zero, so a
// stale slot of a page (even Inf or NaN) adds nothing.
//
// Registers: SI = V, CX = hd, DI = w (32 a head), BX = heads left, DX =
// out; R8 = 16 rows of V, R9 = rows left; Z16/Z17 = the head's weights of
// positions 0-15/16-31; K1/K2 = the mask's halves.
TEXT ·attnOut32Z(SB), NOSPLIT, $0-48
	MOVQ  v+0(FP), SI
	MOVQ  hd+8(FP), CX
	MOVQ  w+16(FP), DI
	MOVQ  heads+24(FP), BX
	MOVL  mask+32(FP), AX
	MOVQ  out+40(FP), DX
	KMOVW AX, K1
	SHRL  $16, AX
	KMOVW AX, K2

headO:
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	MOVQ    SI, R8
	MOVQ    CX, R9

rows16:
	ATTN_ROW(0, Z0)
	ATTN_ROW(256, Z1)
	ATTN_PAIR(Z0, Z1)
	ATTN_ROW(512, Z2)
	ATTN_ROW(768, Z3)
	ATTN_PAIR(Z2, Z3)
	ATTN_QUAD(Z0, Z2)
	ATTN_ROW(64, Z4)
	ATTN_ROW(320, Z5)
	ATTN_PAIR(Z4, Z5)
	ATTN_ROW(576, Z6)
	ATTN_ROW(832, Z7)
	ATTN_PAIR(Z6, Z7)
	ATTN_QUAD(Z4, Z6)
	ATTN_HALVE(Z0, Z4)
	ATTN_ROW(128, Z8)
	ATTN_ROW(384, Z9)
	ATTN_PAIR(Z8, Z9)
	ATTN_ROW(640, Z10)
	ATTN_ROW(896, Z11)
	ATTN_PAIR(Z10, Z11)
	ATTN_QUAD(Z8, Z10)
	ATTN_ROW(192, Z12)
	ATTN_ROW(448, Z13)
	ATTN_PAIR(Z12, Z13)
	ATTN_ROW(704, Z14)
	ATTN_ROW(960, Z15)
	ATTN_PAIR(Z14, Z15)
	ATTN_QUAD(Z12, Z14)
	ATTN_HALVE(Z8, Z12)
	ATTN_HALVE(Z0, Z8)
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DX)
	ADDQ    $64, DX
	ADDQ    $1024, R8
	SUBQ    $16, R9
	JNZ     rows16

	ADDQ $128, DI
	DECQ BX
	JNZ  headO

	VZEROUPPER
	RET

// func maxAVX512(x []float32) float32
//
// The largest of x (len(x) ≥ 1), sixteen lanes at a time, the tail under a
// lane mask. Z0 = the running maxima, from −Inf.
TEXT ·maxAVX512(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVL         $0xff800000, AX // −Inf
	VPBROADCASTD AX, Z0

max16:
	CMPQ   CX, $16
	JLT    maxTail
	VMAXPS (SI), Z0, Z0
	ADDQ   $64, SI
	SUBQ   $16, CX
	JMP    max16

maxTail:
	TESTQ  CX, CX
	JEQ    maxDone
	MOVL   $1, AX
	SHLL   CX, AX
	DECL   AX
	KMOVW  AX, K1
	VMAXPS (SI), Z0, K1, Z0

maxDone:
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VMAXPS        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VMAXPS        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VMAXPS        X1, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func scaleRound16AVX512(x []float32, s float32)
//
// x[i] = roundF16Fast(x[i]·s): the product's float32 bits rounded to f16's
// 11-bit significand, ties to even (b += 0x0fff + (b>>13)&1, then the low
// 13 bits cleared), sixteen lanes at a time, the tail under a lane mask.
// Z7 = s, Z8 = 1, Z9 = 0x0fff, Z10 = ^0x1fff.
TEXT ·scaleRound16AVX512(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS s+24(FP), Z7
	MOVL         $1, AX
	VPBROADCASTD AX, Z8
	MOVL         $0x0fff, AX
	VPBROADCASTD AX, Z9
	MOVL         $0xffffe000, AX
	VPBROADCASTD AX, Z10

#define ROUND16 \
	VMULPS  Z7, Z1, Z1;  \
	VPSRLD  $13, Z1, Z2; \
	VPANDD  Z8, Z2, Z2;  \
	VPADDD  Z9, Z2, Z2;  \
	VPADDD  Z2, Z1, Z1;  \
	VPANDD  Z10, Z1, Z1

round16:
	CMPQ    CX, $16
	JLT     roundTail
	VMOVUPS (SI), Z1
	ROUND16
	VMOVUPS Z1, (SI)
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     round16

roundTail:
	TESTQ     CX, CX
	JEQ       roundDone
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z (SI), K1, Z1
	ROUND16
	VMOVUPS   Z1, K1, (SI)

roundDone:
	VZEROUPPER
	RET
