// Package cuda is metalkit.Device on an NVIDIA GPU (issue 15).
//
// The driver API (libcuda.so.1, installed with the NVIDIA driver) is bound
// at run time with github.com/ebitengine/purego (driver_linux.go): no cgo,
// so `go build` and `go test ./...` on a machine without CUDA work as
// before, a user with a driver needs no CUDA toolkit, and other GOOSes
// compile a stub (driver_other.go). The kernels are kernels.cu, compiled by
// gen.sh (nvcc -arch=sm_90 -ptx) into kernels.ptx, which is committed and
// embedded; the driver JIT-compiles it for the GPU at Open. Change the .cu,
// run gen.sh, commit both (.ci/run checks they agree where nvcc is
// installed).
//
// # What runs on the GPU
//
//   - MatMul and Embed for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q2_K, IQ2_XXS
//     weights (float rows of any width, padded to 32 at upload; IQ2_XXS's
//     codebook is a table in global memory, compiled into the PTX from a copy
//     of metalkit.IQ2XXSGrid that TestIQ2XXSGrid checks), one warp per row, four
//     lanes per 32-value unit so that a warp's loads are coalesced, each lane
//     dequantising its 8 values to f32 once for up to 8 columns; the
//     activations stay f32 (no 8-bit rounding as on the CPU). One column
//     (decode) takes matvec, the same sums in a kernel with few registers
//     that loads four units' weights and activations before using any;
//     for Q8_0, Q4_0, Q4_K, Q2_K and F16 rows that start 16-byte aligned,
//     matvec_s, the same sums (the same bits) with the row read in 16-byte
//     loads through shared memory. Batches of defaultMMAMin (8) columns
//     and more of F16 and the quantised types run on the tensor cores
//     (mmaf16: mma.sync m16n8k16, weights dequantised straight into f16
//     fragments, activations rounded to f16, f32 sums; kernels.cu says
//     why f16 rather than int8), one of four block shapes by batch size.
//   - RMSNorm, Softmax, SwiGLU, Add, RoPE (normal, NEOX, with factors; angles
//     in double precision as metalkit.RopeFactors), KV pages in f16 in
//     infer's page layout, paged attention over many sessions per call:
//     heads of 64 or 128 on pages of 16 or 32 positions a page at a time
//     (attn_pages: a block per row and KV head, 16-byte loads), other
//     shapes a position a thread (attention).
//   - metalkit.DeepSeek4Ops (deepseek4.go): ClampedSwiGLU, and
//     MatMulExperts on a stacked expert tensor (UploadExperts: a GGUF
//     ffn_*_exps tensor as stored, one allocation) for IQ2_XXS, Q2_K, Q4_K,
//     Q8_0, F16, F32. All of an MoE step's (row, expert) pairs go in one
//     launch over (row block, expert group): the host groups the pairs by
//     expert into a fixed-length array (groups, then the pairs' indices), so
//     a recorded step replays with new routing; a group's pairs go eight at
//     a time through matmul's loop (an expert's rows read once per eight
//     pairs), or, for at most expertsFewMax pairs (decode), once each
//     through matvec's leaner loop. Upload refuses a repacked matrix.
//   - The rest of a deepseek4 step (deepseek4.cu, its own module
//     deepseek4.ptx, gen.sh compiling both): RMSNormF64 (float64 sums),
//     HCPre (weights, Sinkhorn, collapse) and HCPost, RopeTail, the
//     FP8/FP4/f16 round trips, Route (biased or hash top-k writing expert
//     ids and weights to device memory), MatMulExpertsBy (the grouping of
//     MatMulExperts done by a kernel, experts_group, from those ids),
//     ScaleRows, Combine, Compress (frontier, pooling, norm, RoPE,
//     rounding: one kernel a session at decode; a prefill chunk's
//     windows pooled in parallel, then its frontier), RingPut, IndexerTopK (scores a
//     warp per compressed row, then exact ranks, O(n²) in the rows) and AttendSink (online softmax
//     over eight warps' shares of the window and compressed rows, with
//     the sink). They do the CPU's operations in its order where that is
//     cheap, so most match it bit for bit (deepseek4_test.go).
//
// # Ordering
//
// Every op is a kernel on a stream the device creates, so ops run in call
// order. None waits for the GPU: an op's small host array (tokens,
// positions, KV slots, page tables) and a Write of up to 1 MiB go up
// through a pinned staging area with asynchronous copies on the same
// stream (Device.copyIn), whose bytes are reused only after the GPU has
// drained. The host waits in Read (and Sync), so a forward pass queues its
// kernels back to back and waits once, for its logits.
//
// # Graphs
//
// Device.Graph (metalkit.GraphDevice) records a run of ops as a CUDA graph
// (stream capture) and launches it as one, so a decode step costs one
// launch instead of 259 (graph.go). The ops' host arrays go to fixed
// places of an argument area whose image is sent in one copy before each
// launch; kernels read every changing length from there. A replay runs
// the caller's ops again only to collect their arrays, checking each
// launch against the recording (kernel, grid, every parameter), and
// records anew when they differ, so a replay never runs other kernels
// than the ops ask for. Where the driver has no graphs or recording
// fails, the ops run directly (logged once per key).
//
// # Profiling
//
// Device.StartProfile and StopProfile (profile.go) time every kernel
// launched between them with CUDA events, by kernel and matmul shape
// (Graph runs its ops directly meanwhile); infer's
// TestDeviceLlamaProfile prints a llama step's table. Off, a launch pays
// a nil check.
//
// # Tests
//
// cuda_test.go compares every op with metalkit.CPUDevice on odd sizes,
// tolerances derived in each test's comment; they skip without a GPU.
// gpu-test.sh builds the test binary here and runs it on a GPU machine,
// with the bandwidth benchmark (bench_test.go), writing results to $OUT;
// bench/gpu-seam.sh packs these with infer's GPU tests into one lent call.
// fake_test.go runs the host side on a fake driver here (graph recording
// and replay, and MatMulExperts' grouping, whose kernels it computes in
// Go as kernels.cu reads their launch). With the cudaemu tag (cgo and a
// C++20 compiler: `go test -tags cudaemu ./metalkit/cuda`, a few minutes
// on two cores) deepseek4_test.go's op tests run without a GPU on package
// emu, which compiles deepseek4.cu for the CPU with a thread per CUDA
// thread, and deepseek4_emu_test.go runs the deepseek4 device forward on
// the device's Go side (kernels doing nothing) and on the fake driver (a
// decode step recorded once, then replayed).
//
// # deepseek4 on the device: what is left
//
// infer/deepseek4 has a forward through the Device ops (device.go): every
// op of a decode or prefill step is a DeepSeek4Ops or Device call, the
// weights go up once in the file's layout (experts whole, the output
// projection's groups as experts), each session's ring, compressor
// frontiers and compressed/indexer rows live in device Buffers, routing
// never leaves the device, and a decode step is one graph launch. On the
// CPU device through the seam it gives the host forward's logits bit for
// bit (infer's TestDeepSeek4Seam, TestDeepSeek4SeamReference,
// TestDeviceDeepSeek4Full with REDDWARF_GPU_DS4_SEAM=1). What remains, in
// the order a step meets it:
//
//   - Measured on a GPU: deepseek4_test.go's op tests, infer's
//     TestDeepSeek4Seam/cuda and TestDeepSeek4SeamReference/cuda (tiny
//     models against the host forward and transformers), and
//     TestDeviceDeepSeek4Full (3- and 2-layer full-width q2 synth files:
//     64 greedy steps against the host, decode ms/token and per layer);
//     bench/gpu-seam.sh runs them. Prefill speed (several rows a call) is
//     not timed yet, nor compared with llama.cpp's CUDA build.
//   - Speed of the small kernels, once timed: route reduces over the
//     block once a pick (6 a row), experts_group scans 1024 threads;
//     a prefill chunk's compressor windows are a block each
//     (compress_windows) but its frontier update and decode's compress
//     are one block a session; indexer_select ranks by
//     comparing every pair of compressed rows (O(n²) a row: fine to 8K
//     context, a radix select past that); attend_sink is eight warps a
//     (row, head) with float64 exp. expertsFewMax and the experts' lean
//     kernel are still untuned.
//   - Session state: each session's device state holds its ring and
//     frontiers and room for its compressed and indexer rows, doubled as
//     it grows (the buffers it outgrows, and a released session's state,
//     are reused, never freed: a device has no Free); it is not shared
//     between forks (Clone reads the device state back; the fork uploads
//     its own). Next: the compressed and indexer
//     rows in device pages shared by forks, as KVPool's, with the
//     session store's RAM tier below; checkpoints kept on the device (a
//     restore point now reads the state back, as every host-side method
//     does after device steps: state.sync).
//   - Prefix cache: a prefill chunk that crosses a page boundary runs in
//     two steps (the rows before the boundary first) so that the state
//     there is kept, as forward.go keeps it in one pass: an extra read of
//     the weights and of the state back to the host per such chunk. A
//     kernel-side capture (compress stopping at the boundary) would save
//     both.
//   - Batches: ops that touch a session's state run once per session of
//     the batch (a page table, as Attention's, would make them one).
//   - The whole q2 model (~81 GB) fits an H200, not an H100: per layer
//     is measured from N and N−1 layer files instead.
package cuda
