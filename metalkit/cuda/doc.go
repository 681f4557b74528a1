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
//     that loads four units' weights and activations before using any.
//   - RMSNorm, Softmax, SwiGLU, Add, RoPE (normal, NEOX, with factors; angles
//     in double precision as metalkit.RopeFactors), KV pages in f16 in
//     infer's page layout, paged attention over many sessions per call.
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
//     rounding in one kernel a session), RingPut, IndexerTopK (exact
//     ranks, O(n²) in the compressed rows) and AttendSink (online softmax
//     over four warps' shares of the window and compressed rows, with
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
// Go as kernels.cu reads their launch).
//
// # deepseek4 on the device: what is left
//
// infer/deepseek4 runs on the CPU only (a HostDevice forward over host
// slices). The heavy per-token work now has kernels: its matmuls of every
// weight type (IQ2_XXS and Q2_K experts included), the experts as one
// grouped op, clamped SwiGLU, RMSNorm, Add. Not yet tuned on a GPU:
// expertsFewMax, and whether the experts' lean kernel reaches matvec's
// bandwidth. A device forward (a second forward in the package, in
// Buffers, as infer/llamadevice.go is for llama) still needs, roughly in
// the order a decode step meets them:
//
//   - Loading: the loader splits each ffn_*_exps tensor into per-expert
//     (repacked) matrices; the device forward uploads the stacked tensor
//     instead (UploadExperts). The q2 model (~81 GB) fits an H200, not an
//     H100: measure per layer (N vs N−1 layers) there.
//   - Hyper-connections: the HC state is HC×Dim per row (4 residual
//     streams). hcPre is an RMSNorm with a float64 sum over HC·Dim (ds4's
//     exact numerics: a kernel of its own, not RMSNorm), a small matmul
//     (MatMul), then per row sigmoid/softmax on HC×HC values and Sinkhorn
//     iterations (one block per row; tiny) and the weighted collapse
//     x = Σ pre_s·X_s; hcPost is X'_j = post_j·y + Σ_i comb_ij·X_i
//     (elementwise). Both per row, one kernel each.
//   - Routing: router logits (MatMul), sqrt(softplus), then either hash
//     routing (tid2eid by token: known on the host) or biased top-K. Today
//     MatMulExperts takes the pairs' experts from the host, so biased
//     top-K on the host reads the logits back once per layer (a sync per
//     layer, and no graph). Next: a routing kernel writing expert ids and
//     weights into device memory, and a grouping kernel building the same
//     array (groups, then pairs) that the expert kernels already read, so
//     that only MatMulExperts' host-side grouping moves to the GPU; then
//     a combine op, y[t] += Σ_k w_tk·down[t·K+k] (the CPU scales the gated
//     activations before down instead: equal up to rounding).
//   - Attention state on the device, per session and layer: the raw
//     sliding-window ring (Window × HeadDim, position p in slot p mod
//     Window), the compressed rows and indexer rows (append-only,
//     floor(n/ratio) of each; fork-shared pages, so device pages as
//     KVPool's, with the session store's RAM tier below), and the
//     compressor frontiers (partial pooling windows: values and scores,
//     a few slots each; the small mutable part a checkpoint copies).
//     Checkpoints and rollback (state.go) then copy device memory.
//   - Attention kernels: queries (two MatMuls, RMSNorm, per-head norm,
//     RoPE on the tail with YaRN frequencies: RopeTail, not Device.Rope's
//     layout), K=V rows with ds4's FP8 (and FP4 for indexer rows) round
//     trips, the compressors' gated softmax pooling over a window, the
//     lightning indexer's scores Σ_h w_h·max(0, q_h·k_i) and its top-K
//     (ITopK of the compressed rows, ascending), attention over the window
//     plus the selected compressed rows with a per-head sink logit, RoPE
//     back at −p, and the grouped low-rank output projection.
//   - The output head: HC collapse (outputHC), norm, MatMul.
//
// Each as a DeepSeek4Ops method with a CPUDevice implementation and a test
// against it here, as ClampedSwiGLU and MatMulExperts are.
package cuda
