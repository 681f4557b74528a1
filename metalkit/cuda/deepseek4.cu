// deepseek4's kernels (metalkit.DeepSeek4Ops beyond clamped SwiGLU and the
// expert matmuls, which are in kernels.cu). gen.sh compiles this file to
// deepseek4.ptx, a module of its own, loaded beside kernels.ptx.
//
// They follow metalkit's CPU code (deepseek4.go, cpudevice.go) operation
// for operation where that is cheap: float64 where it uses float64 (norm
// sums, exp, sin/cos), products and sums rounded separately (__fmul_rn,
// __fadd_rn) where Go would not fuse them, the same orders of summation
// where one thread does a sum. Where the GPU sums in parallel (dot
// products, the attention's online softmax) the results differ in the
// last bits; the tests in deepseek4_test.go say by how much.
#include <cuda_fp16.h>
#include <stdint.h>

#define ROUND_FP8 1
#define ROUND_FP4 2
#define ROUND_F16 3

// maxWidth is the widest row the kernels that keep one in shared memory
// take (deepseek4's head dim is 512).
#define MAX_WIDTH 2048
// MAX_EXPERTS and MAX_K bound route's and experts_group's tables
// (deepseek4 has 256 experts, 6 a token).
#define MAX_EXPERTS 1024
#define MAX_K 32

// block_sum_d returns the sum of v over the block (blockDim.x a multiple of
// 32, at most 1024) to every thread. s holds 32 doubles.
__device__ double block_sum_d(double v, double *s) {
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffff, v, o);
	int w = threadIdx.x / 32, nw = blockDim.x / 32;
	__syncthreads();
	if (threadIdx.x % 32 == 0)
		s[w] = v;
	__syncthreads();
	double t = 0;
	for (int i = 0; i < nw; i++)
		t += s[i];
	return t;
}

// block_max_f returns the maximum of v over the block to every thread.
__device__ float block_max_f(float v, float *s) {
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
	int w = threadIdx.x / 32, nw = blockDim.x / 32;
	__syncthreads();
	if (threadIdx.x % 32 == 0)
		s[w] = v;
	__syncthreads();
	float t = s[0];
	for (int i = 1; i < nw; i++)
		t = fmaxf(t, s[i]);
	return t;
}

__device__ float sigmoid_d(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

// pow2ceil is metalkit.Pow2Ceil: 2^ceil(log2(r)) for r > 0.
__device__ float pow2ceil(float r) {
	int e;
	double f = frexp((double)r, &e);
	if (f == 0.5)
		e--;
	return (float)ldexp(1.0, e);
}

// e4m3 is metalkit.RoundE4M3.
__device__ float e4m3(float v) {
	double m = fabs((double)v), q;
	if (m < 1.0 / 64) {
		q = rint(m * 512) / 512;
	} else {
		int e;
		frexp(m, &e);
		double step = ldexp(1.0, e - 1 - 3);
		q = rint(m / step) * step;
	}
	return (float)(v < 0 ? -q : q);
}

// e2m1 is metalkit's roundE2M1.
__device__ float e2m1(float v) {
	const float vals[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
	const float mids[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5};
	float m = fabsf(v);
	int i = 0;
	while (i < 7 && m > mids[i])
		i++;
	if (i < 7 && m == mids[i] && i % 2 == 1)
		i++;
	return v < 0 ? -vals[i] : vals[i];
}

// round_row rounds the first n values of the shared row x in place, as
// metalkit's roundTrip does, with the whole block taking part (every
// thread must call it). s is 32 floats of scratch.
__device__ void round_row(float *x, int n, int fmt, float *s) {
	if (fmt == ROUND_F16) {
		for (int i = threadIdx.x; i < n; i += blockDim.x)
			x[i] = __half2float(__float2half_rn(x[i]));
		__syncthreads();
		return;
	}
	if (fmt == ROUND_FP4) {
		// The Hadamard butterflies in metalkit.Hadamard's order: each
		// stage's pairs are disjoint, so a stage is one parallel step.
		for (int h = 1; h < n; h *= 2) {
			for (int p = threadIdx.x; p < n / 2; p += blockDim.x) {
				int i = (p / h) * 2 * h, j = i + p % h;
				float a = x[j], b = x[j + h];
				x[j] = __fadd_rn(a, b);
				x[j + h] = __fsub_rn(a, b);
			}
			__syncthreads();
		}
		float sc = (float)(1.0 / sqrt((double)n));
		for (int i = threadIdx.x; i < n; i += blockDim.x)
			x[i] = __fmul_rn(x[i], sc);
		__syncthreads();
	}
	if (fmt != ROUND_FP8 && fmt != ROUND_FP4)
		return;
	int blk = fmt == ROUND_FP8 ? 64 : 32;
	float lim = fmt == ROUND_FP8 ? 448.0f : 6.0f;
	float amin = fmt == ROUND_FP8 ? 1e-4f : (float)(6 * ldexp(1.0, -126));
	// One thread per value: the block's amax is a loop over its values,
	// in the same order as the CPU's (max is exact in any order anyway).
	float y[MAX_WIDTH / 32];
	int k = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x, k++) {
		int b0 = i / blk * blk;
		float a = amin;
		for (int j = b0; j < b0 + blk; j++)
			a = fmaxf(a, fabsf(x[j]));
		float sc = pow2ceil(a / lim);
		float v = fminf(fmaxf(x[i] / sc, -lim), lim);
		y[k] = __fmul_rn(fmt == ROUND_FP8 ? e4m3(v) : e2m1(v), sc);
	}
	__syncthreads();
	k = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x, k++)
		x[i] = y[k];
	__syncthreads();
}

// rmsnorm_row sets the shared row x (n values) to x/sqrt(mean(x²)+eps)·w
// (w null: no weight), the sum in float64 (metalkit.RMSNormExact).
__device__ void rmsnorm_row(float *x, const float *w, int n, float eps, double *s) {
	double ss = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		ss += (double)x[i] * (double)x[i];
	ss = block_sum_d(ss, s);
	float inv = (float)(1.0 / sqrt(ss / n + (double)eps));
	__syncthreads();
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = __fmul_rn(x[i], inv);
		x[i] = w ? __fmul_rn(v, w[i]) : v;
	}
	__syncthreads();
}

// rope_tail_row is metalkit.RopeTail on the shared or global vector x of
// width values at pos (threads < pairs take one pair each).
__device__ void rope_tail_pair(float *x, const float *freq, int width, int pairs, int k, int pos, float sign) {
	int off = width - 2 * pairs;
	float th = __fmul_rn(freq[k], (float)pos);
	double sn, cs;
	sincos((double)th, &sn, &cs);
	float s = __fmul_rn((float)sn, sign), c = (float)cs;
	float a = x[off + 2 * k], b = x[off + 2 * k + 1];
	x[off + 2 * k] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
	x[off + 2 * k + 1] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
}

// rmsnorm_f64: one block per row of n values (1024 threads: a decode
// step's single row of HC·Dim values keeps many loads in flight).
extern "C" __global__ void rmsnorm_f64(float *out, const float *x, const float *w, int n, float eps) {
	__shared__ double s[32];
	const float *xr = x + (size_t)blockIdx.x * n;
	float *o = out + (size_t)blockIdx.x * n;
	double ss = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		ss += (double)xr[i] * (double)xr[i];
	ss = block_sum_d(ss, s);
	float inv = (float)(1.0 / sqrt(ss / n + (double)eps));
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = __fmul_rn(xr[i], inv);
		o[i] = w ? __fmul_rn(v, w[i]) : v;
	}
}

// exp_sub is metalkit's expSubGo for one value: e^(v−m) by a degree-6
// polynomial, as the CPU's Softmax computes it.
__device__ float exp_sub(float v, float m) {
	const float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
	v = fmaxf(__fsub_rn(v, m), -87.0f);
	float n = rintf(__fmul_rn(v, log2e));
	float r = __fsub_rn(__fsub_rn(v, __fmul_rn(n, ln2hi)), __fmul_rn(n, ln2lo));
	float p = __fadd_rn(1.0f / 120, __fmul_rn(r, 1.0f / 720));
	p = __fadd_rn(1.0f / 24, __fmul_rn(r, p));
	p = __fadd_rn(1.0f / 6, __fmul_rn(r, p));
	p = __fadd_rn(1.0f / 2, __fmul_rn(r, p));
	p = __fadd_rn(1, __fmul_rn(r, p));
	p = __fadd_rn(1, __fmul_rn(r, p));
	return __fmul_rn(p, __int_as_float(((int)n + 127) << 23));
}

// hc_pre: grid (rows, dim/blockDim). In every block warp 0 computes the
// row's hc weights in shared memory, a lane per value (hc² ≤ 32): each
// lane forms its row's or column's sums itself, in the CPU's order, so
// every lane's divisor is the CPU's (pre in every block; post and comb,
// which only HCPost reads, in block 0). Then the block's share of the collapse
// x = Σ_s pre_s·X_s, one thread per value, the streams in order: spread
// over blocks, a decode step's one row reads X from many SMs.
extern "C" __global__ void hc_pre(float *x, float *postComb, const float *X, const float *mixes, const float *coef,
				  int hc, int dim, int sinkhorn, float eps) {
	__shared__ float pre[32], cm[32], ex[32];
	int t = blockIdx.x, l = threadIdx.x;
	int mix = postComb ? (2 + hc) * hc : hc, ns = postComb ? 3 : 1;
	const float *mx = mixes + (size_t)t * mix, *scale = coef, *base = coef + ns;
	if (l < 32) {
		float *post = postComb && blockIdx.y == 0 ? postComb + (size_t)t * (hc + hc * hc) : 0;
		if (l < hc) {
			pre[l] = __fadd_rn(sigmoid_d(__fadd_rn(__fmul_rn(scale[0], mx[l]), base[l])), eps);
			if (post)
				post[l] = 2 * sigmoid_d(__fadd_rn(__fmul_rn(scale[1], mx[hc + l]), base[hc + l]));
		}
		if (post) {
			int n = hc * hc, i = l / hc, j = l % hc;
			bool act = l < n;
			float v = act ? __fadd_rn(__fmul_rn(scale[2], mx[2 * hc + l]), base[2 * hc + l]) : 0;
			cm[l] = v;
			__syncwarp();
			// Each row's softmax (metalkit.Softmax: max, ExpSub, scale by
			// 1/sum), then + eps.
			if (act) {
				float m = cm[i * hc];
				for (int jj = 1; jj < hc; jj++)
					m = fmaxf(m, cm[i * hc + jj]);
				ex[l] = exp_sub(v, m);
			}
			__syncwarp();
			if (act) {
				float sum = 0;
				for (int jj = 0; jj < hc; jj++)
					sum = __fadd_rn(sum, ex[i * hc + jj]);
				v = __fadd_rn(__fmul_rn(ex[l], 1 / sum), eps);
			}
			__syncwarp();
			cm[l] = v;
			__syncwarp();
			// Sinkhorn: columns; then rows and columns, sinkhorn−1 times.
			for (int it = 0; it < max(sinkhorn, 1); it++) {
				for (int pass = it > 0 ? 0 : 1; pass < 2; pass++) {
					float s = 0;
					if (act)
						for (int k = 0; k < hc; k++)
							s = __fadd_rn(s, pass == 0 ? cm[i * hc + k] : cm[k * hc + j]);
					__syncwarp();
					if (act)
						cm[l] = v = v / (s + eps);
					__syncwarp();
				}
			}
			if (act)
				post[hc + l] = v;
		}
	}
	__syncthreads();
	const float *Xt = X + (size_t)t * hc * dim;
	int i = blockIdx.y * blockDim.x + threadIdx.x;
	if (i < dim) {
		float v = 0;
		for (int s = 0; s < hc; s++)
			v = __fadd_rn(v, __fmul_rn(pre[s], Xt[s * dim + i]));
		x[(size_t)t * dim + i] = v;
	}
}

// hc_post: grid (rows, dim/256); each thread one value of every stream.
extern "C" __global__ void hc_post(float *X, const float *y, const float *postComb, int hc, int dim) {
	int t = blockIdx.x, i = blockIdx.y * blockDim.x + threadIdx.x;
	if (i >= dim)
		return;
	float old[16];
	float *Xt = X + (size_t)t * hc * dim;
	const float *post = postComb + (size_t)t * (hc + hc * hc), *comb = post + hc;
#pragma unroll
	for (int s = 0; s < 16; s++)
		old[s] = s < hc ? Xt[s * dim + i] : 0;
	float yv = y[(size_t)t * dim + i];
	for (int j = 0; j < hc; j++) {
		float v = __fmul_rn(post[j], yv);
#pragma unroll
		for (int s = 0; s < 16; s++)
			if (s < hc)
				v = __fadd_rn(v, __fmul_rn(comb[s * hc + j], old[s]));
		Xt[j * dim + i] = v;
	}
}

// rope_tail: grid (rows, heads), one thread per rotated pair.
extern "C" __global__ void rope_tail(float *x, const float *freq, const int *pos, int heads, int width, int pairs,
				     float sign) {
	int k = threadIdx.x;
	if (k >= pairs)
		return;
	float *v = x + ((size_t)blockIdx.x * heads + blockIdx.y) * width;
	rope_tail_pair(v, freq, width, pairs, k, pos[blockIdx.x], sign);
}

// round_trip: one block per row, the row's first n values through shared
// memory.
extern "C" __global__ void round_trip(float *x, int stride, int n, int fmt) {
	__shared__ float row[MAX_WIDTH];
	__shared__ float s[32];
	float *xr = x + (size_t)blockIdx.x * stride;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		row[i] = xr[i];
	__syncthreads();
	round_row(row, n, fmt, s);
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		xr[i] = row[i];
}

// better reports whether candidate (k1, e1) beats (k2, e2) in a
// descending stable sort of the keys: a larger key, or an equal one of a
// lower expert; e < 0 is no candidate.
__device__ bool better(float k1, int e1, float k2, int e2) {
	return e1 >= 0 && (e2 < 0 || k1 > k2 || (k1 == k2 && e1 < e2));
}

// route: one block per row (blockDim a multiple of 32). The scores and
// keys in parallel; then k picks, each the block's best untaken expert
// (a stable descending sort's next: ties to the lower expert), found by
// a reduction; thread 0 sums the chosen scores in the chosen order.
extern "C" __global__ void route(float *ids, float *weights, const float *logits, const float *bias, const int *hash,
				 int experts, int k, float scale) {
	__shared__ float P[MAX_EXPERTS], key[MAX_EXPERTS];
	__shared__ int taken[MAX_EXPERTS], chosen[MAX_K];
	__shared__ float wk[32];
	__shared__ int we[32];
	int t = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	for (int e = threadIdx.x; e < experts; e += blockDim.x) {
		float x = logits[(size_t)t * experts + e];
		P[e] = x > 20 ? (float)sqrt((double)x) : (float)sqrt(log1p(exp((double)x)));
		key[e] = bias ? __fadd_rn(P[e], bias[e]) : P[e];
		taken[e] = 0;
	}
	__syncthreads();
	for (int j = 0; j < k; j++) {
		if (hash) {
			if (threadIdx.x == 0)
				chosen[j] = hash[t * k + j];
			continue;
		}
		float bk = 0;
		int be = -1;
		for (int e = threadIdx.x; e < experts; e += blockDim.x)
			if (!taken[e] && better(key[e], e, bk, be))
				bk = key[e], be = e;
		for (int o = 16; o > 0; o >>= 1) {
			float ok = __shfl_xor_sync(0xffffffff, bk, o);
			int oe = __shfl_xor_sync(0xffffffff, be, o);
			if (better(ok, oe, bk, be))
				bk = ok, be = oe;
		}
		if (lane == 0)
			wk[warp] = bk, we[warp] = be;
		__syncthreads();
		if (threadIdx.x == 0) {
			for (int w = 1; w < nw; w++)
				if (better(wk[w], we[w], bk, be))
					bk = wk[w], be = we[w];
			chosen[j] = be;
			taken[be] = 1;
		}
		__syncthreads();
	}
	__syncthreads();
	if (threadIdx.x != 0)
		return;
	float sum = 0;
	for (int j = 0; j < k; j++)
		sum = __fadd_rn(sum, P[chosen[j]]);
	sum = fmaxf(sum, 6.103515625e-5f);
	for (int j = 0; j < k; j++) {
		ids[t * k + j] = (float)chosen[j];
		weights[t * k + j] = __fdiv_rn(__fmul_rn(scale, P[chosen[j]]), sum);
	}
}

// experts_group builds MatMulExperts' host array on the device from expert
// ids: min(pairs, experts) groups (expert, start, count) in expert order,
// unused ones zero, then the pairs' indices in group order (a group's in
// pair order). One block of 1024 threads, thread e for expert e: it
// counts its pairs, a block-wide scan of the counts and of the non-empty
// flags gives its group's start and index, and it writes its group.
extern "C" __global__ void experts_group(int *meta, const float *ids, int pairs, int experts) {
	__shared__ int wc[32], wn[32], total;
	int e = threadIdx.x, lane = e % 32, warp = e / 32, gmax = min(pairs, experts);
	int cnt = 0;
	if (e < experts)
		for (int i = 0; i < pairs; i++)
			cnt += (int)ids[i] == e;
	int nz = cnt > 0;
	// Inclusive scans of cnt and nz: within the warp, then the warps'
	// totals.
	int sc = cnt, sn = nz;
	for (int o = 1; o < 32; o <<= 1) {
		int c = __shfl_up_sync(0xffffffff, sc, o), n = __shfl_up_sync(0xffffffff, sn, o);
		if (lane >= o)
			sc += c, sn += n;
	}
	if (lane == 31)
		wc[warp] = sc, wn[warp] = sn;
	__syncthreads();
	if (e == 0) {
		int c = 0, n = 0;
		for (int w = 0; w < (int)blockDim.x / 32; w++) {
			int tc = wc[w], tn = wn[w];
			wc[w] = c, wn[w] = n; // exclusive prefix of the warps
			c += tc, n += tn;
		}
		total = n;
	}
	__syncthreads();
	int start = wc[warp] + sc - cnt, g = wn[warp] + sn - nz;
	if (nz) {
		meta[3 * g] = e, meta[3 * g + 1] = start, meta[3 * g + 2] = cnt;
		for (int i = 0, k = 0; i < pairs && k < cnt; i++)
			if ((int)ids[i] == e)
				meta[3 * gmax + start + k++] = i;
	}
	for (int u = total + e; u < gmax; u += blockDim.x)
		meta[3 * u] = 0, meta[3 * u + 1] = 0, meta[3 * u + 2] = 0;
}

// scale_rows: grid (rows, n/256).
extern "C" __global__ void scale_rows(float *x, const float *s, int n) {
	int i = blockIdx.y * blockDim.x + threadIdx.x;
	if (i < n)
		x[(size_t)blockIdx.x * n + i] = __fmul_rn(x[(size_t)blockIdx.x * n + i], s[blockIdx.x]);
}

// combine: grid (rows, n/256); each thread adds its value of the row's k
// parts in ascending expert order (ties in pair order).
extern "C" __global__ void combine(float *out, const float *base, const float *parts, const float *ids, int k, int n) {
	int t = blockIdx.x, i = blockIdx.y * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float v = base ? base[(size_t)t * n + i] : 0;
	const float *id = ids + (size_t)t * k;
	// Visit (id, j) pairs in ascending order: each step the least pair
	// above the last one visited.
	float lastID = -1;
	int lastJ = -1;
	for (int step = 0; step < k; step++) {
		int bj = -1;
		for (int j = 0; j < k; j++) {
			bool after = id[j] > lastID || (id[j] == lastID && j > lastJ);
			if (after && (bj < 0 || id[j] < id[bj]))
				bj = j;
		}
		v = __fadd_rn(v, parts[((size_t)t * k + bj) * n + i]);
		lastID = id[bj];
		lastJ = bj;
	}
	out[(size_t)t * n + i] = v;
}

// compress: one block (256 threads) feeds a session's rows one after
// another (each may complete a window that the next one's slot write
// depends on). mode = roundN<<8 | f16<<4 | round format. span is the
// rows' (first, n, start) in device memory: a recorded decode step's
// launch stays the same as the positions move.
extern "C" __global__ void compress(float *rows, float *fKV, float *fScore, const float *kv, const float *gate,
				    const float *ape, const float *norm, const float *freq, const int *span, int ratio,
				    int width, int pairs, int mode, float eps) {
	int first = span[0], n = span[1], start = span[2];
	__shared__ float row[MAX_WIDTH];
	__shared__ double sd[32];
	__shared__ float sf[32];
	int cw = ratio == 4 ? 2 * width : width;
	int roundN = mode >> 8, f16 = (mode >> 4) & 1, fmt = mode & 15;
	for (int j = 0; j < n; j++) {
		int t = first + j, p = start + j;
		int slot = p % ratio + (ratio == 4 ? 4 : 0);
		const float *a = ape + (size_t)(p % ratio) * cw;
		for (int c = threadIdx.x; c < cw; c += blockDim.x) {
			fKV[(size_t)slot * cw + c] = kv[(size_t)t * cw + c];
			fScore[(size_t)slot * cw + c] = __fadd_rn(gate[(size_t)t * cw + c], a[c]);
		}
		__syncthreads();
		if ((p + 1) % ratio != 0)
			continue;
		int cands = ratio == 4 ? 8 : ratio;
		for (int c = threadIdx.x; c < width; c += blockDim.x) {
			// Candidate s: ratio 4, the A half of slots 0–3, then the B
			// half of slots 4–7; else slot s.
#define CAND(s, arr) (ratio == 4 ? arr[(size_t)(s) * cw + ((s) < 4 ? 0 : width) + c] : arr[(size_t)(s) * cw + c])
			float mx = -INFINITY;
			for (int s = 0; s < cands; s++)
				mx = fmaxf(mx, CAND(s, fScore));
			float v = 0;
			if (mx > -5e29f) {
				float den = 0, num = 0;
				for (int s = 0; s < cands; s++) {
					float e = (float)exp((double)__fsub_rn(CAND(s, fScore), mx));
					den = __fadd_rn(den, e);
					num = __fadd_rn(num, __fmul_rn(e, CAND(s, fKV)));
				}
				v = num / den;
			}
#undef CAND
			row[c] = v;
		}
		__syncthreads();
		if (ratio == 4) {
			for (int c = threadIdx.x; c < 4 * cw; c += blockDim.x) {
				fKV[c] = fKV[4 * cw + c];
				fScore[c] = fScore[4 * cw + c];
			}
		}
		rmsnorm_row(row, norm, width, eps, sd);
		if (threadIdx.x < pairs)
			rope_tail_pair(row, freq, width, pairs, threadIdx.x, p + 1 - ratio, 1);
		__syncthreads();
		round_row(row, roundN, fmt, sf);
		if (f16)
			round_row(row, width, ROUND_F16, sf);
		float *dst = rows + (size_t)((p + 1) / ratio - 1) * width;
		for (int c = threadIdx.x; c < width; c += blockDim.x)
			dst[c] = row[c];
		__syncthreads();
	}
}

// A prefill chunk's compressor (Compress with more than one row): the
// windows the chunk completes are pooled in parallel from the chunk's
// rows and the frontier as it was before it (compress_windows), then the
// frontier is set to what feeding the rows one by one leaves
// (compress_frontier). Same operations, in the same order per value, as
// compress: the same bits.

// cand_at is candidate s of column c (offset off: 0 or, for ratio 4's
// second half, width) of window w: the slot and position it comes from.
// Ratio 4: candidates 0–3 are window w−1's positions (first halves),
// 4–7 window w's (second halves); else candidate s is position w·ratio+s.
// A position before the chunk is read from the frontier: slot 4 + p%4 if
// in the chunk's first window start/4, else slot p%4 (ratio 4); slot s
// (else).
__device__ void cand_at(const float *fKV, const float *fScore, const float *kv, const float *gate, const float *ape,
			int first, int start, int ratio, int width, int w, int s, int c, float *v, float *sc) {
	int cw = ratio == 4 ? 2 * width : width;
	int p, off = 0, slot = s;
	if (ratio == 4) {
		int win = s < 4 ? w - 1 : w;
		p = win * 4 + s % 4;
		off = s < 4 ? 0 : width;
		if (p < start && s < 4 && win == start / 4)
			slot = 4 + s;
	} else {
		p = w * ratio + s;
	}
	if (p >= start) {
		size_t t = (size_t)(first + p - start) * cw + off + c;
		*v = kv[t];
		*sc = __fadd_rn(gate[t], ape[(size_t)(p % ratio) * cw + off + c]);
	} else {
		*v = fKV[(size_t)slot * cw + off + c];
		*sc = fScore[(size_t)slot * cw + off + c];
	}
}

// compress_windows: a block per window the chunk completes (span's
// first, n, start: windows start/ratio … (start+n)/ratio − 1).
extern "C" __global__ void compress_windows(float *rows, const float *fKV, const float *fScore, const float *kv,
					    const float *gate, const float *ape, const float *norm, const float *freq,
					    const int *span, int ratio, int width, int pairs, int mode, float eps) {
	int first = span[0], start = span[2];
	int w = start / ratio + blockIdx.x;
	__shared__ float row[MAX_WIDTH];
	__shared__ double sd[32];
	__shared__ float sf[32];
	int roundN = mode >> 8, f16 = (mode >> 4) & 1, fmt = mode & 15;
	int cands = ratio == 4 ? 8 : ratio;
	for (int c = threadIdx.x; c < width; c += blockDim.x) {
		float mx = -INFINITY, v, sc;
		for (int s = 0; s < cands; s++) {
			cand_at(fKV, fScore, kv, gate, ape, first, start, ratio, width, w, s, c, &v, &sc);
			mx = fmaxf(mx, sc);
		}
		float out = 0;
		if (mx > -5e29f) {
			float den = 0, num = 0;
			for (int s = 0; s < cands; s++) {
				cand_at(fKV, fScore, kv, gate, ape, first, start, ratio, width, w, s, c, &v, &sc);
				float e = (float)exp((double)__fsub_rn(sc, mx));
				den = __fadd_rn(den, e);
				num = __fadd_rn(num, __fmul_rn(e, v));
			}
			out = num / den;
		}
		row[c] = out;
	}
	__syncthreads();
	rmsnorm_row(row, norm, width, eps, sd);
	if (threadIdx.x < pairs)
		rope_tail_pair(row, freq, width, pairs, threadIdx.x, w * ratio, 1);
	__syncthreads();
	round_row(row, roundN, fmt, sf);
	if (f16)
		round_row(row, width, ROUND_F16, sf);
	float *dst = rows + (size_t)w * width;
	for (int c = threadIdx.x; c < width; c += blockDim.x)
		dst[c] = row[c];
}

// compress_frontier: grid (slot width/256, slots: 4 at ratio 4, else
// ratio). Slot s (ratio 4: slots s and 4+s, by one thread) gets the last
// chunk position that feeds it, else keeps its value; at ratio 4 slot s
// also takes what slot 4+s held when the chunk's last window completed.
extern "C" __global__ void compress_frontier(float *fKV, float *fScore, const float *kv, const float *gate,
					     const float *ape, const int *span, int ratio, int width) {
	int first = span[0], n = span[1], start = span[2];
	int cw = ratio == 4 ? 2 * width : width, c = blockIdx.x * blockDim.x + threadIdx.x, s = blockIdx.y;
	if (c >= cw)
		return;
	int end = start + n;
	// last is the last chunk position ≡ s (mod ratio), or −1.
	int last = (end - 1) - (((end - 1) % ratio) - s + ratio) % ratio;
	if (last < start)
		last = -1;
	size_t hi = (size_t)(ratio == 4 ? 4 + s : s) * cw + c; // the slot position `last` writes
	float kv0 = fKV[hi], sc0 = fScore[hi];                   // its value before the chunk
	if (last >= 0) {
		size_t t = (size_t)(first + last - start) * cw + c;
		fKV[hi] = kv[t];
		fScore[hi] = __fadd_rn(gate[t], ape[(size_t)s * cw + c]);
	}
	if (ratio != 4 || end / 4 == start / 4)
		return; // no window completed (ratio 4: slots 0–3 unchanged)
	int p = (end / 4 - 1) * 4 + s; // position s of the last window completed
	size_t lo = (size_t)s * cw + c;
	if (p >= start) {
		size_t t = (size_t)(first + p - start) * cw + c;
		fKV[lo] = kv[t];
		fScore[lo] = __fadd_rn(gate[t], ape[(size_t)s * cw + c]);
	} else {
		fKV[lo] = kv0;
		fScore[lo] = sc0;
	}
}

// ring_put: grid (min(n, window), width/256): the last rows of span's
// (first, n, start) go to their positions' slots.
extern "C" __global__ void ring_put(float *ring, const float *kv, const int *span, int window, int width) {
	int first = span[0], n = span[1], start = span[2];
	int p = start + n - min(n, window) + blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
	if (c < width)
		ring[(size_t)(p % window) * width + c] = kv[(size_t)(first + p - start) * width + c];
}

// indexer_scores: grid (rows, ncmax/8), a warp per compressed row: lanes
// split the width, and lane 0 adds the heads' terms in the CPU's order
// (w_h·scale, then ·max(0, q_h·k)). Rows past the row's own count exit.
// work: rows × ncmax scores (ncmax: the most rows idx holds, so that the
// launch does not change as it fills).
extern "C" __global__ void indexer_scores(const float *iq, const float *iw, const float *idx, float *work,
					  const int *span, int heads, int width, int ncmax, float scale) {
	int first = span[0], start = span[2];
	int j = blockIdx.x, t = first + j, nc = (start + j + 1) / 4;
	int lane = threadIdx.x % 32, ci = blockIdx.y * (blockDim.x / 32) + threadIdx.x / 32;
	if (ci >= nc)
		return;
	const float *kr = idx + (size_t)ci * width;
	float sc = 0;
	for (int h = 0; h < heads; h++) {
		const float *q = iq + ((size_t)t * heads + h) * width;
		float d = 0;
		for (int i = lane; i < width; i += 32)
			d = __fmaf_rn(q[i], kr[i], d);
		for (int o = 16; o > 0; o >>= 1)
			d += __shfl_xor_sync(0xffffffff, d, o);
		if (d > 0)
			sc = __fadd_rn(sc, __fmul_rn(__fmul_rn(iw[t * heads + h], scale), d));
	}
	if (lane == 0)
		work[(size_t)j * ncmax + ci] = sc;
}

// indexer_select: one block per row, after indexer_scores. A row's rank
// is how many rows beat it (a higher score, or an equal one and a lower
// index); the k of rank < k are kept, in ascending order, placed by how
// many kept rows precede them. O(nc²) per row: enough at 8K context, a
// radix select past that. Rows whose position has at most k compressed
// rows take them all, then −1s. work: the scores, then as many ranks.
extern "C" __global__ void indexer_select(float *sel, float *work, const int *span, int n, int k, int ncmax) {
	int first = span[0], start = span[2];
	int j = blockIdx.x, t = first + j, nc = (start + j + 1) / 4;
	float *s = sel + (size_t)t * k;
	if (nc <= k) {
		for (int i = threadIdx.x; i < k; i += blockDim.x)
			s[i] = i < nc ? (float)i : -1.0f;
		return;
	}
	const float *score = work + (size_t)j * ncmax;
	int *rank = (int *)(work + (size_t)n * ncmax) + (size_t)j * ncmax;
	for (int ci = threadIdx.x; ci < nc; ci += blockDim.x) {
		float v = score[ci];
		int r = 0;
		for (int cj = 0; cj < nc; cj++)
			r += score[cj] > v || (score[cj] == v && cj < ci);
		rank[ci] = r;
	}
	__syncthreads();
	for (int ci = threadIdx.x; ci < nc; ci += blockDim.x) {
		if (rank[ci] >= k)
			continue;
		int at = 0;
		for (int cj = 0; cj < ci; cj++)
			at += rank[cj] < k;
		s[at] = (float)ci;
	}
}

#define ATT_WARPS 8
#define ATT_MAXD 16 // values per lane: width ≤ 512, kept in registers (unrolled, guarded loops)

// attend_sink: grid (rows, heads), ATT_WARPS warps. Each warp runs an
// online softmax over its share of the visible rows (lane l holds values
// l, l+32, …), then the warps' partial sums are merged with the sink.
extern "C" __global__ void attend_sink(float *out, const float *q, const float *kv, const float *ring, const float *comp,
				       const float *sel, const float *sinks, const int *span, int heads, int width, int window,
				       int ratio, int k) {
	__shared__ float wm[ATT_WARPS], wd[ATT_WARPS];
	int first = span[0], start = span[2];
	__shared__ float wacc[ATT_WARPS][ATT_MAXD * 32];
	int j = blockIdx.x, h = blockIdx.y, t = first + j, pos = start + j;
	int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nd = width / 32;
	const float *qh = q + ((size_t)t * heads + h) * width;
	float qv[ATT_MAXD], acc[ATT_MAXD];
#pragma unroll
	for (int d = 0; d < ATT_MAXD; d++)
		qv[d] = d < nd ? qh[lane + 32 * d] : 0, acc[d] = 0;
	float scale = (float)(1.0 / sqrt((double)width));
	int lo = max(0, pos - window + 1), nw = pos - lo + 1;
	int ncomp = ratio == 128 ? (pos + 1) / 128 : ratio == 4 ? k : 0;
	float m = -INFINITY, den = 0;
	for (int r = warp; r < nw + ncomp; r += ATT_WARPS) {
		const float *kr;
		if (r < nw) {
			int p = lo + r;
			kr = p < start ? ring + (size_t)(p % window) * width : kv + (size_t)(first + p - start) * width;
		} else if (ratio == 128) {
			kr = comp + (size_t)(r - nw) * width;
		} else {
			int ci = (int)sel[(size_t)t * k + r - nw];
			if (ci < 0)
				continue;
			kr = comp + (size_t)ci * width;
		}
		float kvv[ATT_MAXD], z = 0;
#pragma unroll
		for (int d = 0; d < ATT_MAXD; d++) {
			kvv[d] = d < nd ? kr[lane + 32 * d] : 0;
			z = __fmaf_rn(qv[d], kvv[d], z);
		}
		for (int o = 16; o > 0; o >>= 1)
			z += __shfl_xor_sync(0xffffffff, z, o);
		z *= scale;
		if (z > m) {
			float c = (float)exp((double)(m - z));
			den = den * c + 1;
#pragma unroll
			for (int d = 0; d < ATT_MAXD; d++)
				acc[d] = acc[d] * c + kvv[d];
			m = z;
		} else {
			float e = (float)exp((double)(z - m));
			den += e;
#pragma unroll
			for (int d = 0; d < ATT_MAXD; d++)
				acc[d] += e * kvv[d];
		}
	}
	if (lane == 0)
		wm[warp] = m, wd[warp] = den;
#pragma unroll
	for (int d = 0; d < ATT_MAXD; d++)
		if (d < nd)
			wacc[warp][lane + 32 * d] = acc[d];
	__syncthreads();
	float sink = sinks[h], M = sink;
	for (int w = 0; w < ATT_WARPS; w++)
		M = fmaxf(M, wm[w]);
	float total = (float)exp((double)(sink - M)), c[ATT_WARPS];
	for (int w = 0; w < ATT_WARPS; w++) {
		c[w] = wd[w] > 0 ? (float)exp((double)(wm[w] - M)) : 0;
		total += wd[w] * c[w];
	}
	float *o = out + ((size_t)t * heads + h) * width;
	for (int i = threadIdx.x; i < width; i += blockDim.x) {
		float v = 0;
		for (int w = 0; w < ATT_WARPS; w++)
			v += wacc[w][i] * c[w];
		o[i] = v / total;
	}
}
