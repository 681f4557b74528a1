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
//   - MatMul and Embed for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q2_K weights
//     (float rows of any width, padded to 32 at upload), one warp per row, four
//     lanes per 32-value unit so that a warp's loads are coalesced, each lane
//     dequantising its 8 values to f32 once for up to 8 columns; the
//     activations stay f32 (no 8-bit rounding as on the CPU). One column
//     (decode) takes matvec, the same sums in a kernel with few registers
//     that loads four units' weights and activations before using any.
//   - RMSNorm, Softmax, SwiGLU, Add, RoPE (normal, NEOX, with factors; angles
//     in double precision as metalkit.RopeFactors), KV pages in f16 in
//     infer's page layout, paged attention over many sessions per call.
//   - Upload refuses IQ2_XXS (ErrUnsupported), deepseek4's other 2-bit
//     format; DeepSeek4Ops has no kernels yet.
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
// # Tests
//
// cuda_test.go compares every op with metalkit.CPUDevice on odd sizes,
// tolerances derived in each test's comment; they skip without a GPU.
// gpu-test.sh builds the test binary here and runs it on a GPU machine,
// with the bandwidth benchmark (bench_test.go), writing results to $OUT;
// bench/gpu-seam.sh packs these with infer's GPU tests into one lent call.
package cuda
