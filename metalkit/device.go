package metalkit

import "errors"

// Device is where a forward pass's kernels run: the CPU (CPUDevice, the
// kernels of this package) or a GPU (metalkit/cuda; metalkit/metal later).
// An architecture file calls these ops in run.c's order and never sees
// threads, streams or SIMD.
//
// Memory: weights are uploaded once at load (Upload) and stay resident;
// activations live in Buffers of float32 that the model allocates once
// per batch size; KV pages live in a KVPool the device owns. Host memory
// meets the device only in Write and Read, so a GPU device copies nothing
// else per step.
//
// Ordering: ops run in call order. A GPU device may return before an op
// has finished; Read waits for everything before it. Shape mismatches are
// programmer errors and panic, as in MatMul; Upload and Alloc return
// errors (out of memory, a weight type the device has no kernel for).
//
// The op set is the one every llama-style architecture needs and grows
// only on purpose (ollama's 80-method Tensor is the warning); deepseek4's
// own ops sit behind DeepSeek4Ops, which a device may leave out.
type Device interface {
	// Name is what INFO model reports: "cpu", "cuda:0 NVIDIA H100 ...".
	Name() string

	// Upload makes m resident on the device, in whatever layout its
	// kernels stream best. m must be in the GGUF layout (not Repacked).
	Upload(m Matrix) (Weights, error)
	// Alloc returns a buffer of n float32s, zeroed.
	Alloc(n int) (Buffer, error)
	// Write copies src into b[off:off+len(src)]; Read copies
	// b[off:off+len(dst)] into dst after every op before it has run.
	Write(b Buffer, off int, src []float32)
	Read(dst []float32, b Buffer, off int) error

	// MatMul: out[c*Rows+r] = w[r]·x[c*Cols:(c+1)*Cols] for c < batch.
	MatMul(out Buffer, w Weights, x Buffer, batch int)
	// Embed: out[i*Cols:(i+1)*Cols] = table row tokens[i], as f32.
	Embed(out Buffer, table Weights, tokens []int32)
	// RMSNorm: each of rows rows of n values, x·w/sqrt(mean(x²)+eps).
	// w holds n values; out may be x.
	RMSNorm(out, x, w Buffer, rows, n int, eps float32)
	// Rope rotates each row i of x (heads × HeadDim values) in place at
	// position pos[i]; see Rope.
	Rope(x Buffer, pos []int32, r Rope)
	// Softmax replaces each of rows rows of n values by its softmax.
	Softmax(x Buffer, rows, n int)
	// Add: out[i] = a[i] + b[i] for i < n (residuals); out may be a.
	Add(out, a, b Buffer, n int)
	// AddRMSNorm is Add(x, x, r, rows·n) then RMSNorm(out, x, w, rows,
	// n, eps), the same values, as one op where a device can (a residual
	// followed by the next block's norm, twice a layer). out may be r.
	AddRMSNorm(out, x, r, w Buffer, rows, n int, eps float32)
	// SwiGLU: out[i] = silu(gate[i])·up[i] for i < n; out may be gate.
	SwiGLU(out, gate, up Buffer, n int)
	// Copy: dst[dstOff+i] = src[srcOff+i] for i < n, in op order (a
	// batch's rows that need logits, gathered). dst may be src when the
	// ranges do not overlap.
	Copy(dst Buffer, dstOff int, src Buffer, srcOff, n int)

	// NewKVPool allocates pages KV pages of layout l on the device.
	NewKVPool(l KVShape, pages int) (KVPool, error)
	// PutKV stores row i of k and v (Heads·HeadDim values each) at layer
	// for slot slots[i] of the pool (page·PageTokens + position in page).
	PutKV(pool KVPool, layer int, slots []int32, k, v Buffer)
	// Attention: paged grouped-query attention for many sessions of
	// different lengths in one call; see AttnRow.
	Attention(out, q Buffer, pool KVPool, layer, heads int, rows []AttnRow)
	// ReadPage copies values [off, off+len(dst)) of page of the pool
	// (PageValues f16 values, in KVShape's layout: one layer's K or V
	// rows are one run) into dst after every op before it has run;
	// WritePage sets a whole page from src; CopyPage copies page src onto
	// page dst on the device. They carry a session's KV pages to the host
	// and back (saving, restoring, DUMP) and fork a shared page
	// (copy-on-write).
	ReadPage(dst []uint16, pool KVPool, page, off int) error
	WritePage(pool KVPool, page int, src []uint16)
	CopyPage(pool KVPool, dst, src int)

	// Close frees everything the device allocated.
	Close() error
}

// HostDevice is a Device whose Buffers are host memory (the CPU device).
// Besides the Device ops it runs the same kernels on host slices and splits
// work over its threads, so that an architecture whose forward pass is not
// yet written in Buffers runs on it through the seam, calling exactly the
// kernels it called before: infer's architectures take a Device in
// Forward and ask for HostDevice until their pass (and their sessions' KV
// pages, which the session store keeps in RAM today) moves to Buffers and
// KVPools.
type HostDevice interface {
	Device
	// MatMulHost is MatMul on a Matrix (GGUF layout or Repacked) and host
	// slices, over the device's threads.
	MatMulHost(out []float32, m Matrix, x []float32, batch int)
	// Parallel calls fn on ranges that cover [0, n) once, on the device's
	// threads (fn must not call Parallel or MatMulHost); see Pool.Parallel.
	Parallel(n int, fn func(start, end int))
	// Threads is how many threads Parallel and MatMulHost use.
	Threads() int
}

// GraphDevice is a Device that can record a run of ops once and launch it
// again as a whole (a CUDA graph), so that a decode step costs the host one
// launch rather than one per op. The CPU device is not one: infer asks
// with a type assertion and calls the ops directly otherwise.
type GraphDevice interface {
	Device
	// Graph runs fn's ops as if fn had called them directly: the results
	// are the same. fn must only call ops (no Alloc, Upload, NewKVPool,
	// Read, Copy or the page ops: those panic inside it) and must do
	// nothing else that
	// matters, since Graph calls it once to record its ops and again on
	// every later call with key only to collect their host arrays
	// (tokens, positions, KV slots, page tables, Write's values), which
	// go up in one copy before the recorded launch. A later call whose
	// ops differ from the recording (a new batch size, a grown work area)
	// records anew, so key only says which recordings to keep: one per
	// shape of step, e.g. "decode/1". Where recording fails, fn's ops run
	// directly (the device logs why, once per key).
	Graph(key string, fn func())
}

// DeviceOnly returns d with only the Device methods (and DeepSeek4Ops',
// where d has them), hiding HostDevice and GraphDevice: the CPU device seen
// as a GPU is seen, so that infer runs its device forward (the one a GPU
// runs) on it. For tests: `device cpu-seam`.
func DeviceOnly(d Device) Device {
	if ds, ok := d.(DeepSeek4Ops); ok {
		return deviceOnlyDS4{ds}
	}
	return deviceOnly{d}
}

type deviceOnly struct{ Device }

// Name says that the device is seen through the seam only.
func (d deviceOnly) Name() string { return d.Device.Name() + " (seam)" }

type deviceOnlyDS4 struct{ DeepSeek4Ops }

func (d deviceOnlyDS4) Name() string { return d.DeepSeek4Ops.Name() + " (seam)" }

// Buffer is a device's array of float32 activations.
type Buffer interface{ Len() int }

// Weights is a weight matrix resident on a device.
type Weights interface{ Matrix() Matrix }

// KVPool is a device's store of KV pages.
type KVPool interface{ Shape() KVShape }

// Rope says how Device.Rope rotates: pairs (2i, 2i+1) of the first Dim
// values of each head (llama.cpp's normal mode) or, with Neox, pairs
// (i, i+Dim/2), by θ_i = pos·Scale·Base^(-2i/Dim) / Factors[i] (Factors
// nil means all 1: llama 3's long-context factors, phi3's).
type Rope struct {
	Heads, HeadDim, Dim int
	Base, Scale         float32
	Neox                bool
	Factors             []float32
}

// KVShape is a KV pool's page layout, infer's: each page holds
// PageTokens positions of Layers layers, laid out
// [layer][kind (0 K, 1 V)][head][HeadDim][PageTokens] in f16, so attention
// runs along a page's positions.
type KVShape struct {
	Layers, Heads, HeadDim, PageTokens int
}

// PageValues is the number of f16 values in one page.
func (s KVShape) PageValues() int { return s.Layers * 2 * s.Heads * s.HeadDim * s.PageTokens }

// AttnRow is one query row of Device.Attention: q row i (heads·HeadDim
// values, GQA groups of heads/KVShape.Heads sharing a KV head) attends to
// positions [From, N) of the session whose pages are Pages (pool page
// indices, in position order), writing out row i.
//
//	out_h = Σ_t softmax_t(q_h·k_t/sqrt(HeadDim)) · v_t
//
// q and the softmax weights are rounded to f16 before they meet K and V,
// as infer's attention and llama.cpp's f16 cache do.
type AttnRow struct {
	Pages   []int32
	From, N int
}

// DeepSeek4Ops are deepseek4's own kernels (hyper-connections with
// Sinkhorn, the CSA/HCA compressors, the lightning indexer's top-k, hash
// and biased top-k MoE routing with grouped expert matmuls, clamped
// SwiGLU). A device that has them implements this too; infer/deepseek4
// asks with a type assertion and runs its CPU path otherwise. The methods
// are added here as each gets a kernel (metalkit/cuda/doc.go lists what
// the device forward still needs).
type DeepSeek4Ops interface {
	Device
	// ClampedSwiGLU: out[i] = silu(min(gate[i], limit)) ·
	// clamp(up[i], −limit, limit) for i < n; limit ≤ 0 means no clamp
	// (plain SwiGLU), as deepseek4's swigluClamp. out may be gate.
	ClampedSwiGLU(out, gate, up Buffer, n int, limit float32)

	// UploadExperts makes a stacked expert tensor resident for
	// MatMulExperts: m holds n experts' matrices of m.Rows/n rows each,
	// one after another, as a GGUF ffn_{gate,up,down}_exps tensor stores
	// them (GGUF layout, not Repacked). A device may refuse (ErrUnsupported)
	// rows that are not whole 32-value units. Matrix() of the result is m.
	UploadExperts(m Matrix, n int) (Weights, error)
	// MatMulExperts is every (row, expert) product of an MoE step as one
	// op. With R = rows per expert, for pair i < len(experts) and
	// e = experts[i] (0 ≤ e < n):
	//
	//	out[i·R + r] = expert e's row r · x[(i/per)·Cols : (i/per+1)·Cols]
	//
	// per is how many consecutive pairs share an x row: the router's K
	// for the gate and up projections (x holds the T tokens' rows, pairs
	// t·K … t·K+K−1 are token t's choices), 1 for down (x holds one row
	// per pair, the gated activations). An expert's weights are read once
	// for all its pairs of the call (per tile of columns on a GPU),
	// whatever their order. The pairs' weighted sum back into the
	// residual is not part of it.
	MatMulExperts(out Buffer, w Weights, x Buffer, experts []int32, per int)

	// The ops below are a decode or prefill step's other work, in the
	// order a layer meets them. Per-session state (a compressor's
	// frontier and rows, the raw window's ring) lives in Buffers the
	// caller allocates; ops that read it take one session's rows
	// [first, first+n) of the batch, at positions start…start+n−1.
	// Expert ids and indexer selections are kept in Buffers as float32
	// values (exact below 2^24), so that a step's routing never leaves
	// the device.

	// RMSNormF64 is RMSNorm with the sum of squares in float64
	// (metalkit.RMSNormExact, deepseek4's numerics); w nil means no
	// weight. out may be x.
	RMSNormF64(out, x, w Buffer, rows, n int, eps float32)
	// HCPre finishes a hyper-connection's pre step (spec §4.2) after the
	// mix matmul: for each row t with HC state X[t] (hc streams of dim)
	// and control vector m = mixes[t], pre_s = σ(scale0·m_s + base_s) +
	// eps and x[t] = Σ_s pre_s·X_s. With postComb non-nil (mixes rows of
	// (2+hc)·hc, coef = 3 scales then (2+hc)·hc bases) it also writes
	// postComb[t] = post (hc: 2σ(scale1·m + base)) then comb (hc×hc: each
	// row's softmax + eps, then sinkhorn alternating column and row
	// normalisations, columns first and last); with postComb nil (the
	// output head: mixes rows of hc, coef = 1 scale then hc bases) only x.
	HCPre(x, postComb, X, mixes, coef Buffer, rows, hc, dim, sinkhorn int, eps float32)
	// HCPost replaces each row's HC state by X'_j = post_j·y + Σ_i
	// comb_ij·X_i (spec §4.3), post and comb from HCPre's postComb.
	HCPost(X, y, postComb Buffer, rows, hc, dim int)
	// RopeTail rotates, for each row i < len(pos) of heads vectors of
	// width values, each vector's last 2·pairs values by the angles
	// pos[i]·freq[k] (float32 products, as metalkit.RopeTail), backwards
	// for sign −1.
	RopeTail(x, freq Buffer, pos []int32, heads, width, pairs int, sign float32)
	// RoundTrip rounds the first n of each of rows rows of stride values
	// in place, as f says.
	RoundTrip(x Buffer, rows, stride, n int, f RoundFormat)
	// Route picks each row's k experts and their weights from router
	// logits (rows × experts): P = sqrt(softplus(logit)); the experts
	// hash[t·k:(t+1)·k] where hash is non-nil (routing by token id), else
	// the k largest P + bias (bias nil: P; ties to the lower expert), in
	// descending order; weights scale·P_e/max(Σ_chosen P, 2^-14), the sum
	// in the chosen order. ids and weights get rows × k values.
	Route(ids, weights, logits, bias Buffer, hash []int32, rows, experts, k int, scale float32)
	// MatMulExpertsBy is MatMulExperts with the pairs' experts read from
	// ids[0:pairs] on the device (Route's output).
	MatMulExpertsBy(out Buffer, w Weights, x, ids Buffer, pairs, per int)
	// ScaleRows multiplies row r of x (rows × n) by s[r].
	ScaleRows(x, s Buffer, rows, n int)
	// Combine sets out[t] = base[t] + Σ_j parts[t·k+j] (rows of n; base nil
	// means 0), adding the parts in ascending order of their expert
	// ids[t·k+j] as deepseek4's host forward does. out may be base.
	Combine(out, base, parts, ids Buffer, rows, k, n int)
	// Compress feeds rows [first, first+n) of a compressor's projections
	// kv and gate (c's slot width each) at positions start… into st's
	// frontier, and writes each window they complete into st.Rows, as
	// Compressor says.
	Compress(st CompressState, c Compressor, kv, gate Buffer, first, n, start int)
	// RingPut stores rows [first, first+n) of kv (width each; positions
	// start…) in a ring of window rows (position p in row p mod window):
	// the last window of them.
	RingPut(ring, kv Buffer, first, n, start, window, width int)
	// IndexerTopK is the lightning indexer (spec §4.6) for rows [first,
	// first+n): row t at position p scores compressed row i < (p+1)/4 as
	// Σ_h iw[t·heads+h]·scale·max(0, iq_h·idx_i) (iq rows of heads ×
	// width, already rotated and rounded) and writes into sel[t·k:] the k
	// best in ascending order (ties to the lower row), or every row then
	// −1s while there are at most k.
	IndexerTopK(sel, iq, iw, idx Buffer, first, n, start, heads, width, k int, scale float32)
	// AttendSink is deepseek4's attention for rows [first, first+n) at
	// positions start…: row t's head h attends, with softmax scale
	// 1/sqrt(width) and the head's sink as an extra logit without a
	// value, to the raw rows of positions max(0, p−Window+1)…p (those
	// before start from ring, the others from kv's rows) and then the
	// compressed rows a.Ratio says (comp; sel from IndexerTopK at ratio
	// 4), writing out[t·heads+h].
	AttendSink(out, q, kv, ring, comp, sel Buffer, first, n, start int, a SinkAttention)
}

// ErrUnsupported is returned by Upload for a weight type or layout the
// device has no kernel for.
var ErrUnsupported = errors.New("metalkit: not supported by this device")
