//go:build !noasm

package metalkit

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly kernels (float_amd64.s, f16_amd64.s, q8_0_amd64.s, ...). Each
// stub's comment is the Go loop it computes; the Go wrappers below check
// bounds so the assembly can trust its arguments.

// dotAVX2 returns Σ a[i]·b[i]; len(b) >= len(a). (AVX2+FMA)
//
//	for i := range a { s += a[i] * b[i] }
//
//go:noescape
func dotAVX2(a, b []float32) float32

// axpyAVX2 does out[i] += a·x[i]; len(out) >= len(x). (AVX2+FMA)
//
//	for i := range x { out[i] += a * x[i] }
//
//go:noescape
func axpyAVX2(out []float32, a float32, x []float32)

// sumBytesAVX2 returns Σ b[i], the memory-bandwidth baseline. (AVX2)
//
//	for _, v := range b { s += uint64(v) }
//
//go:noescape
func sumBytesAVX2(b []byte) uint64

// dotF16AVX2 returns Σ f16(a[i])·b[i]. (AVX2+FMA+F16C)
//
//	for i := range a { s += F16ToF32(a[i]) * b[i] }
//
//go:noescape
func dotF16AVX2(a []uint16, b []float32) float32

// axpyF16AVX2 does out[i] += a·f16(x[i]). (AVX2+FMA+F16C)
//
//	for i := range x { out[i] += a * F16ToF32(x[i]) }
//
//go:noescape
func axpyF16AVX2(out []float32, a float32, x []uint16)

// dotBF16AVX2 returns Σ bf16(a[i])·b[i]. (AVX2+FMA)
//
//	for i := range a { s += BF16ToF32(a[i]) * b[i] }
//
//go:noescape
func dotBF16AVX2(a []uint16, b []float32) float32

// f16ToF32AVX2 widens halves. (F16C)
//
//	for i := range x { out[i] = F16ToF32(x[i]) }
//
//go:noescape
func f16ToF32AVX2(out []float32, x []uint16)

// f32ToF16AVX2 narrows to halves, round to nearest even. (F16C)
//
//	for i := range x { out[i] = F32ToF16(x[i]) }
//
//go:noescape
func f32ToF16AVX2(out []uint16, x []float32)

// q8_0Dot4AVX2 dots four Q8_0 rows (row r at w + r·stride) with nb blocks
// of quantised activations (qs, d). (AVX2+FMA+F16C; VNNI: AVX512-VNNI+VL)
//
//	for r := 0; r < 4; r++ {
//		for b := 0; b < nb; b++ {
//			blk := w[r*stride+34*b:]
//			var isum int32
//			for i := 0; i < 32; i++ { isum += int32(int8(blk[2+i])) * int32(qs[32*b+i]) }
//			out[r] += f16(blk[0:2]) * d[b] * float32(isum)
//		}
//	}
//
//go:noescape
func q8_0Dot4AVX2(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)

//go:noescape
func q8_0Dot4VNNI(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)

// q4_0Dot4AVX2 is q8_0Dot4AVX2 for Q4_0 rows (18-byte blocks):
//
//	isum += int32(int(blk[2+j]&15)-8)*qs[32b+j] + int32(int(blk[2+j]>>4)-8)*qs[32b+16+j]
//
//go:noescape
func q4_0Dot4AVX2(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)

//go:noescape
func q4_0Dot4VNNI(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32)

// q4KDotAVX2 dots one Q4_K row of nb super-blocks with Q8_K activations
// (qs, d, and bs32, the sums of each 32 activations). (AVX2+FMA+F16C)
//
//	for b := 0; b < nb; b++ { s += d[b] * (d_w·Σ_k a_k·Σ_l q·qs − dmin_w·Σ_k b_k·bs32[8b+k]) }
//
// See dot4Q4_KGo for the exact loop.
//
//go:noescape
func q4KDotAVX2(w *byte, qs *int8, d *float32, bs32 *int16, nb int) float32

// q6KDotAVX2 dots one Q6_K row with Q8_K activations (bs16: sums of each 16
// activations). (AVX2+FMA+F16C)
//
//	for b := 0; b < nb; b++ { s += d_w·d[b]·Σ_s scale_s·(Σ q·qs − 32·bs16[16b+s]) }
//
// See dot4Q6_KGo for the exact loop.
//
//go:noescape
func q6KDotAVX2(w *byte, qs *int8, d *float32, bs16 *int16, nb int) float32

// q8_0Dot1x4AVX2 dots one Q8_0 row of nb blocks with four activation
// columns, column c at qs + c·qsStride, d + c·dStride (bytes):
//
//	for c := 0; c < 4; c++ { out[c] = q8_0 dot of w with column c }  // as q8_0Dot4AVX2
//
//go:noescape
func q8_0Dot1x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)

//go:noescape
func q8_0Dot1x4VNNI(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)

// q4_0Dot1x4AVX2 is q8_0Dot1x4AVX2 for a Q4_0 row.
//
//go:noescape
func q4_0Dot1x4AVX2(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)

//go:noescape
func q4_0Dot1x4VNNI(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32)

var (
	hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
	hasVNNI = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
	// hasIQ2Z: the IQ2_XXS ZMM kernel also needs VBMI (byte permutes and
	// multishift) and BITALG (byte popcount), which the VNNI CPUs since
	// Ice Lake and Zen 4 have (Cascade and Cooper Lake do not).
	hasIQ2Z = hasVNNI && cpu.X86.HasAVX512VBMI && cpu.X86.HasAVX512BITALG
)

// newAVX2Backend is parent with the AVX2 kernels.
func newAVX2Backend(parent *backend) *backend {
	b := parent.derive("avx2")
	b.dot, b.axpy = dotAVX2, axpyAVX2
	b.dotF16, b.dotBF16, b.axpyF16 = dotF16AVX2, dotBF16AVX2, axpyF16AVX2
	b.f16ToF32, b.f32ToF16 = f16ToF32AVX2, f32ToF16AVX2
	b.expSub, b.swiglu = expSubAVX2Go, swigluAVX2Go
	b.quant32 = quant32AVX2
	b.formats[Q8_0] = formatKernels{
		dot4:   dot4Asm(q8_0Dot4AVX2, q8_0Bytes, q8_0Block),
		dot1x4: dot1x4Asm(q8_0Dot1x4AVX2, q8_0Bytes),
		x16:    &x16Kernels{dot: dot16Q8_0xAVX2, dotx4: dot16x4Q8_0xAVX2, dotx8: dot16x8Q8_0xAVX2},
		repack: true,
	}
	b.formats[Q4_0] = formatKernels{
		dot4:   dot4Asm(q4_0Dot4AVX2, q4_0Bytes, q4_0Block),
		dot1x4: dot1x4Asm(q4_0Dot1x4AVX2, q4_0Bytes),
	}
	b.quant256 = quant256AVX2
	b.formats[Q4_K] = formatKernels{
		dot4:   dot4K(q4KDotAVX2, q4_KBytes, false),
		x16:    &x16Kernels{dot: q4Kx16Dot1(q4KDot16x1AVX2).dot, dotx4: q4Kx16Dot4(q4KDot16x4AVX2).dot, dotx8: dot16x8Q4_KxAVX2},
		repack: true,
	}
	b.formats[Q6_K] = formatKernels{dot4: dot4K(q6KDotAVX2, q6_KBytes, true)}
	b.formats[Q2_K] = formatKernels{dot4: dot4Q2_KAVX2}
	b.formats[IQ2_XXS] = formatKernels{dot4: dot4IQ2_XXSAVX2}
	return b
}

// newVNNIBackend is parent (avx2) with the AVX-512 VNNI kernels; the
// IQ2_XXS ones only where iq2z (VBMI and BITALG as well).
func newVNNIBackend(parent *backend, iq2z bool) *backend {
	b := parent.derive("avx512vnni")
	b.expSub, b.swiglu = expSubAVX512, swigluAVX512
	b.quant32, b.quant256 = quant32AVX512, quant256AVX512
	b.attnScores32, b.attnOut32, b.softmax16 = attnScores32AVX512, attnOut32AVX512, softmax16AVX512
	b.formats[Q8_0] = formatKernels{
		dot4:   dot4Q8_0Z(dot4Asm(q8_0Dot4VNNI, q8_0Bytes, q8_0Block)),
		dot1x4: dot1x4Asm(q8_0Dot1x4VNNI, q8_0Bytes),
		dot4x4: dot4x4Q8_0Z,
		x16:    &x16Kernels{dot: dot16Q8_0xZ, dotx4: dot16x4Q8_0xZ, dotx8: dot16x8Q8_0xZ},
		repack: true,
	}
	b.formats[Q4_0] = formatKernels{
		dot4:   dot4Asm(q4_0Dot4VNNI, q4_0Bytes, q4_0Block),
		dot1x4: dot1x4Asm(q4_0Dot1x4VNNI, q4_0Bytes),
	}
	b.formats[Q4_K] = formatKernels{
		dot4:   dot4Q4_KZ,
		dot1x4: dot1x4Q4_KZ,
		x16:    &x16Kernels{dot: q4Kx16Dot1(q4KDot16x1Z).dot, dotx4: q4Kx16Dot4(q4KDot16x4Z).dot, dotx8: dot16x8Q4_KxZ},
		repack: true,
	}
	b.formats[Q2_K] = formatKernels{dot4: dot4Q2_KZ, dot1x4: dot1x4Q2_KZ}
	if iq2z {
		b.formats[IQ2_XXS] = formatKernels{dot4: dot4IQ2_XXSZ, dot1x4: dot1x4IQ2_XXSZ}
	}
	return b
}

// quant32AVX512 is quantAct for 32-value blocks with corrections.
func quant32AVX512(a *q8Act, x []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	if len(a.qs) < nb*32 || len(a.d) < nb || len(a.cz) < nb {
		panic("metalkit: activation quantisation out of bounds")
	}
	quantQ8BlocksAVX512(&x[0], nb, &a.qs[0], &a.d[0], &a.cz[0])
}

// quantQ8BlocksAVX2 is quantQ8BlocksAVX512 with AVX2.
//
//go:noescape
func quantQ8BlocksAVX2(x *float32, nb int, qs *int8, d *float32, cz *int32)

// quant32AVX2 is quantAct for 32-value blocks with corrections (AVX2).
func quant32AVX2(a *q8Act, x []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	if len(a.qs) < nb*32 || len(a.d) < nb || len(a.cz) < nb {
		panic("metalkit: activation quantisation out of bounds")
	}
	quantQ8BlocksAVX2(&x[0], nb, &a.qs[0], &a.d[0], &a.cz[0])
}

// quant256AVX512 is quantAct for 256-value blocks.
func quant256AVX512(a *q8Act, x []float32) {
	nb := len(x) / qkBlock
	if nb == 0 {
		return
	}
	if len(a.qs) < nb*qkBlock || len(a.d) < nb || len(a.bs16) < 16*nb || len(a.bs32) < 8*nb {
		panic("metalkit: activation quantisation out of bounds")
	}
	quantQ8KBlocksAVX512(&x[0], nb, &a.qs[0], &a.d[0], &a.bs16[0], &a.bs32[0])
}

// asmBackends lists the assembly backends this CPU supports on top of
// parent (the reference), slowest first, and names the kernels it has but
// this CPU lacks the features for.
func asmBackends(parent *backend) (bs []*backend, notRun []string) {
	if !hasAVX2 {
		return nil, []string{"avx2 and avx512vnni backends (need AVX2, FMA, F16C)"}
	}
	avx2 := newAVX2Backend(parent)
	bs = append(bs, avx2)
	if !hasVNNI {
		return bs, []string{"avx512vnni backend (needs AVX512F, BW, VL, VNNI)"}
	}
	vnni := newVNNIBackend(avx2, hasIQ2Z)
	bs = append(bs, vnni)
	if !hasIQ2Z {
		notRun = append(notRun, "avx512vnni IQ2_XXS kernels (need AVX512VBMI, BITALG; the avx2 ones ran instead)")
	}
	if !hasAMX {
		return bs, append(notRun, "amx backend: Q8_0 16×16 tile kernel (needs AMX-TILE, AMX-INT8 and the OS's tile state; bench/amx-check.sh runs it on a host that has them)")
	}
	return append(bs, newAMXBackend(vnni)), notRun
}

// dot4Asm wraps a 4-row assembly kernel for 32-value blocks of blockBytes
// bytes with the bounds checks the assembly skips.
func dot4Asm(f func(w *byte, stride int, qs *int8, d *float32, nb int, out *[4]float32), blockBytes, blockSize int) dot4Func {
	return func(w []byte, stride int, a *q8Act, out *[4]float32) {
		nb := len(a.d)
		if nb == 0 {
			*out = [4]float32{}
			return
		}
		if len(w) < 3*stride+nb*blockBytes || len(a.qs) < nb*blockSize {
			panic("metalkit: quantised dot out of bounds")
		}
		f(&w[0], stride, &a.qs[0], &a.d[0], nb, out)
	}
}

// sumBytes returns Σ b[i] (the bandwidth baseline).
func sumBytes(b []byte) uint64 {
	if hasAVX2 && kern != &goBackend {
		return sumBytesAVX2(b)
	}
	return sumBytesGo(b)
}

// dot4K wraps a one-row K-quant assembly kernel as a 4-row kernel; the
// activation column stays in L1 across the four rows.
func dot4K(f func(w *byte, qs *int8, d *float32, bs *int16, nb int) float32, blockBytes int, use16 bool) dot4Func {
	return func(w []byte, stride int, a *q8Act, out *[4]float32) {
		nb := len(a.d)
		if nb == 0 {
			*out = [4]float32{}
			return
		}
		bs, per := a.bs32, 8
		if use16 {
			bs, per = a.bs16, 16
		}
		if len(w) < 3*stride+nb*blockBytes || len(a.qs) < nb*qkBlock || len(bs) < nb*per {
			panic("metalkit: quantised dot out of bounds")
		}
		for r := 0; r < 4; r++ {
			out[r] = f(&w[r*stride], &a.qs[0], &a.d[0], &bs[0], nb)
		}
	}
}

// dot1x4Asm wraps a one-row × four-column kernel for 32-value blocks. The
// four columns must be evenly spaced in memory (as actBuf lays them out);
// otherwise it falls back to fallback.
func dot1x4Asm(f func(w *byte, qs *int8, qsStride int, d *float32, dStride int, nb int, out *[4]float32), blockBytes int) dot1x4Func {
	return func(w []byte, a []q8Act, out *[4]float32, fallback dot4Func) {
		a = a[:4]
		nb := len(a[0].d)
		if nb == 0 || len(w) < nb*blockBytes {
			dot1x4Go(w, a, out, fallback)
			return
		}
		qsStride := int(uintptr(unsafe.Pointer(&a[1].qs[0])) - uintptr(unsafe.Pointer(&a[0].qs[0])))
		dStride := int(uintptr(unsafe.Pointer(&a[1].d[0])) - uintptr(unsafe.Pointer(&a[0].d[0])))
		for c := 1; c < 4; c++ {
			if len(a[c].d) != nb || len(a[c].qs) < nb*32 ||
				uintptr(unsafe.Pointer(&a[c].qs[0])) != uintptr(unsafe.Pointer(&a[0].qs[0]))+uintptr(c*qsStride) ||
				uintptr(unsafe.Pointer(&a[c].d[0])) != uintptr(unsafe.Pointer(&a[0].d[0]))+uintptr(c*dStride) {
				dot1x4Go(w, a, out, fallback)
				return
			}
		}
		f(&w[0], &a[0].qs[0], qsStride, &a[0].d[0], dStride, nb, out)
	}
}

// q4KDot4Z dots four Q4_K rows (row r at w + r·stride) with one column of
// Q8_K activations. (AVX512F+BW+VNNI)
//
//	for r := 0; r < 4; r++ { out[r] = q4KDotAVX2(w + r·stride, ...) }
//
//go:noescape
func q4KDot4Z(w *byte, stride int, qs *int8, d *float32, bs32 *int16, nb int, out *[4]float32)

// q4KDot1x4Z dots one Q4_K row with four activation columns: column c's
// quants at qs + c·qsStride, scales at d + c·dStride, 32-value sums at
// bs32 + 4c·dStride (bytes). (AVX512F+BW+VNNI)
//
//	for c := 0; c < 4; c++ { out[c] = q4KDotAVX2(w, column c) }
//
//go:noescape
func q4KDot1x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[4]float32)

// expSubAVX512 sets x[i] = e^(x[i]−m) and returns Σ x[i], the steps of
// expSubGo on sixteen lanes. (AVX512F)
//
//go:noescape
func expSubAVX512(x []float32, m float32) float32

// swigluAVX512 sets out[i] = gate[i]·up[i] / (1 + e^(−gate[i])), SwiGLU
// with ExpSub's exponential; len(out), len(up) >= len(gate). (AVX512F)
//
//	for i, g := range gate { out[i] = SiLU(g) * up[i] }
//
//go:noescape
func swigluAVX512(out, gate, up []float32)

// expSubAVX2 is expSubAVX512 on eight lanes, for x[:len(x)&^7].
// (AVX2+FMA)
//
//go:noescape
func expSubAVX2(x []float32, m float32) float32

// swigluAVX2 is swigluAVX512 on eight lanes, for gate[:len(gate)&^7].
// (AVX2+FMA)
//
//go:noescape
func swigluAVX2(out, gate, up []float32)

// expSubAVX2Go is expSubAVX2 with the last len(x) mod 8 values in Go.
func expSubAVX2Go(x []float32, m float32) float32 {
	n := len(x) &^ 7
	return expSubAVX2(x[:n], m) + expSubGo(x[n:], m)
}

// swigluAVX2Go is swigluAVX2 on any length: the last len(gate) mod 8
// values go through the same kernel in a zero-padded block of eight, not
// through swigluGo, whose exponential rounds differently. A value's
// result must not depend on where a caller's range split fell (a prefill
// splits rows over threads, a decode step does not), or a prompt fed at
// once and token by token give different logits.
func swigluAVX2Go(out, gate, up []float32) {
	n := len(gate) &^ 7
	out, up = out[:len(gate)], up[:len(gate)]
	swigluAVX2(out[:n], gate[:n], up[:n])
	if n == len(gate) {
		return
	}
	var o, g, u [8]float32
	copy(g[:], gate[n:])
	copy(u[:], up[n:])
	swigluAVX2(o[:], g[:], u[:])
	copy(out[n:], o[:])
}

// quantQ8BlocksAVX512 quantises nb blocks of 32 activations into qs, d and
// cz, exactly as quantAct with 32-value blocks. (AVX512F+BW)
//
//go:noescape
func quantQ8BlocksAVX512(x *float32, nb int, qs *int8, d *float32, cz *int32)

// quantQ8KBlocksAVX512 quantises nb super-blocks of 256 activations into
// qs, d, bs16 and bs32, exactly as quantAct with 256-value blocks.
// (AVX512F+BW)
//
//go:noescape
func quantQ8KBlocksAVX512(x *float32, nb int, qs *int8, d *float32, bs16, bs32 *int16)

// q8_0Dot4x1Z is q8_0Dot4VNNI on ZMM registers, two blocks per VPDPBUSD,
// with the activation corrections cz (cz[b] = −16·Σ_i qs[32b+i]) that let it
// skip the sign trick. (AVX512F+BW+VL+VNNI)
//
//go:noescape
func q8_0Dot4x1Z(w *byte, stride int, qs *int8, d *float32, cz *int32, nb int, out *[4]float32)

// q8_0Dot4x4Z dots four Q8_0 rows with four activation columns: out[4c+r].
// Column c's quants are at qs + c·qsStride, its scales and corrections at
// d + c·sStride and cz + c·sStride (bytes). (AVX512F+BW+VL+VNNI)
//
//	for c := 0; c < 4; c++ { for r := 0; r < 4; r++ { out[4c+r] = q8_0 dot of row r with column c } }
//
//go:noescape
func q8_0Dot4x4Z(w *byte, stride int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, nb int, out *[16]float32)

// dot4Q8_0Z wraps q8_0Dot4x1Z; columns without corrections (cz) go to
// fallback.
func dot4Q8_0Z(fallback dot4Func) dot4Func {
	return func(w []byte, stride int, a *q8Act, out *[4]float32) {
		nb := len(a.d)
		if nb == 0 || len(a.cz) < nb {
			fallback(w, stride, a, out)
			return
		}
		if len(w) < 3*stride+nb*q8_0Bytes || len(a.qs) < nb*q8_0Block {
			panic("metalkit: quantised dot out of bounds")
		}
		q8_0Dot4x1Z(&w[0], stride, &a.qs[0], &a.d[0], &a.cz[0], nb, out)
	}
}

// dot4x4Q8_0Z wraps q8_0Dot4x4Z. The four columns must be evenly spaced in
// memory with their corrections (as actBuf lays them out); otherwise it
// does one column at a time with fallback.
func dot4x4Q8_0Z(w []byte, stride int, a []q8Act, out *[16]float32, fallback dot4Func) {
	a = a[:4]
	nb := len(a[0].d)
	if nb == 0 || len(w) < 3*stride+nb*q8_0Bytes {
		dot4x4Go(w, stride, a, out, fallback)
		return
	}
	addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	for c := range a {
		if len(a[c].d) != nb || len(a[c].cz) != nb || len(a[c].qs) < nb*q8_0Block {
			dot4x4Go(w, stride, a, out, fallback)
			return
		}
	}
	qsStride := addr(unsafe.Pointer(&a[1].qs[0])) - addr(unsafe.Pointer(&a[0].qs[0]))
	sStride := addr(unsafe.Pointer(&a[1].d[0])) - addr(unsafe.Pointer(&a[0].d[0]))
	for c := 1; c < 4; c++ {
		if addr(unsafe.Pointer(&a[c].qs[0])) != addr(unsafe.Pointer(&a[0].qs[0]))+uintptr(c)*qsStride ||
			addr(unsafe.Pointer(&a[c].d[0])) != addr(unsafe.Pointer(&a[0].d[0]))+uintptr(c)*sStride ||
			addr(unsafe.Pointer(&a[c].cz[0])) != addr(unsafe.Pointer(&a[0].cz[0]))+uintptr(c)*sStride {
			dot4x4Go(w, stride, a, out, fallback)
			return
		}
	}
	q8_0Dot4x4Z(&w[0], stride, &a[0].qs[0], int(qsStride), &a[0].d[0], &a[0].cz[0], int(sStride), nb, out)
}

// dot1x4Q4_KZ wraps q4KDot1x4Z. The four columns must be evenly spaced in
// memory with their scales and sums (as actBuf lays them out); otherwise
// it does one column at a time with fallback.
func dot1x4Q4_KZ(w []byte, a []q8Act, out *[4]float32, fallback dot4Func) {
	a = a[:4]
	nb := len(a[0].d)
	if nb == 0 || len(w) < nb*q4_KBytes {
		dot1x4Go(w, a, out, fallback)
		return
	}
	addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	for c := range a {
		if len(a[c].d) != nb || len(a[c].bs32) < 8*nb || len(a[c].qs) < nb*qkBlock {
			dot1x4Go(w, a, out, fallback)
			return
		}
	}
	qsStride := addr(unsafe.Pointer(&a[1].qs[0])) - addr(unsafe.Pointer(&a[0].qs[0]))
	dStride := addr(unsafe.Pointer(&a[1].d[0])) - addr(unsafe.Pointer(&a[0].d[0]))
	for c := 1; c < 4; c++ {
		if addr(unsafe.Pointer(&a[c].qs[0])) != addr(unsafe.Pointer(&a[0].qs[0]))+uintptr(c)*qsStride ||
			addr(unsafe.Pointer(&a[c].d[0])) != addr(unsafe.Pointer(&a[0].d[0]))+uintptr(c)*dStride ||
			addr(unsafe.Pointer(&a[c].bs32[0])) != addr(unsafe.Pointer(&a[0].bs32[0]))+4*uintptr(c)*dStride {
			dot1x4Go(w, a, out, fallback)
			return
		}
	}
	q4KDot1x4Z(&w[0], &a[0].qs[0], int(qsStride), &a[0].d[0], int(dStride), &a[0].bs32[0], nb, out)
}

// dot4Q4_KZ wraps q4KDot4Z with the bounds checks the assembly skips.
func dot4Q4_KZ(w []byte, stride int, a *q8Act, out *[4]float32) {
	nb := len(a.d)
	if nb == 0 {
		*out = [4]float32{}
		return
	}
	if len(w) < 3*stride+nb*q4_KBytes || len(a.qs) < nb*qkBlock || len(a.bs32) < nb*8 {
		panic("metalkit: quantised dot out of bounds")
	}
	q4KDot4Z(&w[0], stride, &a.qs[0], &a.d[0], &a.bs32[0], nb, out)
}

// q4KDot16x1Z dots the sixteen rows of a Q4_K×16 group (nb super-blocks at
// w) with one column of Q8_K activations. (AVX512F+BW+VNNI)
//
//	for r := 0; r < 16; r++ { out[r] = Σ_b q4KBlockDot(row r's block b, a, b) }
//
// See dot16Q4_KxGo for the exact loop.
//
//go:noescape
func q4KDot16x1Z(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)

// q4KDot16x4Z dots the sixteen rows of a Q4_K×16 group with four columns:
// column c's quants at qs + c·qsStride, scales at d + c·dStride, 32-value
// sums at bs32 + 4c·dStride (bytes). (AVX512F+BW+VNNI)
//
//	for c := 0; c < 4; c++ { out[16c:16c+16] = q4KDot16x1Z(w, column c) }
//
//go:noescape
func q4KDot16x4Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[64]float32)

// q4Kx16Dot1 is a one-column Q4_K×16 kernel in assembly (q4KDot16x1Z,
// q4KDot16x1AVX2); dot calls it with the bounds checks the assembly skips.
type q4Kx16Dot1 func(w *byte, qs *int8, d *float32, bs32 *int16, nb int, out *[16]float32)

func (k q4Kx16Dot1) dot(w []byte, a *q8Act, out *[16]float32) {
	nb := len(a.d)
	if nb == 0 {
		*out = [16]float32{}
		return
	}
	if len(w) < nb*q4KxBlock || len(a.qs) < nb*qkBlock || len(a.bs32) < nb*8 {
		panic("metalkit: quantised dot out of bounds")
	}
	k(&w[0], &a.qs[0], &a.d[0], &a.bs32[0], nb, out)
}

// q4KDot16x8Z is q4KDot16x4Z for eight columns, out[16c+r]. (AVX512F+BW+VNNI)
//
//go:noescape
func q4KDot16x8Z(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[128]float32)

// q8KColumns reports the byte strides between the quants and between the
// scales of columns a, when they are evenly spaced in memory with their
// 32-value sums as actBuf lays them out, each nb super-blocks long.
func q8KColumns(a []q8Act, nb int) (qsStride, dStride int, ok bool) {
	addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	for c := range a {
		if len(a[c].d) != nb || len(a[c].bs32) < 8*nb || len(a[c].qs) < nb*qkBlock {
			return 0, 0, false
		}
	}
	qs := addr(unsafe.Pointer(&a[1].qs[0])) - addr(unsafe.Pointer(&a[0].qs[0]))
	d := addr(unsafe.Pointer(&a[1].d[0])) - addr(unsafe.Pointer(&a[0].d[0]))
	for c := 1; c < len(a); c++ {
		if addr(unsafe.Pointer(&a[c].qs[0])) != addr(unsafe.Pointer(&a[0].qs[0]))+uintptr(c)*qs ||
			addr(unsafe.Pointer(&a[c].d[0])) != addr(unsafe.Pointer(&a[0].d[0]))+uintptr(c)*d ||
			addr(unsafe.Pointer(&a[c].bs32[0])) != addr(unsafe.Pointer(&a[0].bs32[0]))+4*uintptr(c)*d {
			return 0, 0, false
		}
	}
	return int(qs), int(d), true
}

// q4Kx16Dot4 is a four-column Q4_K×16 kernel in assembly (q4KDot16x4Z,
// q4KDot16x4AVX2). dot calls it where the four columns are evenly spaced
// in memory with their scales and sums (as actBuf lays them out), and
// otherwise does one column at a time with fallback.
type q4Kx16Dot4 func(w *byte, qs *int8, qsStride int, d *float32, dStride int, bs32 *int16, nb int, out *[64]float32)

func (k q4Kx16Dot4) dot(w []byte, a []q8Act, out *[64]float32, fallback dot16Func) {
	a = a[:4]
	nb := len(a[0].d)
	qsStride, dStride, ok := q8KColumns(a, nb)
	if nb == 0 || len(w) < nb*q4KxBlock || !ok {
		dot16x4Go(w, a, out, fallback)
		return
	}
	k(&w[0], &a[0].qs[0], qsStride, &a[0].d[0], dStride, &a[0].bs32[0], nb, out)
}

// dot16x8Q4_KxZ wraps q4KDot16x8Z as q4Kx16Dot4 wraps a four-column kernel.
func dot16x8Q4_KxZ(w []byte, a []q8Act, out *[128]float32, fallback dot16Func) {
	a = a[:8]
	nb := len(a[0].d)
	qsStride, dStride, ok := q8KColumns(a, nb)
	if nb == 0 || len(w) < nb*q4KxBlock || !ok {
		dot16x8Go(w, a, out, fallback)
		return
	}
	q4KDot16x8Z(&w[0], &a[0].qs[0], qsStride, &a[0].d[0], dStride, &a[0].bs32[0], nb, out)
}

// readZ reads p[:n] with ZMM loads, prefetching ahead bytes ahead; n is a
// positive multiple of 256 (bandwidth_amd64.s). (AVX512F)
//
//	for i := 0; i < n; i += 8 { s ^= le.Uint64(p[i:]) }
//
//go:noescape
func readZ(p *byte, n int, ahead int) uint64

// readY is readZ with YMM loads. (AVX2)
//
//go:noescape
func readY(p *byte, n int, ahead int) uint64

// readPatterns are the bandwidth probe's read loops on this CPU: the byte
// sum, and plain loads at the widest width without and with software
// prefetch (1 and 4 KiB ahead).
func readPatterns() []readPattern {
	if !hasAVX2 {
		return []readPattern{{"sum", sumBytesGo}, {"load", xorWordsGo}}
	}
	load, width := readY, "ymm"
	if hasVNNI {
		load, width = readZ, "zmm"
	}
	at := func(ahead int) func(b []byte) uint64 {
		return func(b []byte) uint64 {
			n := len(b) &^ 255
			if n == 0 {
				return xorWordsGo(b)
			}
			return load(&b[0], n, ahead) ^ xorWordsGo(b[n:])
		}
	}
	return []readPattern{
		{"sum", sumBytesAVX2},
		{width, at(0)},
		{width + "+pf1k", at(1 << 10)},
		{width + "+pf4k", at(4 << 10)},
	}
}

// q8_0Dot16xNZ dots the sixteen rows of a Q8_0×16 group (nb blocks a row,
// at w) with n columns of activations in 32-value blocks with corrections:
// column c's quants at qs + c·qsStride, its scales and corrections at
// d + c·sStride and cz + c·sStride (bytes); out[16c+r]. (AVX512F+BW+VNNI)
//
//	for c := 0; c < n; c++ { dot16Q8_0xGo(w, column c, out[16c:16c+16]) }
//
//go:noescape
func q8_0Dot16xNZ(w *byte, nb int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, n int, out *float32)

// q8Columns reports the byte strides between the quants and between the
// scales (and, where cz, corrections) of columns a, when they are evenly
// spaced in memory as actBuf lays them out, each nb blocks of 32 (with
// corrections where cz).
func q8Columns(a []q8Act, nb int, cz bool) (qsStride, sStride int, ok bool) {
	addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
	for c := range a {
		if len(a[c].d) != nb || (cz && len(a[c].cz) != nb) || len(a[c].qs) < nb*q8_0Block {
			return 0, 0, false
		}
	}
	if len(a) == 1 {
		return 0, 0, true
	}
	qs := addr(unsafe.Pointer(&a[1].qs[0])) - addr(unsafe.Pointer(&a[0].qs[0]))
	s := addr(unsafe.Pointer(&a[1].d[0])) - addr(unsafe.Pointer(&a[0].d[0]))
	for c := 1; c < len(a); c++ {
		if addr(unsafe.Pointer(&a[c].qs[0])) != addr(unsafe.Pointer(&a[0].qs[0]))+uintptr(c)*qs ||
			addr(unsafe.Pointer(&a[c].d[0])) != addr(unsafe.Pointer(&a[0].d[0]))+uintptr(c)*s ||
			(cz && addr(unsafe.Pointer(&a[c].cz[0])) != addr(unsafe.Pointer(&a[0].cz[0]))+uintptr(c)*s) {
			return 0, 0, false
		}
	}
	return int(qs), int(s), true
}

// dot16xNQ8_0Z runs q8_0Dot16xNZ on columns a (out[16c+r], len(a) ≥ 1),
// or reports false where a's columns are not laid out as it needs.
func dot16xNQ8_0Z(w []byte, a []q8Act, out []float32) bool {
	nb := len(a[0].d)
	qsStride, sStride, ok := q8Columns(a, nb, true)
	if !ok || nb == 0 || len(w) < nb*q8xBlock || len(out) < 16*len(a) {
		return false
	}
	q8_0Dot16xNZ(&w[0], nb, &a[0].qs[0], qsStride, &a[0].d[0], &a[0].cz[0], sStride, len(a), &out[0])
	return true
}

// dot16Q8_0xZ is the one-column Q8_0×16 kernel.
func dot16Q8_0xZ(w []byte, a *q8Act, out *[16]float32) {
	if !dot16xNQ8_0Z(w, unsafe.Slice(a, 1), out[:]) {
		dot16Q8_0xGo(w, a, out)
	}
}

// dot16x4Q8_0xZ is the four-column Q8_0×16 kernel; columns it cannot take
// go one at a time to fallback.
func dot16x4Q8_0xZ(w []byte, a []q8Act, out *[64]float32, fallback dot16Func) {
	if !dot16xNQ8_0Z(w, a[:4], out[:]) {
		dot16x4Go(w, a, out, fallback)
	}
}

// q8_0Dot16x8Z is q8_0Dot16xNZ for n = 8, its sums kept in registers.
// (AVX512F+BW+VNNI)
//
//go:noescape
func q8_0Dot16x8Z(w *byte, nb int, qs *int8, qsStride int, d *float32, cz *int32, sStride int, out *float32)

// dot16x8Q8_0xZ is the eight-column Q8_0×16 kernel.
func dot16x8Q8_0xZ(w []byte, a []q8Act, out *[128]float32, fallback dot16Func) {
	a = a[:8]
	nb := len(a[0].d)
	qsStride, sStride, ok := q8Columns(a, nb, true)
	if !ok || nb == 0 || len(w) < nb*q8xBlock {
		dot16x8Go(w, a, out, fallback)
		return
	}
	q8_0Dot16x8Z(&w[0], nb, &a[0].qs[0], qsStride, &a[0].d[0], &a[0].cz[0], sStride, &out[0])
}

// q8_0Dot16AVX2 dots the sixteen rows of a Q8_0×16 group (nb blocks a row,
// at w) with one column of activations in 32-value blocks; out[r].
// (AVX2+FMA+F16C)
//
//	dot16Q8_0xGo(w, column, out)
//
//go:noescape
func q8_0Dot16AVX2(w *byte, nb int, qs *int8, d *float32, out *[16]float32)

// q8_0Dot16xNAVX2 is q8_0Dot16AVX2 for n columns, n a multiple of 4:
// column c's quants at qs + c·qsStride, its scales at d + c·sStride
// (bytes); out[16c+r]. (AVX2+FMA+F16C)
//
//	for c := 0; c < n; c++ { dot16Q8_0xGo(w, column c, out[16c:16c+16]) }
//
//go:noescape
func q8_0Dot16xNAVX2(w *byte, nb int, qs *int8, qsStride int, d *float32, sStride int, n int, out *float32)

// dot16Q8_0xAVX2 is the avx2 one-column Q8_0×16 kernel.
func dot16Q8_0xAVX2(w []byte, a *q8Act, out *[16]float32) {
	nb := len(a.d)
	if nb == 0 || len(w) < nb*q8xBlock || len(a.qs) < nb*q8_0Block {
		dot16Q8_0xGo(w, a, out)
		return
	}
	q8_0Dot16AVX2(&w[0], nb, &a.qs[0], &a.d[0], out)
}

// dot16xNQ8_0AVX2 runs q8_0Dot16xNAVX2 on columns a (len(a) a multiple of
// 4), or reports false where a's columns are not laid out as it needs.
func dot16xNQ8_0AVX2(w []byte, a []q8Act, out []float32) bool {
	nb := len(a[0].d)
	qsStride, sStride, ok := q8Columns(a, nb, false)
	if !ok || nb == 0 || len(a)%4 != 0 || len(w) < nb*q8xBlock || len(out) < 16*len(a) {
		return false
	}
	q8_0Dot16xNAVX2(&w[0], nb, &a[0].qs[0], qsStride, &a[0].d[0], sStride, len(a), &out[0])
	return true
}

// dot16x4Q8_0xAVX2 is the avx2 four-column Q8_0×16 kernel; columns it
// cannot take go one at a time to fallback.
func dot16x4Q8_0xAVX2(w []byte, a []q8Act, out *[64]float32, fallback dot16Func) {
	if !dot16xNQ8_0AVX2(w, a[:4], out[:]) {
		dot16x4Go(w, a, out, fallback)
	}
}

// dot16x8Q8_0xAVX2 is the avx2 eight-column Q8_0×16 kernel.
func dot16x8Q8_0xAVX2(w []byte, a []q8Act, out *[128]float32, fallback dot16Func) {
	if !dot16xNQ8_0AVX2(w, a[:8], out[:]) {
		dot16x8Go(w, a, out, fallback)
	}
}
