// Kernels of metalkit/cuda's device. gen.sh compiles this file with nvcc to
// kernels.ptx, which the Go package embeds and loads with the driver API, so
// users need the NVIDIA driver but no CUDA toolkit. Every kernel is
// extern "C" so its PTX name is the name device.go looks up.
//
// Weights are in the GGUF block layouts (metalkit's q8_0.go, q4_k.go, ...),
// read as bytes: Q8_0's 34-byte blocks are not 4-byte aligned. Every weight
// kernel works on "units" of 32 consecutive values of a row (a Q8_0 block,
// a Q4_K sub-block, 32 f16s); float rows of other widths are uploaded
// padded with zeros to whole units.
#include <cuda_fp16.h>
#include <stdint.h>

#define F32 0
#define F16 1
#define BF16 30
#define Q4_0 2
#define Q8_0 8
#define Q4_K 12
#define Q6_K 14
#define Q2_K 10
#define IQ2_XXS 16

// iq2xxs_grid is IQ2_XXS's codebook, metalkit.IQ2XXSGrid (a test checks the
// PTX's copy against it): entry g's byte i is the magnitude of value i of a
// group of 8. In global memory, read through the read-only cache: the
// lanes of a warp look up different entries, which constant memory would
// serve one at a time.
__device__ const unsigned long long iq2xxs_grid[256] = {
	0x0808080808080808ull, 0x080808080808082bull, 0x0808080808081919ull, 0x0808080808082b08ull,
	0x0808080808082b2bull, 0x0808080808190819ull, 0x0808080808191908ull, 0x08080808082b0808ull,
	0x08080808082b082bull, 0x08080808082b2b08ull, 0x08080808082b2b2bull, 0x0808080819080819ull,
	0x0808080819081908ull, 0x0808080819190808ull, 0x0808080819192b08ull, 0x08080808192b0819ull,
	0x08080808192b1908ull, 0x080808082b080808ull, 0x080808082b08082bull, 0x080808082b082b2bull,
	0x080808082b2b082bull, 0x0808081908080819ull, 0x0808081908081908ull, 0x0808081908190808ull,
	0x0808081908191919ull, 0x0808081919080808ull, 0x080808192b081908ull, 0x080808192b192b08ull,
	0x0808082b08080808ull, 0x0808082b0808082bull, 0x0808082b082b082bull, 0x0808082b2b08082bull,
	0x0808190808080819ull, 0x0808190808081908ull, 0x0808190808190808ull, 0x08081908082b0819ull,
	0x08081908082b1908ull, 0x0808190819080808ull, 0x080819081908082bull, 0x0808190819082b08ull,
	0x08081908192b0808ull, 0x080819082b080819ull, 0x080819082b081908ull, 0x080819082b190808ull,
	0x080819082b2b1908ull, 0x0808191908080808ull, 0x080819190808082bull, 0x0808191908082b08ull,
	0x08081919082b0808ull, 0x080819191908192bull, 0x08081919192b2b19ull, 0x080819192b080808ull,
	0x080819192b190819ull, 0x0808192b08082b19ull, 0x0808192b08190808ull, 0x0808192b19080808ull,
	0x0808192b2b081908ull, 0x0808192b2b2b1908ull, 0x08082b0808080808ull, 0x08082b0808081919ull,
	0x08082b0808082b08ull, 0x08082b0808191908ull, 0x08082b08082b2b08ull, 0x08082b0819080819ull,
	0x08082b0819081908ull, 0x08082b0819190808ull, 0x08082b081919082bull, 0x08082b082b082b08ull,
	0x08082b1908081908ull, 0x08082b1919080808ull, 0x08082b2b0808082bull, 0x08082b2b08191908ull,
	0x0819080808080819ull, 0x0819080808081908ull, 0x0819080808190808ull, 0x08190808082b0819ull,
	0x0819080819080808ull, 0x08190808192b0808ull, 0x081908082b081908ull, 0x081908082b190808ull,
	0x081908082b191919ull, 0x0819081908080808ull, 0x0819081908082b08ull, 0x08190819082b0808ull,
	0x0819081919190808ull, 0x0819081919192b2bull, 0x081908192b080808ull, 0x0819082b082b1908ull,
	0x0819082b19081919ull, 0x0819190808080808ull, 0x0819190808082b08ull, 0x08191908082b0808ull,
	0x08191908082b1919ull, 0x0819190819082b19ull, 0x081919082b080808ull, 0x0819191908192b08ull,
	0x08191919192b082bull, 0x0819192b08080808ull, 0x0819192b0819192bull, 0x08192b0808080819ull,
	0x08192b0808081908ull, 0x08192b0808190808ull, 0x08192b0819080808ull, 0x08192b082b080819ull,
	0x08192b1908080808ull, 0x08192b1908081919ull, 0x08192b192b2b0808ull, 0x08192b2b19190819ull,
	0x082b080808080808ull, 0x082b08080808082bull, 0x082b080808082b2bull, 0x082b080819081908ull,
	0x082b0808192b0819ull, 0x082b08082b080808ull, 0x082b08082b08082bull, 0x082b0819082b2b19ull,
	0x082b081919082b08ull, 0x082b082b08080808ull, 0x082b082b0808082bull, 0x082b190808080819ull,
	0x082b190808081908ull, 0x082b190808190808ull, 0x082b190819080808ull, 0x082b19081919192bull,
	0x082b191908080808ull, 0x082b191919080819ull, 0x082b1919192b1908ull, 0x082b192b2b190808ull,
	0x082b2b0808082b08ull, 0x082b2b08082b0808ull, 0x082b2b082b191908ull, 0x082b2b2b19081908ull,
	0x1908080808080819ull, 0x1908080808081908ull, 0x1908080808190808ull, 0x1908080808192b08ull,
	0x19080808082b0819ull, 0x19080808082b1908ull, 0x1908080819080808ull, 0x1908080819082b08ull,
	0x190808081919192bull, 0x19080808192b0808ull, 0x190808082b080819ull, 0x190808082b081908ull,
	0x190808082b190808ull, 0x1908081908080808ull, 0x19080819082b0808ull, 0x19080819192b0819ull,
	0x190808192b080808ull, 0x190808192b081919ull, 0x1908082b08080819ull, 0x1908082b08190808ull,
	0x1908082b19082b08ull, 0x1908082b1919192bull, 0x1908082b192b2b08ull, 0x1908190808080808ull,
	0x1908190808082b08ull, 0x19081908082b0808ull, 0x190819082b080808ull, 0x190819082b192b19ull,
	0x190819190819082bull, 0x19081919082b1908ull, 0x1908192b08080808ull, 0x19082b0808080819ull,
	0x19082b0808081908ull, 0x19082b0808190808ull, 0x19082b0819080808ull, 0x19082b0819081919ull,
	0x19082b1908080808ull, 0x19082b1919192b08ull, 0x19082b19192b0819ull, 0x19082b192b08082bull,
	0x19082b2b19081919ull, 0x19082b2b2b190808ull, 0x1919080808080808ull, 0x1919080808082b08ull,
	0x1919080808190819ull, 0x1919080808192b19ull, 0x19190808082b0808ull, 0x191908082b080808ull,
	0x191908082b082b08ull, 0x1919081908081908ull, 0x191908191908082bull, 0x191908192b2b1908ull,
	0x1919082b2b190819ull, 0x191919082b190808ull, 0x191919082b19082bull, 0x1919191908082b2bull,
	0x1919192b08080819ull, 0x1919192b19191908ull, 0x19192b0808080808ull, 0x19192b0808190819ull,
	0x19192b0808192b19ull, 0x19192b08192b1908ull, 0x19192b1919080808ull, 0x19192b2b08082b08ull,
	0x192b080808081908ull, 0x192b080808190808ull, 0x192b080819080808ull, 0x192b0808192b2b08ull,
	0x192b081908080808ull, 0x192b081919191919ull, 0x192b082b08192b08ull, 0x192b082b192b0808ull,
	0x192b190808080808ull, 0x192b190808081919ull, 0x192b191908190808ull, 0x192b19190819082bull,
	0x192b19192b081908ull, 0x192b2b081908082bull, 0x2b08080808080808ull, 0x2b0808080808082bull,
	0x2b08080808082b2bull, 0x2b08080819080819ull, 0x2b0808082b08082bull, 0x2b08081908081908ull,
	0x2b08081908192b08ull, 0x2b08081919080808ull, 0x2b08082b08190819ull, 0x2b08190808080819ull,
	0x2b08190808081908ull, 0x2b08190808190808ull, 0x2b08190808191919ull, 0x2b08190819080808ull,
	0x2b081908192b0808ull, 0x2b08191908080808ull, 0x2b0819191908192bull, 0x2b0819192b191908ull,
	0x2b08192b08082b19ull, 0x2b08192b19080808ull, 0x2b08192b192b0808ull, 0x2b082b080808082bull,
	0x2b082b1908081908ull, 0x2b082b2b08190819ull, 0x2b19080808081908ull, 0x2b19080808190808ull,
	0x2b190808082b1908ull, 0x2b19080819080808ull, 0x2b1908082b2b0819ull, 0x2b1908190819192bull,
	0x2b1908192b080808ull, 0x2b19082b19081919ull, 0x2b19190808080808ull, 0x2b191908082b082bull,
	0x2b19190819081908ull, 0x2b19191919190819ull, 0x2b192b082b080819ull, 0x2b192b19082b0808ull,
	0x2b2b08080808082bull, 0x2b2b080819190808ull, 0x2b2b08082b081919ull, 0x2b2b081908082b19ull,
	0x2b2b082b08080808ull, 0x2b2b190808192b08ull, 0x2b2b2b0819190808ull, 0x2b2b2b1908081908ull,
};

__device__ __forceinline__ float f16(const uint8_t *p) {
	return __half2float(__ushort_as_half((unsigned short)(p[0] | p[1] << 8)));
}

// deq writes unit u (values 32u..32u+31) of row into v.
template <int T> __device__ __forceinline__ void deq(const uint8_t *row, int u, float v[32]);

template <> __device__ __forceinline__ void deq<F32>(const uint8_t *row, int u, float v[32]) {
	const float4 *p = (const float4 *)(row + 128 * u);
#pragma unroll
	for (int i = 0; i < 8; i++) {
		float4 a = p[i];
		v[4 * i] = a.x, v[4 * i + 1] = a.y, v[4 * i + 2] = a.z, v[4 * i + 3] = a.w;
	}
}

template <> __device__ __forceinline__ void deq<F16>(const uint8_t *row, int u, float v[32]) {
	const __half2 *p = (const __half2 *)(row + 64 * u);
#pragma unroll
	for (int i = 0; i < 16; i++) {
		float2 a = __half22float2(p[i]);
		v[2 * i] = a.x, v[2 * i + 1] = a.y;
	}
}

template <> __device__ __forceinline__ void deq<BF16>(const uint8_t *row, int u, float v[32]) {
	const unsigned int *p = (const unsigned int *)(row + 64 * u);
#pragma unroll
	for (int i = 0; i < 16; i++) {
		unsigned int a = p[i];
		v[2 * i] = __uint_as_float(a << 16), v[2 * i + 1] = __uint_as_float(a & 0xffff0000u);
	}
}

// Q8_0: d (f16), 32 int8; x = d·q.
template <> __device__ __forceinline__ void deq<Q8_0>(const uint8_t *row, int u, float v[32]) {
	const uint8_t *b = row + 34 * u;
	float d = f16(b);
#pragma unroll
	for (int i = 0; i < 32; i++) v[i] = d * (float)(int8_t)b[2 + i];
}

// Q4_0: d (f16), 16 bytes; value i < 16 is the low nibble of byte i, value
// 16+i the high nibble; x = d·(q−8).
template <> __device__ __forceinline__ void deq<Q4_0>(const uint8_t *row, int u, float v[32]) {
	const uint8_t *b = row + 18 * u;
	float d = f16(b);
#pragma unroll
	for (int i = 0; i < 16; i++) {
		v[i] = d * (float)((b[2 + i] & 15) - 8);
		v[16 + i] = d * (float)((b[2 + i] >> 4) - 8);
	}
}

// Q4_K: unit u is sub-block k = u%8 of super-block u/8 (144 bytes: d, dmin,
// scales[12], qs[128]); x = d·a_k·q − dmin·b_k (metalkit/q4_k.go).
template <> __device__ __forceinline__ void deq<Q4_K>(const uint8_t *row, int u, float v[32]) {
	const uint8_t *b = row + 144 * (u >> 3);
	int k = u & 7;
	const uint8_t *s = b + 4;
	int sc, m;
	if (k < 4) {
		sc = s[k] & 63, m = s[k + 4] & 63;
	} else {
		sc = (s[k + 4] & 15) | (s[k - 4] >> 6) << 4;
		m = (s[k + 4] >> 4) | (s[k] >> 6) << 4;
	}
	float d = f16(b) * sc, mn = __fmul_rn(f16(b + 2), (float)m);
	const uint8_t *q = b + 16 + 32 * (k >> 1);
	int shift = 4 * (k & 1);
#pragma unroll
	// __fmul_rn keeps the product from fusing into an FMA, so the values
	// are metalkit's to the bit (with d·q ≈ mn a fused rounding would not
	// be small next to the value).
	for (int i = 0; i < 32; i++) v[i] = __fmul_rn(d, (float)((q[i] >> shift) & 15)) - mn;
}

// Q6_K: 210-byte super-blocks (ql[128], qh[64], scales[16] int8, d f16) of
// two halves of 128 values; value 32j+l of half h (j < 4) has its low four
// bits in ql[64h + 32(j&1) + l] (high nibble when j ≥ 2), its top two in
// qh[32h + l] >> 2j, and scale scales[8h + l/16 + 2j]; x = d·s·(q−32).
template <> __device__ __forceinline__ void deq<Q6_K>(const uint8_t *row, int u, float v[32]) {
	const uint8_t *b = row + 210 * (u >> 3);
	int h = (u >> 2) & 1, j = u & 3;
	const uint8_t *ql = b + 64 * h + 32 * (j & 1), *qh = b + 128 + 32 * h;
	const int8_t *sc = (const int8_t *)(b + 192) + 8 * h + 2 * j;
	float d = f16(b + 208);
	int lshift = 4 * (j >> 1), hshift = 2 * j;
#pragma unroll
	for (int l = 0; l < 32; l++) {
		int q = ((ql[l] >> lshift) & 15) | ((qh[l] >> hshift) & 3) << 4;
		v[l] = d * (float)sc[l >> 4] * (float)(q - 32);
	}
}

// Q2_K: 84-byte super-blocks (scales[16], qs[64], d, dmin); value
// n = 128h + 32j + l has q = (qs[32h + l] >> 2j) & 3 and sub-block
// s = n/16 with scale a_s (low nibble of scales[s]) and min b_s (high);
// x = d·a_s·q − dmin·b_s (metalkit/q2_k.go). Unit u is (h, j) =
// ((u%8)/4, u%4) of super-block u/8.
template <> __device__ __forceinline__ void deq<Q2_K>(const uint8_t *row, int u, float v[32]) {
	const uint8_t *b = row + 84 * (u >> 3);
	int h = (u >> 2) & 1, j = u & 3, s0 = 2 * (u & 7);
	float d = f16(b + 80), dmin = f16(b + 82);
	const uint8_t *q = b + 16 + 32 * h;
#pragma unroll
	for (int l = 0; l < 32; l++) {
		int sc = b[s0 + (l >> 4)];
		// Unfused as in q4_k's deq: metalkit's values to the bit.
		v[l] = __fmul_rn(d * (float)(sc & 15), (float)((q[l] >> (2 * j)) & 3)) - __fmul_rn(dmin, (float)(sc >> 4));
	}
}

__device__ __forceinline__ float warp_sum(float s) {
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
	return s;
}

// f16a is f16 for a 2-byte aligned p: one 16-bit load.
__device__ __forceinline__ float f16a(const uint8_t *p) {
	return __half2float(__ushort_as_half(*(const unsigned short *)p));
}

// u16x4 loads 8 bytes from a 2-byte aligned p (Q8_0, Q4_0 and Q6_K
// blocks are 34, 18 and 210 bytes long, so their quants are no better
// aligned) as four 16-bit words, byte i in bits 8(i%2) of word i/2.
__device__ __forceinline__ void u16x4(const uint8_t *p, unsigned int w[4]) {
	const unsigned short *s = (const unsigned short *)p;
#pragma unroll
	for (int i = 0; i < 4; i++) w[i] = s[i];
}

__device__ __forceinline__ int byte8(const unsigned int w[4], int i) { return (w[i >> 1] >> (8 * (i & 1))) & 255; }

// deq8 writes values 8p..8p+7 of unit u of row into v: a quarter of what
// deq writes, with the same arithmetic per value (so the same floats), for
// matmul, where four lanes share a unit and a warp's loads cover eight
// consecutive units.
template <int T> __device__ __forceinline__ void deq8(const uint8_t *row, int u, int p, float v[8]);

template <> __device__ __forceinline__ void deq8<F32>(const uint8_t *row, int u, int p, float v[8]) {
	const float4 *q = (const float4 *)(row + 128 * u + 32 * p);
	float4 a = q[0], b = q[1];
	v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

template <> __device__ __forceinline__ void deq8<F16>(const uint8_t *row, int u, int p, float v[8]) {
	uint4 a = *(const uint4 *)(row + 64 * u + 16 * p);
	unsigned int w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
	for (int i = 0; i < 4; i++) {
		v[2 * i] = __half2float(__ushort_as_half((unsigned short)(w[i] & 0xffff)));
		v[2 * i + 1] = __half2float(__ushort_as_half((unsigned short)(w[i] >> 16)));
	}
}

template <> __device__ __forceinline__ void deq8<BF16>(const uint8_t *row, int u, int p, float v[8]) {
	uint4 a = *(const uint4 *)(row + 64 * u + 16 * p);
	unsigned int w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
	for (int i = 0; i < 4; i++) v[2 * i] = __uint_as_float(w[i] << 16), v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
}

template <> __device__ __forceinline__ void deq8<Q8_0>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 34 * u;
	float d = f16a(b);
	unsigned int w[4];
	u16x4(b + 2 + 8 * p, w);
#pragma unroll
	for (int i = 0; i < 8; i++) v[i] = d * (float)(int8_t)byte8(w, i);
}

// Q4_0: values 8p.. are the low nibbles of bytes 8p.. for p < 2, the high
// nibbles of bytes 8(p−2).. after.
template <> __device__ __forceinline__ void deq8<Q4_0>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 18 * u;
	float d = f16a(b);
	unsigned int w[4];
	u16x4(b + 2 + 8 * (p & 1), w);
	int shift = 4 * (p >> 1);
#pragma unroll
	for (int i = 0; i < 8; i++) v[i] = d * (float)(((byte8(w, i) >> shift) & 15) - 8);
}

template <> __device__ __forceinline__ void deq8<Q4_K>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 144 * (u >> 3);
	int k = u & 7;
	const uint8_t *s = b + 4;
	// deq's two cases as selects of three unconditional loads, which
	// matmul can then issue before it uses any.
	int a = s[k + 4], c = s[k], e = s[k & 3];
	int sc = k < 4 ? c & 63 : (a & 15) | (e >> 6) << 4;
	int m = k < 4 ? a & 63 : (a >> 4) | (c >> 6) << 4;
	float d = f16a(b) * sc, mn = __fmul_rn(f16a(b + 2), (float)m);
	// Super-blocks are 144 bytes, so the quants' 8 bytes are 8-aligned.
	uint2 q = *(const uint2 *)(b + 16 + 32 * (k >> 1) + 8 * p);
	int shift = 4 * (k & 1);
#pragma unroll
	for (int i = 0; i < 8; i++) {
		int byte = ((i < 4 ? q.x : q.y) >> (8 * (i & 3))) & 255;
		v[i] = __fmul_rn(d, (float)((byte >> shift) & 15)) - mn;
	}
}

template <> __device__ __forceinline__ void deq8<Q6_K>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 210 * (u >> 3);
	int h = (u >> 2) & 1, j = u & 3;
	unsigned int ql[4], qh[4];
	u16x4(b + 64 * h + 32 * (j & 1) + 8 * p, ql);
	u16x4(b + 128 + 32 * h + 8 * p, qh);
	float s = (float)((const int8_t *)(b + 192))[8 * h + 2 * j + (p >> 1)];
	float d = f16a(b + 208);
	int lshift = 4 * (j >> 1), hshift = 2 * j;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		int q = ((byte8(ql, i) >> lshift) & 15) | ((byte8(qh, i) >> hshift) & 3) << 4;
		v[i] = d * s * (float)(q - 32);
	}
}

template <> __device__ __forceinline__ void deq8<Q2_K>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 84 * (u >> 3);
	int h = (u >> 2) & 1, j = u & 3;
	float d = f16a(b + 80), dmin = f16a(b + 82);
	int sc = b[2 * (u & 7) + (p >> 1)];
	// Super-blocks are 84 bytes, so the quants' 8 bytes are 4-aligned.
	const unsigned int *q = (const unsigned int *)(b + 16 + 32 * h + 8 * p);
	unsigned int q0 = q[0], q1 = q[1];
	float a = d * (float)(sc & 15), mn = __fmul_rn(dmin, (float)(sc >> 4));
#pragma unroll
	for (int i = 0; i < 8; i++) {
		int byte = ((i < 4 ? q0 : q1) >> (8 * (i & 3))) & 255;
		v[i] = __fmul_rn(a, (float)((byte >> (2 * j)) & 3)) - mn;
	}
}

// IQ2_XXS: 66-byte blocks of 256 values (d f16, then 8 sub-blocks of 8
// bytes, two u32 w0, w1); unit u is sub-block u%8 of block u/8, and its
// value group p (8 values) has codebook entry w0 byte p, sign selector z =
// w1 bits 7p..7p+6 (bit 7 of the mask: z's parity), scale s = w1 >> 28:
// x = d·(2s+1)/8 · grid · (−1 where the mask's bit is set)
// (metalkit/iq2_xxs.go, the same float32 operations). Blocks are 66 bytes,
// so the words are only 2-aligned.
template <> __device__ __forceinline__ void deq8<IQ2_XXS>(const uint8_t *row, int u, int p, float v[8]) {
	const uint8_t *b = row + 66 * (u >> 3);
	unsigned int w[4];
	u16x4(b + 2 + 8 * (u & 7), w);
	unsigned int w0 = w[0] | w[1] << 16, w1 = w[2] | w[3] << 16;
	float db = f16a(b) * (float)(2 * (w1 >> 28) + 1) / 8;
	unsigned long long g = __ldg(&iq2xxs_grid[(w0 >> (8 * p)) & 255]);
	unsigned int z = (w1 >> (7 * p)) & 127, signs = z | (__popc(z) & 1) << 7;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		float m = db * (float)((unsigned int)(g >> (8 * i)) & 255);
		v[i] = (signs >> i) & 1 ? -m : m;
	}
}

// deq<IQ2_XXS> (embed) is its four groups.
template <> __device__ __forceinline__ void deq<IQ2_XXS>(const uint8_t *row, int u, float v[32]) {
#pragma unroll
	for (int p = 0; p < 4; p++) deq8<IQ2_XXS>(row, u, p, v + 8 * p);
}

__device__ __forceinline__ float dot8(const float v[8], float4 a, float4 b) {
	return v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
}

// matmul: out[c·rows + r] = w[r]·x[c·cols:] for c < batch. Float rows
// whose cols is not a multiple of 32 come padded with zeros to whole units
// (rowBytes is the padded stride). One warp per row; four lanes share a
// 32-value unit, eight values each, so one load instruction of the warp
// reads eight consecutive units (272 contiguous bytes of Q8_0) and the
// activations it multiplies (a contiguous 1 KiB), coalesced; a lane loads
// four units before using them, so that it has several loads in flight (a
// 2048-row matrix gives only a few warps per SM). Each lane dequantises its values
// once and uses them for up to eight columns at a time, so a batch reads
// the weights ceil(batch/8) times.
template <int T>
__device__ void matmul(float *out, const uint8_t *w, const float *x, int rows, int cols, int batch, long long rowBytes) {
	int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
	if (r >= rows) return;
	const uint8_t *row = w + r * rowBytes;
	int units = (cols + 31) >> 5, p = lane & 3;
	// Only float rows can end inside a unit: quantised rows are whole blocks.
	bool aligned = (T != F32 && T != F16 && T != BF16) || (cols & 31) == 0;
	for (int c0 = 0; c0 < batch; c0 += 8) {
		int nc = min(8, batch - c0);
		float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
		// Four units' weights are loaded before any is used, so a lane
		// has four loads in flight rather than one: past the row's end
		// the last unit is loaded again (no branch to keep the loads
		// apart) and not used.
		for (int u0 = lane >> 2; u0 < units; u0 += 32) {
			float v[4][8];
#pragma unroll
			for (int k = 0; k < 4; k++) deq8<T>(row, min(u0 + 8 * k, units - 1), p, v[k]);
#pragma unroll
			for (int k = 0; k < 4; k++) {
				if (u0 + 8 * k >= units) break;
				int i0 = 32 * (u0 + 8 * k) + 8 * p;
#pragma unroll
				for (int c = 0; c < 8; c++) {
					if (c < nc) {
						const float *xr = x + (long long)(c0 + c) * cols + i0;
						float s = 0;
						if (aligned) {
							s = dot8(v[k], ((const float4 *)xr)[0], ((const float4 *)xr)[1]);
						} else {
							// A row padded past cols (f32/f16/bf16
							// only): the padding's weights are 0, but
							// x ends.
							int m = min(8, cols - i0);
							for (int i = 0; i < m; i++) s += v[k][i] * xr[i];
						}
						acc[c] += s;
					}
				}
			}
		}
#pragma unroll
		for (int c = 0; c < 8; c++) {
			if (c < nc) { // the same for the whole warp
				float s = warp_sum(acc[c]);
				if (lane == 0) out[(long long)(c0 + c) * rows + r] = s;
			}
		}
	}
}

// matvec is matmul for one column (decode), on quantised rows (whole
// units): the same sums in the same order, in a kernel of its own so that
// it needs few registers (more warps per SM to hide the loads' latency)
// and loads the four units' activations together with their weights.
template <int T>
__device__ void matvec(float *out, const uint8_t *w, const float *x, int rows, int cols, long long rowBytes) {
	int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
	if (r >= rows) return;
	const uint8_t *row = w + r * rowBytes;
	int units = cols >> 5, p = lane & 3;
	float acc = 0;
	for (int u0 = lane >> 2; u0 < units; u0 += 32) {
		float v[4][8];
		float4 xa[4], xb[4];
#pragma unroll
		for (int k = 0; k < 4; k++) {
			int u = min(u0 + 8 * k, units - 1);
			deq8<T>(row, u, p, v[k]);
			const float4 *xr = (const float4 *)(x + 32 * u + 8 * p);
			xa[k] = xr[0], xb[k] = xr[1];
		}
#pragma unroll
		for (int k = 0; k < 4; k++) {
			float s = dot8(v[k], xa[k], xb[k]);
			if (u0 + 8 * k < units) acc += s;
		}
	}
	acc = warp_sum(acc);
	if (lane == 0) out[r] = acc;
}

// matvec_s is matvec with the weights read in 16-byte loads, two rows a
// warp: each row is read 32 units at a time (CB bytes, a whole number of
// 16-byte pieces), each lane loading pieces lane, lane+32, ... of the
// chunk into registers and then into its warp's part of shared memory,
// from where deq8 reads them as matvec reads global memory, with the same
// lanes on the same units and the same sums in the same order (so the
// same bits). matvec's 2-byte loads (Q8_0's 34-byte blocks are only
// 2-aligned) cost five load instructions per lane per unit; here a
// 1,088-byte Q8_0 chunk is three per lane. The next chunk's loads are
// issued before this chunk's arithmetic. A lane's activations serve both
// rows: for Q4_K, 4.5 bits a weight, the f32 activations otherwise move
// 7 times the weights' bytes through L1. Rows must start 16-byte aligned
// (rowBytes % 16 == 0).
//
// With SW (MatMulSwiGLU), a warp's two rows are row r of w (the gate) and
// row r of w2 (up), r = blk·4 + warp, and it writes out[r] =
// silu(gate·x)·(up·x) with swiglu's formula: the bits of the two matvecs
// and SwiGLU.
template <int T, int CB, bool SW = false>
__device__ void matvec_s(float *out, const uint8_t *w, const float *x, int rows, int cols, long long rowBytes, int blk,
			 const uint8_t *w2 = nullptr) {
	constexpr int NP = CB / 16, PER = (NP + 31) / 32, R = 2; // pieces of a chunk; per lane; rows a warp
	__shared__ __align__(16) uint4 stage[4][R][NP];
	int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int r0 = SW ? blk * 4 + warp : (blk * 4 + warp) * R;
	if (r0 >= rows) return;
	int nr = min(R, rows - r0);
	const uint4 *row[R];
#pragma unroll
	for (int j = 0; j < R; j++) row[j] = (const uint4 *)(w + (long long)min(r0 + j, rows - 1) * rowBytes);
	if (SW) row[0] = (const uint4 *)(w + (long long)r0 * rowBytes), row[1] = (const uint4 *)(w2 + (long long)r0 * rowBytes);
	int units = cols >> 5, p = lane & 3, chunks = (units + 31) >> 5;
	long long rowPieces = rowBytes / 16;
	uint4 buf[R][PER];
#pragma unroll
	for (int j = 0; j < R; j++) {
#pragma unroll
		for (int i = 0; i < PER; i++) {
			int k = lane + 32 * i;
			if (k < NP && k < rowPieces) buf[j][i] = row[j][k];
		}
	}
	float acc[R];
#pragma unroll
	for (int j = 0; j < R; j++) acc[j] = 0;
	for (int c = 0; c < chunks; c++) {
		__syncwarp();
#pragma unroll
		for (int j = 0; j < R; j++) {
#pragma unroll
			for (int i = 0; i < PER; i++) {
				int k = lane + 32 * i;
				if (k < NP) stage[warp][j][k] = buf[j][i];
			}
		}
		__syncwarp();
		if (c + 1 < chunks) {
#pragma unroll
			for (int j = 0; j < R; j++) {
#pragma unroll
				for (int i = 0; i < PER; i++) {
					long long k = (long long)(c + 1) * NP + lane + 32 * i;
					if (lane + 32 * i < NP && k < rowPieces) buf[j][i] = row[j][k];
				}
			}
		}
		int base = 32 * c, left = units - base; // units of this chunk: min(32, left)
		int u0 = lane >> 2;
		float4 xa[4], xb[4];
#pragma unroll
		for (int k = 0; k < 4; k++) {
			int u = min(u0 + 8 * k, left - 1);
			const float4 *xr = (const float4 *)(x + 32 * (base + u) + 8 * p);
			xa[k] = xr[0], xb[k] = xr[1];
		}
#pragma unroll
		for (int j = 0; j < R; j++) {
			float v[4][8];
#pragma unroll
			for (int k = 0; k < 4; k++) deq8<T>((const uint8_t *)stage[warp][j], min(u0 + 8 * k, left - 1), p, v[k]);
#pragma unroll
			for (int k = 0; k < 4; k++) {
				float s = dot8(v[k], xa[k], xb[k]);
				if (u0 + 8 * k < left) acc[j] += s;
			}
		}
	}
	if (SW) {
		float g = warp_sum(acc[0]), u = warp_sum(acc[1]);
		if (lane == 0) out[r0] = g / (1 + expf(-g)) * u;
	} else {
#pragma unroll
		for (int j = 0; j < R; j++) {
			float s = warp_sum(acc[j]);
			if (lane == 0 && j < nr) out[r0 + j] = s;
		}
	}
}

// matvecs_s is matvec_s for up to four matrices of one type and width
// times the same x (MatMuls), in one launch: blocks in turn over matrix 0's
// rows (8 a block), then matrix 1's, ...; rows 0 ends the list.
template <int T, int CB>
__device__ void matvecs_s(const float *x, int cols, long long rowBytes, float *o0, const uint8_t *w0, int rows0,
			  float *o1, const uint8_t *w1, int rows1, float *o2, const uint8_t *w2, int rows2, float *o3,
			  const uint8_t *w3, int rows3) {
	int b = blockIdx.x, nb;
	if (b < (nb = (rows0 + 7) >> 3)) return matvec_s<T, CB>(o0, w0, x, rows0, cols, rowBytes, b);
	b -= nb;
	if (b < (nb = (rows1 + 7) >> 3)) return matvec_s<T, CB>(o1, w1, x, rows1, cols, rowBytes, b);
	b -= nb;
	if (b < (nb = (rows2 + 7) >> 3)) return matvec_s<T, CB>(o2, w2, x, rows2, cols, rowBytes, b);
	b -= nb;
	if (b < (rows3 + 7) >> 3) matvec_s<T, CB>(o3, w3, x, rows3, cols, rowBytes, b);
}

#define MATVEC_S(name, T, CB)                                                                                           \
	extern "C" __global__ void matvec_s_##name(float *out, const uint8_t *w, const float *x, int rows, int cols,     \
						   long long rowBytes) {                                                 \
		matvec_s<T, CB>(out, w, x, rows, cols, rowBytes, blockIdx.x);                                            \
	}                                                                                                                \
	extern "C" __global__ void matvecs_s_##name(const float *x, int cols, long long rowBytes, float *o0,             \
						    const uint8_t *w0, int rows0, float *o1, const uint8_t *w1,          \
						    int rows1, float *o2, const uint8_t *w2, int rows2, float *o3,       \
						    const uint8_t *w3, int rows3) {                                      \
		matvecs_s<T, CB>(x, cols, rowBytes, o0, w0, rows0, o1, w1, rows1, o2, w2, rows2, o3, w3, rows3);        \
	}                                                                                                                \
	extern "C" __global__ void matvec_swiglu_s_##name(float *out, const uint8_t *gate, const uint8_t *up,            \
							  const float *x, int rows, int cols, long long rowBytes) {      \
		matvec_s<T, CB, true>(out, gate, x, rows, cols, rowBytes, blockIdx.x, up);                              \
	}
MATVEC_S(q8_0, Q8_0, 1088)
MATVEC_S(q4_0, Q4_0, 576)
MATVEC_S(q4_k, Q4_K, 576)
MATVEC_S(q2_k, Q2_K, 336)
MATVEC_S(f16, F16, 2048)

// embed: out[i·cols:] = row tokens[i] of w, one block per token.
template <int T> __device__ void embed(float *out, const uint8_t *w, const int *tokens, int cols, long long rowBytes) {
	const uint8_t *row = w + tokens[blockIdx.x] * rowBytes;
	float *o = out + (long long)blockIdx.x * cols;
	for (int u = threadIdx.x; u < (cols + 31) >> 5; u += blockDim.x) {
		float v[32];
		deq<T>(row, u, v);
#pragma unroll
		for (int i = 0; i < 32; i++)
			if (32 * u + i < cols) o[32 * u + i] = v[i];
	}
}

// experts: MatMulExperts, every (row, expert) pair of an MoE step in one
// launch. w is a stacked expert tensor (experts of rows rows each, whole
// units); block (x, y) does rows 4x..4x+3 of group y, one warp per row as
// matmul. meta holds gmax groups (expert, start, count), one per expert
// the pairs use (count 0 past the last: those blocks return), then the
// pairs' indices grouped by expert, group y's at start..start+count−1;
// pair i reads x row i/per and writes out row i. A group's pairs go eight
// at a time through matmul's loop, so an expert's rows are read once per
// eight of its pairs, with matmul's sums in matmul's order.
template <int T>
__device__ void experts(float *out, const uint8_t *w, const float *x, const int *meta, int rows, int cols, int per,
			int gmax, long long rowBytes) {
	const int *grp = meta + 3 * blockIdx.y;
	int e = grp[0], n = grp[2];
	int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
	if (n == 0 || r >= rows) return;
	const int *pairs = meta + 3 * gmax + grp[1];
	const uint8_t *row = w + ((long long)e * rows + r) * rowBytes;
	int units = cols >> 5, p = lane & 3;
	for (int c0 = 0; c0 < n; c0 += 8) {
		int nc = min(8, n - c0);
		const float *xc[8];
#pragma unroll
		for (int c = 0; c < 8; c++) xc[c] = x + (long long)(pairs[c0 + min(c, nc - 1)] / per) * cols;
		float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
		for (int u0 = lane >> 2; u0 < units; u0 += 32) {
			float v[4][8];
#pragma unroll
			for (int k = 0; k < 4; k++) deq8<T>(row, min(u0 + 8 * k, units - 1), p, v[k]);
#pragma unroll
			for (int k = 0; k < 4; k++) {
				if (u0 + 8 * k >= units) break;
				int i0 = 32 * (u0 + 8 * k) + 8 * p;
#pragma unroll
				for (int c = 0; c < 8; c++) {
					if (c < nc) {
						const float4 *xr = (const float4 *)(xc[c] + i0);
						float s = dot8(v[k], xr[0], xr[1]);
						acc[c] += s;
					}
				}
			}
		}
#pragma unroll
		for (int c = 0; c < 8; c++) {
			if (c < nc) {
				float s = warp_sum(acc[c]);
				if (lane == 0) out[(long long)pairs[c0 + c] * rows + r] = s;
			}
		}
	}
}

// experts_vec is experts for a few pairs (decode: a token's K experts,
// mostly one pair per group): matvec's lean loop and sums, once per pair of
// the group (a second pair of an expert reads its rows again, from cache).
template <int T>
__device__ void experts_vec(float *out, const uint8_t *w, const float *x, const int *meta, int rows, int cols,
			    int per, int gmax, long long rowBytes) {
	const int *grp = meta + 3 * blockIdx.y;
	int e = grp[0], n = grp[2];
	int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
	if (n == 0 || r >= rows) return;
	const int *pairs = meta + 3 * gmax + grp[1];
	const uint8_t *row = w + ((long long)e * rows + r) * rowBytes;
	int units = cols >> 5, p = lane & 3;
	for (int j = 0; j < n; j++) {
		int i = pairs[j];
		const float *xi = x + (long long)(i / per) * cols;
		float acc = 0;
		for (int u0 = lane >> 2; u0 < units; u0 += 32) {
			float v[4][8];
			float4 xa[4], xb[4];
#pragma unroll
			for (int k = 0; k < 4; k++) {
				int u = min(u0 + 8 * k, units - 1);
				deq8<T>(row, u, p, v[k]);
				const float4 *xr = (const float4 *)(xi + 32 * u + 8 * p);
				xa[k] = xr[0], xb[k] = xr[1];
			}
#pragma unroll
			for (int k = 0; k < 4; k++) {
				float s = dot8(v[k], xa[k], xb[k]);
				if (u0 + 8 * k < units) acc += s;
			}
		}
		acc = warp_sum(acc);
		if (lane == 0) out[(long long)i * rows + r] = acc;
	}
}

#define WEIGHT_KERNELS(name, T)                                                                                    \
	extern "C" __global__ void matmul_##name(float *out, const uint8_t *w, const float *x, int rows, int cols,        \
						 int batch, long long rowBytes) {                                        \
		matmul<T>(out, w, x, rows, cols, batch, rowBytes);                                                       \
	}                                                                                                                \
	extern "C" __global__ void matvec_##name(float *out, const uint8_t *w, const float *x, int rows, int cols,        \
						 long long rowBytes) {                                                   \
		matvec<T>(out, w, x, rows, cols, rowBytes);                                                              \
	}                                                                                                                \
	extern "C" __global__ void embed_##name(float *out, const uint8_t *w, const int *tokens, int cols,               \
						long long rowBytes) {                                                    \
		embed<T>(out, w, tokens, cols, rowBytes);                                                                \
	}

// The expert kernels, for the types deepseek4's expert tensors come in.
#define EXPERT_KERNELS(name, T)                                                                                    \
	extern "C" __global__ void experts_##name(float *out, const uint8_t *w, const float *x, const int *meta,          \
						  int rows, int cols, int per, int gmax, long long rowBytes) {           \
		experts<T>(out, w, x, meta, rows, cols, per, gmax, rowBytes);                                            \
	}                                                                                                                \
	extern "C" __global__ void experts_vec_##name(float *out, const uint8_t *w, const float *x, const int *meta,     \
						      int rows, int cols, int per, int gmax, long long rowBytes) {       \
		experts_vec<T>(out, w, x, meta, rows, cols, per, gmax, rowBytes);                                        \
	}

WEIGHT_KERNELS(f32, F32)
WEIGHT_KERNELS(f16, F16)
WEIGHT_KERNELS(bf16, BF16)
WEIGHT_KERNELS(q8_0, Q8_0)
WEIGHT_KERNELS(q4_0, Q4_0)
WEIGHT_KERNELS(q4_k, Q4_K)
WEIGHT_KERNELS(q6_k, Q6_K)
WEIGHT_KERNELS(q2_k, Q2_K)
WEIGHT_KERNELS(iq2_xxs, IQ2_XXS)

EXPERT_KERNELS(f32, F32)
EXPERT_KERNELS(f16, F16)
EXPERT_KERNELS(q8_0, Q8_0)
EXPERT_KERNELS(q4_k, Q4_K)
EXPERT_KERNELS(q2_k, Q2_K)
EXPERT_KERNELS(iq2_xxs, IQ2_XXS)

// ---- Batches on the tensor cores: mmaf16 ----
//
// MatMul of 8 or more columns (prefill; several sessions decoding
// together) as mma.sync m16n8k16 products of f16 operands with f32
// accumulators, out[c·rows + r] = Σ_k w[r][k]·x[c][k].
//
// Why f16 operands, not int8 (activations quantised per block, s8×s8
// products as the CPU device and llama.cpp's MMQ do): every weight type
// already has deq8, which yields 8 values of a unit in f32, so one
// template covers every quantised format (and F16) by rounding those to
// f16, with no integer path per format (Q4_K's and Q2_K's mins, Q6_K's
// signed scales, IQ2_XXS's codebook) to write and verify; f16 keeps 11
// significant bits of a weight and of an activation, so the product is
// closer to the f32 one than 8-bit activations get (the CPU's step is
// amax/127 of a block); and the work per weight byte stays what the
// matvec's is, dequantised once per block of BN columns. The int8 units
// do twice the f16 rate, which matters only once a batch is compute
// bound (prefill of hundreds of tokens), and the f16 rate on an H100's
// mma.sync path is well above what a 1B llama's prefill target needs
// (~120 TFLOP/s at 46,500 tok/s). Activations past f16's range (65504)
// would become infinite: a llama's normed inputs and FFN activations are
// far below it.
//
// No shared memory for weights: the dot product's order over k is free,
// so each lane's A fragment is taken to be the 8 values deq8 gives it.
// In a 32-value unit, lane (g, t) (g = lane/4, t = lane%4) dequantises
// values 8t..8t+7 of rows g and g+8 of its 16-row tile; the unit's two
// k16 steps take values 8t+0..3 (step 0) and 8t+4..7 (step 1) as the
// fragment's k = 2t, 2t+1, 2t+8, 2t+9, and the activations' B fragment
// is permuted the same way (x values 8t..8t+7 of column g, one 16-byte
// read of the staged tile). The activations are staged by the whole
// block per chunk of KC units, rounded to f16, in rows padded so that the
// fragments' 16-byte reads hit distinct banks.
//
// Shape of a block: 4 warps as RG = 4/KW row groups × KW slices of each
// chunk's units; a warp does MT 16-row tiles × NT 8-column tiles, so a
// block covers BM = 16·MT·RG rows × BN = 8·NT columns. KW > 1 splits the
// sum over k between warps (small batches: more blocks on a small
// matrix, to keep every SM streaming weights); their partial sums are
// added in shared memory in warp order, so the result does not depend on
// timing. The sums' order is fixed by the shape, so a recording replays
// the same bits.

__device__ __forceinline__ unsigned int h2bits(float lo, float hi) {
	__half2 h = __floats2half2_rn(lo, hi);
	return *(unsigned int *)&h;
}

// mma16816 is c += a·b for one m16n8k16 tile (row-major A, column-major
// B, f16 operands, f32 accumulators).
__device__ __forceinline__ void mma16816(float c[4], const unsigned int a[4], unsigned int b0, unsigned int b1) {
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
		     "{%0,%1,%2,%3};"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int T, int MT, int NT, int KW>
__device__ void mmaf16(float *out, const uint8_t *w, const float *x, int rows, int cols, int batch, long long rowBytes) {
	constexpr int RG = 4 / KW, BM = 16 * MT * RG, BN = 8 * NT;
	constexpr int KC = 4 * KW;	    // units staged per chunk
	constexpr int S = 32 * KC + 32;	    // a staged column's stride, in halves
	constexpr int XS = BN * S / 2;	    // the staged tile, in 4-byte words
	constexpr int RED = (KW - 1) * RG * 32 * MT * NT * 4; // partial sums, in floats
	__shared__ __align__(16) unsigned int sm[XS > RED ? XS : RED];
	int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
	int rg = warp % RG, ks = warp / RG;
	int m0 = blockIdx.x * BM + 16 * MT * rg, n0 = blockIdx.y * BN;
	int units = cols >> 5;
	const uint8_t *wr[MT][2];
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int h = 0; h < 2; h++) wr[mt][h] = w + (long long)min(m0 + 16 * mt + 8 * h + g, rows - 1) * rowBytes;
	}
	float acc[MT][NT][4];
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int nt = 0; nt < NT; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0;
	}
	for (int c0 = 0; c0 < units; c0 += KC) {
		// This warp's weights for the chunk (units c0+4ks..+3), loaded
		// before the barrier so that they are in flight while the
		// activations are staged. a[unit][mt][step][reg].
		unsigned int a[4][MT][2][4];
#pragma unroll
		for (int uu = 0; uu < 4; uu++) {
			int u = c0 + 4 * ks + uu;
#pragma unroll
			for (int mt = 0; mt < MT; mt++) {
#pragma unroll
				for (int h = 0; h < 2; h++) {
					float v[8];
					deq8<T>(wr[mt][h], min(u, units - 1), t, v);
					if (u >= units) {
#pragma unroll
						for (int i = 0; i < 8; i++) v[i] = 0;
					}
					a[uu][mt][0][h] = h2bits(v[0], v[1]), a[uu][mt][0][2 + h] = h2bits(v[2], v[3]);
					a[uu][mt][1][h] = h2bits(v[4], v[5]), a[uu][mt][1][2 + h] = h2bits(v[6], v[7]);
				}
			}
		}
		// Stage columns n0..n0+BN−1, units c0..c0+KC−1 of x as f16 (zeros
		// past the batch or the row); consecutive threads read
		// consecutive 32-byte pieces of a column.
		__syncthreads(); // the last chunk's fragments are read
		for (int i = threadIdx.x; i < BN * KC * 4; i += 128) { // 128 threads (__launch_bounds__)
			int col = i / (KC * 4), piece = i % (KC * 4);
			int n = n0 + col, u = c0 + piece / 4;
			uint4 hv = make_uint4(0, 0, 0, 0);
			if (n < batch && u < units) {
				const float4 *xp = (const float4 *)(x + (long long)n * cols + 32 * c0 + 8 * piece);
				float4 p = xp[0], q = xp[1];
				hv = make_uint4(h2bits(p.x, p.y), h2bits(p.z, p.w), h2bits(q.x, q.y), h2bits(q.z, q.w));
			}
			*(uint4 *)&sm[(col * S + 8 * piece) / 2] = hv;
		}
		__syncthreads();
#pragma unroll
		for (int uu = 0; uu < 4; uu++) {
#pragma unroll
			for (int nt = 0; nt < NT; nt++) {
				uint4 b = *(const uint4 *)&sm[((8 * nt + g) * S + 32 * (4 * ks + uu) + 8 * t) / 2];
#pragma unroll
				for (int mt = 0; mt < MT; mt++) {
					mma16816(acc[mt][nt], a[uu][mt][0], b.x, b.y);
					mma16816(acc[mt][nt], a[uu][mt][1], b.z, b.w);
				}
			}
		}
	}
	if (KW > 1) {
		// Warps ks > 0 hand their sums to warp 0 of their row group,
		// which adds them in ks order.
		float *red = (float *)sm;
		constexpr int per = MT * NT * 4;
		__syncthreads();
		if (ks > 0) {
			float *r = red + ((ks - 1) * RG + rg) * 32 * per;
#pragma unroll
			for (int mt = 0; mt < MT; mt++) {
#pragma unroll
				for (int nt = 0; nt < NT; nt++) {
#pragma unroll
					for (int i = 0; i < 4; i++) r[((mt * NT + nt) * 4 + i) * 32 + lane] = acc[mt][nt][i];
				}
			}
		}
		__syncthreads();
		if (ks > 0) return;
		for (int k = 1; k < KW; k++) {
			const float *r = red + ((k - 1) * RG + rg) * 32 * per;
#pragma unroll
			for (int mt = 0; mt < MT; mt++) {
#pragma unroll
				for (int nt = 0; nt < NT; nt++) {
#pragma unroll
					for (int i = 0; i < 4; i++) acc[mt][nt][i] += r[((mt * NT + nt) * 4 + i) * 32 + lane];
				}
			}
		}
	}
	// Lane (g, t) holds rows g and g+8, columns 2t and 2t+1 of each tile.
#pragma unroll
	for (int mt = 0; mt < MT; mt++) {
#pragma unroll
		for (int nt = 0; nt < NT; nt++) {
#pragma unroll
			for (int i = 0; i < 4; i++) {
				int m = m0 + 16 * mt + g + 8 * (i >> 1), n = n0 + 8 * nt + 2 * t + (i & 1);
				if (m < rows && n < batch) out[(long long)n * rows + m] = acc[mt][nt][i];
			}
		}
	}
}

// The block shapes MatMul picks from by batch (device.go's mmaShapes):
// name, MT, NT, KW.
#define MMA_KERNEL(shape, name, T, MT, NT, KW)                                                                      \
	extern "C" __global__ void __launch_bounds__(128) mma_##shape##_##name(float *out, const uint8_t *w, const float *x, \
									int rows, int cols, int batch, long long rowBytes) { \
		mmaf16<T, MT, NT, KW>(out, w, x, rows, cols, batch, rowBytes);                                            \
	}
#define MMA_KERNELS(name, T)                   \
	MMA_KERNEL(n8, name, T, 1, 1, 4)        \
	MMA_KERNEL(n16, name, T, 1, 2, 4)       \
	MMA_KERNEL(n64, name, T, 1, 8, 2)       \
	MMA_KERNEL(n64l, name, T, 2, 8, 1)

MMA_KERNELS(f16, F16)
MMA_KERNELS(q8_0, Q8_0)
MMA_KERNELS(q4_0, Q4_0)
MMA_KERNELS(q4_k, Q4_K)
MMA_KERNELS(q6_k, Q6_K)
MMA_KERNELS(q2_k, Q2_K)
MMA_KERNELS(iq2_xxs, IQ2_XXS)

// block_sum returns the sum of every thread's s to all threads of a block
// of at most 1024 threads; sh holds 32 floats.
__device__ float block_sum(float s, float *sh) {
	int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
	s = warp_sum(s);
	__syncthreads();
	if (lane == 0) sh[wid] = s;
	__syncthreads();
	s = lane < (blockDim.x + 31) >> 5 ? sh[lane] : 0;
	return warp_sum(s);
}

__device__ float block_max(float s, float *sh) {
	int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) s = fmaxf(s, __shfl_xor_sync(0xffffffffu, s, o));
	__syncthreads();
	if (lane == 0) sh[wid] = s;
	__syncthreads();
	s = lane < (blockDim.x + 31) >> 5 ? sh[lane] : -INFINITY;
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) s = fmaxf(s, __shfl_xor_sync(0xffffffffu, s, o));
	return s;
}

// rmsnorm: one block per row of n values; out = x·w/sqrt(mean(x²)+eps).
// A thread's first 8 values are loaded together into registers (a
// 2,048-value row is 8 a thread of 256), so their loads are in flight at
// once rather than one after another; the sum's order is that of a
// plain loop over i = threadIdx.x, + blockDim.x, ....
extern "C" __global__ void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
	__shared__ float sh[32];
	const float *xr = x + (long long)blockIdx.x * n;
	float *o = out + (long long)blockIdx.x * n;
	float v[8], s = 0;
#pragma unroll
	for (int k = 0; k < 8; k++) {
		int i = threadIdx.x + k * blockDim.x;
		v[k] = i < n ? xr[i] : 0;
	}
#pragma unroll
	for (int k = 0; k < 8; k++) s += v[k] * v[k]; // past n: adds 0, exactly
	for (int i = threadIdx.x + 8 * blockDim.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
	s = block_sum(s, sh);
	float inv = (float)(1.0 / sqrt((double)(s / (float)n + eps)));
#pragma unroll
	for (int k = 0; k < 8; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < n) o[i] = v[k] * inv * w[i];
	}
	for (int i = threadIdx.x + 8 * blockDim.x; i < n; i += blockDim.x) o[i] = xr[i] * inv * w[i];
}

// add_rmsnorm: one block per row: x += r (a residual), then out as rmsnorm
// computes it from x, with the same sums in the same order (so the bits of
// add then rmsnorm). out may be r: each thread reads its r[i] before the
// barrier in block_sum and writes out[i] after it.
extern "C" __global__ void add_rmsnorm(float *out, float *x, const float *r, const float *w, int n, float eps) {
	__shared__ float sh[32];
	float *xr = x + (long long)blockIdx.x * n;
	const float *rr = r + (long long)blockIdx.x * n;
	float *o = out + (long long)blockIdx.x * n;
	float v[8], s = 0;
#pragma unroll
	for (int k = 0; k < 8; k++) {
		int i = threadIdx.x + k * blockDim.x;
		v[k] = i < n ? xr[i] + rr[i] : 0;
	}
#pragma unroll
	for (int k = 0; k < 8; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < n) xr[i] = v[k];
		s += v[k] * v[k];
	}
	for (int i = threadIdx.x + 8 * blockDim.x; i < n; i += blockDim.x) {
		float a = xr[i] + rr[i];
		xr[i] = a;
		s += a * a;
	}
	s = block_sum(s, sh);
	float inv = (float)(1.0 / sqrt((double)(s / (float)n + eps)));
#pragma unroll
	for (int k = 0; k < 8; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < n) o[i] = v[k] * inv * w[i];
	}
	for (int i = threadIdx.x + 8 * blockDim.x; i < n; i += blockDim.x) o[i] = xr[i] * inv * w[i];
}

// softmax: one block per row of n values, in place.
extern "C" __global__ void softmax(float *x, int n) {
	__shared__ float sh[32];
	float *xr = x + (long long)blockIdx.x * n;
	float m = -INFINITY;
	for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, xr[i]);
	m = block_max(m, sh);
	float s = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float e = expf(xr[i] - m);
		xr[i] = e;
		s += e;
	}
	float inv = 1 / block_sum(s, sh);
	for (int i = threadIdx.x; i < n; i += blockDim.x) xr[i] *= inv;
}

// add: out[i] = a[i] + b[i] (residuals).
extern "C" __global__ void add(float *out, const float *a, const float *b, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) out[i] = a[i] + b[i];
}

// swiglu: out[i] = silu(gate[i])·up[i].
extern "C" __global__ void swiglu(float *out, const float *gate, const float *up, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		float g = gate[i];
		out[i] = g / (1 + expf(-g)) * up[i];
	}
}

// clamped_swiglu: out[i] = silu(min(gate[i], lim))·clamp(up[i], ±lim);
// lim ≤ 0 clamps nothing (deepseek4's experts).
extern "C" __global__ void clamped_swiglu(float *out, const float *gate, const float *up, int n, float lim) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		float g = gate[i], u = up[i];
		if (lim > 0) g = fminf(g, lim), u = fminf(fmaxf(u, -lim), lim);
		out[i] = g / (1 + expf(-g)) * u;
	}
}

// rope: blocks (row, y) for a row of heads·headDim values at position
// pos[row]; a thread per rotated pair (block y's), its angle
// θ = pos·scale·base^(−2i/dim)/factor_i in double precision as
// metalkit.RopeFactors computes it, with base^(−2i/dim) from pw (the host
// computes it with Go's math.Pow, as RopeFactors does: the same doubles,
// and no double pow on the GPU, which cost a decode step's two ropes a
// layer about a microsecond each). A thread does one pair, not a loop of
// them: the double sincos takes about that long again, which a decode
// step's single row would otherwise pay once per pair a thread has.
extern "C" __global__ void rope(float *x, const int *pos, const float *factors, int heads, int headDim, int dim,
				float base, float scale, int neox, const double *pw) {
	float *xr = x + (long long)blockIdx.x * heads * headDim;
	int half = dim >> 1;
	int t = blockIdx.y * blockDim.x + threadIdx.x;
	if (t < heads * half) {
		int h = t / half, i = t % half;
		double theta = (double)pos[blockIdx.x] * (double)scale * pw[i];
		if (factors) theta /= (double)factors[i];
		double sn, cs;
		sincos(theta, &sn, &cs);
		float s = (float)sn, c = (float)cs;
		int a = h * headDim + 2 * i, b = a + 1;
		if (neox) a = h * headDim + i, b = a + half;
		float x0 = xr[a], x1 = xr[b];
		xr[a] = x0 * c - x1 * s;
		xr[b] = x0 * s + x1 * c;
	}
}

// put_kv: one block per row; stores k and v row i (kvHeads·hd values) at
// pool slot slots[i] of layer, as f16, in the page layout
// [layer][kind][head][hd][pageTokens].
extern "C" __global__ void put_kv(__half *pool, const float *k, const float *v, const int *slots, int layer,
				  int kvHeads, int hd, int pageTokens, long long pageValues) {
	int slot = slots[blockIdx.x], w = kvHeads * hd;
	long long base = (long long)(slot / pageTokens) * pageValues + slot % pageTokens;
#pragma unroll 4
	for (int t = threadIdx.x; t < 2 * w; t += blockDim.x) {
		int kind = t / w, j = t % w;
		float val = kind ? v[(long long)blockIdx.x * w + j] : k[(long long)blockIdx.x * w + j];
		pool[base + ((long long)(layer * 2 + kind) * w + j) * pageTokens] = __float2half_rn(val);
	}
}

// attention: one block per (query row, head): scores of positions [from, n)
// into scratch, softmax, then out = Σ_t w_t·v_t, with q and w rounded to f16
// as metalkit.CPUDevice does. meta[4·row] = (page table offset, from, n,
// scratch offset); pages holds every row's page table.
extern "C" __global__ void attention(float *out, const float *q, const __half *pool, const int *pages, const int *meta,
				     float *scratch, int layer, int heads, int kvHeads, int hd, int pageTokens,
				     long long pageValues) {
	__shared__ float sh[32];
	__shared__ float qs[256];
	int row = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
	const int *pt = pages + meta[4 * row];
	int from = meta[4 * row + 1], n = meta[4 * row + 2];
	float *sc = scratch + meta[4 * row + 3] + (long long)h * (n - from);
	const float *qh = q + ((long long)row * heads + h) * hd;
	float scale = (float)(1.0 / sqrt((double)hd));
	for (int j = threadIdx.x; j < hd; j += blockDim.x) qs[j] = __half2float(__float2half_rn(qh[j])) * scale;
	__syncthreads();
	long long kOff = ((long long)(layer * 2) * kvHeads + g) * hd * pageTokens;
	long long vOff = ((long long)(layer * 2 + 1) * kvHeads + g) * hd * pageTokens;

	float m = -INFINITY;
	for (int t = from + threadIdx.x; t < n; t += blockDim.x) {
		const __half *kb = pool + (long long)pt[t / pageTokens] * pageValues + kOff + t % pageTokens;
		float s = 0;
		// Unrolled so that a thread has eight loads in flight, not one
		// (the sum's order is unchanged).
#pragma unroll 8
		for (int j = 0; j < hd; j++) s += qs[j] * __half2float(kb[(long long)j * pageTokens]);
		sc[t - from] = s;
		m = fmaxf(m, s);
	}
	m = block_max(m, sh);
	float sum = 0;
	for (int t = from + threadIdx.x; t < n; t += blockDim.x) {
		float e = expf(sc[t - from] - m);
		sc[t - from] = e;
		sum += e;
	}
	float inv = 1 / block_sum(sum, sh);
	__syncthreads();
	for (int t = from + threadIdx.x; t < n; t += blockDim.x) sc[t - from] = __half2float(__float2half_rn(sc[t - from] * inv));
	__syncthreads();
	float *o = out + ((long long)row * heads + h) * hd;
	for (int j = threadIdx.x; j < hd; j += blockDim.x) {
		float acc = 0;
#pragma unroll 8
		for (int t = from; t < n; t++) {
			const __half *vb = pool + (long long)pt[t / pageTokens] * pageValues + vOff + t % pageTokens;
			acc += sc[t - from] * __half2float(vb[(long long)j * pageTokens]);
		}
		o[j] = acc;
	}
}

// attn_pages: attention as the attention kernel computes it (the same
// roundings: q to f16 then scaled, weights to f16 after the softmax), for
// the common shapes (HD values a head, PT positions a page), read a page
// at a time: one block per (query row, KV head) does all the query heads
// that share that KV head (QG at a time), so each K and V page is read
// once per row rather than once per query head, and a warp reads a page
// of one head's K (HD rows of PT f16s, contiguous) with 16-byte loads,
// lane l taking the 16-byte pieces l, l+32, ...: positions 8(l%P8).. of
// rows l/P8 + (32/P8)·k. Warps take pages in turn. Scores: each lane sums
// its rows' products, then the lanes with the same positions add theirs
// (shuffles); weights: a warp a head, softmax over [from, n) in shared
// memory (up to 2,048 positions: no round trip through L2 between the
// phases) or else in the work area as attention's; out: the same piece
// layout over V, the lanes of a row and then the warps added. Decode of one session is 1 row × 8 KV
// heads of 64 on a 1B llama: the old kernel's thread a position, looping
// over the 64 values one load at a time (19.6 µs a layer at 128
// positions, 142 µs at 1,024 on an H100) is what this replaces.
template <int HD, int PT>
__device__ void attn_pages(float *out, const float *q, const __half *pool, const int *pages, const int *meta,
			   float *scratch, int layer, int heads, int kvHeads, long long pageValues) {
	constexpr int P8 = PT / 8, NJ = HD * P8 / 32, JS = 32 / P8, QG = 4;
	constexpr int SCMAX = 2048; // positions whose scores stay in shared memory
	__shared__ float qs[QG][HD];
	__shared__ float red[4][QG][HD];
	__shared__ float scs[QG * SCMAX];
	int row = blockIdx.x, g = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int qpk = heads / kvHeads;
	const int *pt = pages + meta[4 * row];
	int from = meta[4 * row + 1], n = meta[4 * row + 2], len = n - from;
	float *sc0 = scratch + meta[4 * row + 3];
	float scale = (float)(1.0 / sqrt((double)HD));
	long long kOff = ((long long)(layer * 2) * kvHeads + g) * HD * PT;
	long long vOff = ((long long)(layer * 2 + 1) * kvHeads + g) * HD * PT;
	int t0 = 8 * (lane % P8), j0 = lane / P8;
	int p0 = from / PT, p1 = len > 0 ? (n - 1) / PT : p0 - 1;
	for (int h0 = 0; h0 < qpk; h0 += QG) {
		int nh = min(QG, qpk - h0);
		__syncthreads(); // the last pass is done with qs and red
		for (int i = threadIdx.x; i < QG * HD; i += blockDim.x) {
			int hh = i / HD, j = i % HD;
			qs[hh][j] = hh < nh ? __half2float(__float2half_rn(q[((long long)row * heads + g * qpk + h0 + hh) * HD + j])) * scale : 0;
		}
		__syncthreads();
		for (int p = p0 + warp; p <= p1; p += 4) {
			const uint4 *kp = (const uint4 *)(pool + (long long)pt[p] * pageValues + kOff);
			float s[QG][8];
#pragma unroll
			for (int hh = 0; hh < QG; hh++) {
#pragma unroll
				for (int i = 0; i < 8; i++) s[hh][i] = 0;
			}
#pragma unroll
			for (int k = 0; k < NJ; k++) {
				uint4 kv = kp[lane + 32 * k];
				const __half2 *h2 = (const __half2 *)&kv;
				float kf[8];
#pragma unroll
				for (int i = 0; i < 4; i++) {
					float2 f = __half22float2(h2[i]);
					kf[2 * i] = f.x, kf[2 * i + 1] = f.y;
				}
#pragma unroll
				for (int hh = 0; hh < QG; hh++) {
					float qv = qs[hh][j0 + JS * k];
#pragma unroll
					for (int i = 0; i < 8; i++) s[hh][i] += qv * kf[i];
				}
			}
#pragma unroll
			for (int hh = 0; hh < QG; hh++) {
#pragma unroll
				for (int i = 0; i < 8; i++) {
#pragma unroll
					for (int o = P8; o < 32; o <<= 1) s[hh][i] += __shfl_xor_sync(0xffffffffu, s[hh][i], o);
				}
			}
			if (lane < P8) {
#pragma unroll
				for (int hh = 0; hh < QG; hh++) {
					if (hh >= nh) break;
					float *sc = len <= SCMAX ? scs + hh * len : sc0 + (long long)(g * qpk + h0 + hh) * len;
#pragma unroll
					for (int i = 0; i < 8; i++) {
						int t = p * PT + t0 + i;
						if (t >= from && t < n) sc[t - from] = s[hh][i];
					}
				}
			}
		}
		__syncthreads();
		if (warp < nh) {
			float *sc = len <= SCMAX ? scs + warp * len : sc0 + (long long)(g * qpk + h0 + warp) * len;
			float m = -INFINITY;
			for (int t = lane; t < len; t += 32) m = fmaxf(m, sc[t]);
#pragma unroll
			for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
			float sum = 0;
			for (int t = lane; t < len; t += 32) {
				float e = expf(sc[t] - m);
				sc[t] = e;
				sum += e;
			}
			float inv = 1 / warp_sum(sum);
			for (int t = lane; t < len; t += 32) sc[t] = __half2float(__float2half_rn(sc[t] * inv));
		}
		__syncthreads();
		float acc[QG][NJ];
#pragma unroll
		for (int hh = 0; hh < QG; hh++) {
#pragma unroll
			for (int k = 0; k < NJ; k++) acc[hh][k] = 0;
		}
		for (int p = p0 + warp; p <= p1; p += 4) {
			const uint4 *vp = (const uint4 *)(pool + (long long)pt[p] * pageValues + vOff);
			float wv[QG][8];
#pragma unroll
			for (int hh = 0; hh < QG; hh++) {
				const float *sc = len <= SCMAX ? scs + hh * len : sc0 + (long long)(g * qpk + h0 + hh) * len;
#pragma unroll
				for (int i = 0; i < 8; i++) {
					int t = p * PT + t0 + i;
					wv[hh][i] = hh < nh && t >= from && t < n ? sc[t - from] : 0;
				}
			}
#pragma unroll
			for (int k = 0; k < NJ; k++) {
				uint4 vv = vp[lane + 32 * k];
				const __half2 *h2 = (const __half2 *)&vv;
				float vf[8];
#pragma unroll
				for (int i = 0; i < 4; i++) {
					float2 f = __half22float2(h2[i]);
					vf[2 * i] = f.x, vf[2 * i + 1] = f.y;
				}
#pragma unroll
				for (int hh = 0; hh < QG; hh++) {
#pragma unroll
					for (int i = 0; i < 8; i++) acc[hh][k] += wv[hh][i] * vf[i];
				}
			}
		}
#pragma unroll
		for (int hh = 0; hh < QG; hh++) {
#pragma unroll
			for (int k = 0; k < NJ; k++) {
#pragma unroll
				for (int o = 1; o < P8; o <<= 1) acc[hh][k] += __shfl_xor_sync(0xffffffffu, acc[hh][k], o);
				if (lane % P8 == 0) red[warp][hh][j0 + JS * k] = acc[hh][k];
			}
		}
		__syncthreads();
		for (int i = threadIdx.x; i < nh * HD; i += blockDim.x) {
			int hh = i / HD, j = i % HD;
			out[((long long)row * heads + g * qpk + h0 + hh) * HD + j] = red[0][hh][j] + red[1][hh][j] + red[2][hh][j] + red[3][hh][j];
		}
	}
}

// attn_pages_HD_PT: the shapes device.go sends here; parameters as attention's.
#define ATTN_PAGES(HD, PT)                                                                                              \
	extern "C" __global__ void __launch_bounds__(128) attn_pages_##HD##_##PT(                                         \
		float *out, const float *q, const __half *pool, const int *pages, const int *meta, float *scratch,       \
		int layer, int heads, int kvHeads, int hd, int pageTokens, long long pageValues) {                         \
		attn_pages<HD, PT>(out, q, pool, pages, meta, scratch, layer, heads, kvHeads, pageValues);                 \
	}
ATTN_PAGES(64, 16)
ATTN_PAGES(64, 32)
ATTN_PAGES(128, 16)
ATTN_PAGES(128, 32)

// read_sum: reads n float4s with a grid-stride loop, summing into out[block],
// to measure HBM read bandwidth (the sum keeps the loads from being dropped).
extern "C" __global__ void read_sum(float *out, const float4 *x, long long n) {
	__shared__ float sh[32];
	float s = 0;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float4 a = x[i];
		s += a.x + a.y + a.z + a.w;
	}
	s = block_sum(s, sh);
	if (threadIdx.x == 0) out[blockIdx.x] = s;
}
