// deepseek4.cu's kernels on the CPU (package emu's doc says how). A
// kernel's early return must be the same for every thread that would
// meet a later barrier, as on a GPU: a thread that returns leaves its
// block's and warp's barriers (arrive_and_drop).
#define _GNU_SOURCE 1
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <algorithm>
using std::max;
using std::min;

struct dim3e { unsigned x, y, z; };
static thread_local dim3e threadIdx_e, blockIdx_e;
static dim3e blockDim_e;
#define threadIdx threadIdx_e
#define blockIdx blockIdx_e
#define blockDim blockDim_e
static std::barrier<> *blockBar;
static std::vector<std::unique_ptr<std::barrier<>>> warpBars;
static uint64_t xch[32][32];

template <class T> static T shfl(T v, int src_of_lane_fn_kind, int o) {
	int w = threadIdx.x / 32, l = threadIdx.x % 32;
	uint64_t b = 0;
	memcpy(&b, &v, sizeof v);
	xch[w][l] = b;
	warpBars[w]->arrive_and_wait();
	int src = src_of_lane_fn_kind == 0 ? (l ^ o) : (l >= o ? l - o : l);
	T r;
	memcpy(&r, &xch[w][src], sizeof r);
	warpBars[w]->arrive_and_wait();
	return r;
}
#define __shfl_xor_sync(m, v, o) shfl(v, 0, o)
#define __shfl_up_sync(m, v, o) shfl(v, 1, o)
#define __syncthreads() blockBar->arrive_and_wait()
#define __syncwarp() warpBars[threadIdx.x / 32]->arrive_and_wait()
#define __global__
#define __device__ static inline
#define __shared__ static
#define __fmul_rn(a, b) ((float)(a) * (float)(b))
#define __fadd_rn(a, b) ((float)(a) + (float)(b))
#define __fsub_rn(a, b) ((float)(a) - (float)(b))
#define __fdiv_rn(a, b) ((float)(a) / (float)(b))
#define __fmaf_rn(a, b, c) fmaf(a, b, c)
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }

#include "../deepseek4.cu"

static float F(uint64_t s) { uint32_t u = (uint32_t)s; float f; memcpy(&f, &u, 4); return f; }
static int I(uint64_t s) { return (int)(int32_t)(uint32_t)s; }
template <class T> static T P(uint64_t s) { return (T)(uintptr_t)s; }

typedef std::function<void(const uint64_t *)> thunk;
static std::map<std::string, thunk> kernels = {
	{"rmsnorm_f64", [](const uint64_t *a) { rmsnorm_f64(P<float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), I(a[3]), F(a[4])); }},
	{"hc_pre", [](const uint64_t *a) { hc_pre(P<float *>(a[0]), P<float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), P<const float *>(a[4]), I(a[5]), I(a[6]), I(a[7]), F(a[8])); }},
	{"hc_post", [](const uint64_t *a) { hc_post(P<float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), I(a[3]), I(a[4])); }},
	{"rope_tail", [](const uint64_t *a) { rope_tail(P<float *>(a[0]), P<const float *>(a[1]), P<const int *>(a[2]), I(a[3]), I(a[4]), I(a[5]), F(a[6])); }},
	{"round_trip", [](const uint64_t *a) { round_trip(P<float *>(a[0]), I(a[1]), I(a[2]), I(a[3])); }},
	{"route", [](const uint64_t *a) { route(P<float *>(a[0]), P<float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), P<const int *>(a[4]), I(a[5]), I(a[6]), F(a[7])); }},
	{"experts_group", [](const uint64_t *a) { experts_group(P<int *>(a[0]), P<const float *>(a[1]), I(a[2]), I(a[3])); }},
	{"scale_rows", [](const uint64_t *a) { scale_rows(P<float *>(a[0]), P<const float *>(a[1]), I(a[2])); }},
	{"combine", [](const uint64_t *a) { combine(P<float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), I(a[4]), I(a[5])); }},
	{"compress", [](const uint64_t *a) { compress(P<float *>(a[0]), P<float *>(a[1]), P<float *>(a[2]), P<const float *>(a[3]), P<const float *>(a[4]), P<const float *>(a[5]), P<const float *>(a[6]), P<const float *>(a[7]), P<const int *>(a[8]), I(a[9]), I(a[10]), I(a[11]), I(a[12]), F(a[13])); }},
	{"compress_windows", [](const uint64_t *a) { compress_windows(P<float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), P<const float *>(a[4]), P<const float *>(a[5]), P<const float *>(a[6]), P<const float *>(a[7]), P<const int *>(a[8]), I(a[9]), I(a[10]), I(a[11]), I(a[12]), F(a[13])); }},
	{"compress_frontier", [](const uint64_t *a) { compress_frontier(P<float *>(a[0]), P<float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), P<const float *>(a[4]), P<const int *>(a[5]), I(a[6]), I(a[7])); }},
	{"ring_put", [](const uint64_t *a) { ring_put(P<float *>(a[0]), P<const float *>(a[1]), P<const int *>(a[2]), I(a[3]), I(a[4])); }},
	{"indexer_scores", [](const uint64_t *a) { indexer_scores(P<const float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), P<float *>(a[3]), P<const int *>(a[4]), I(a[5]), I(a[6]), I(a[7]), F(a[8])); }},
	{"indexer_select", [](const uint64_t *a) { indexer_select(P<float *>(a[0]), P<float *>(a[1]), P<const int *>(a[2]), I(a[3]), I(a[4]), I(a[5])); }},
	{"attend_sink", [](const uint64_t *a) { attend_sink(P<float *>(a[0]), P<const float *>(a[1]), P<const float *>(a[2]), P<const float *>(a[3]), P<const float *>(a[4]), P<const float *>(a[5]), P<const float *>(a[6]), P<const int *>(a[7]), I(a[8]), I(a[9]), I(a[10]), I(a[11]), I(a[12])); }},
};

extern "C" int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned bx, const uint64_t *slots) {
	auto it = kernels.find(name);
	if (it == kernels.end())
		return 1;
	blockDim = {bx, 1, 1};
	// bx threads run every block in turn: thread 0 makes a block's
	// barriers between the previous block's end and this one's start.
	std::barrier<> start(bx), end(bx);
	std::unique_ptr<std::barrier<>> bb;
	std::vector<std::thread> ts;
	for (unsigned i = 0; i < bx; i++)
		ts.emplace_back([&, i] {
			for (unsigned y = 0; y < gy; y++)
				for (unsigned x = 0; x < gx; x++) {
					if (i == 0) {
						bb.reset(new std::barrier<>(bx));
						blockBar = bb.get();
						warpBars.clear();
						for (unsigned w = 0; w < (bx + 31) / 32; w++)
							warpBars.emplace_back(new std::barrier<>(min(32u, bx - 32 * w)));
					}
					start.arrive_and_wait();
					threadIdx = {i, 0, 0};
					blockIdx = {x, y, 0};
					it->second(slots);
					warpBars[i / 32]->arrive_and_drop();
					blockBar->arrive_and_drop();
					end.arrive_and_wait();
				}
		});
	for (auto &t : ts)
		t.join();
	return 0;
}
