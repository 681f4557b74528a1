// Package metalkit holds the CPU compute kernels of reddwarf's inference:
// quantised weight formats, the batched matrix-vector product that takes
// nearly all of a forward pass's time, and the small float kernels around
// it (norms, RoPE, softmax, SwiGLU, attention dots over an f16 KV cache).
// It is llama2.c's run.c kernels with gonum's assembly layout: model files
// (infer/) call these and never split work or touch SIMD themselves.
//
// # API
//
//   - DType mirrors ggml/GGUF tensor types (F32, F16, BF16, Q8_0, Q4_0,
//     Q4_K, Q6_K, and deepseek4's 2-bit Q2_K and IQ2_XXS; the numbers are
//     on-disk values). RowBytes sizes a row.
//   - Matrix is a GGUF weight: Rows rows of Cols elements, row-major, Data
//     usually a slice of the read-only mmap. NewMatrix checks the size;
//     Row dequantises one row.
//   - Pool is a persistent worker pool (workers poll for 30µs between
//     calls, then park); Parallel splits [0, n) into contiguous chunks.
//     MatMul(p, out, m, x, batch) computes out[b*Rows+r] = m[r]·x[b*Cols:]
//     for a whole batch, reading each weight row once (MatMulLowBit is
//     the same call); batches of four or more columns go through tiles
//     (4 rows × 4 columns for Q8_0, 1 row × 4 columns for Q4_0, 16 rows
//     × 8 and × 4 for repacked Q4_K).
//   - Repack(m) returns m with Data rearranged, once at load, into the
//     layout the kernels in use stream best: Q4_K and Q8_0 rows in groups
//     of 16, one row per ZMM lane (q4_kx16.go, q8_0x16.go), the same size
//     as the file's bytes.
//     A backend without kernels for the layout leaves m as it is;
//     the reference backend repacks, so METALKIT_NOASM=1 tests the layout.
//   - Float kernels, output first: RMSNorm, Softmax, SiLU, SwiGLU, Add,
//     Scale, Dot, Axpy, RopeNorm, RopeNeox, DotF16, AxpyF16, and the
//     F16/BF16 conversions.
//   - Quantize encodes f32 as any supported type (for test GGUFs).
//
// # Invariants
//
//   - Block layouts are exactly ggml's; each format file (q8_0.go, q4_0.go,
//     q4_k.go, q6_k.go, q2_k.go, iq2_xxs.go, f16.go) draws its layout and
//     holds the reference dequantiser, the reference dot kernel and the
//     quantiser.
//   - For quantised weights MatMul quantises the activations to 8 bits once
//     per call (act.go: blocks of 32 for Q8_0/Q4_0, 256 with 16- and
//     32-value sums for K-quants and the 2-bit formats), then does integer
//     dots, as llama.cpp does, so results match llama.cpp's to rounding,
//     not bit for bit.
//   - Steady-state MatMul allocates nothing: scratch lives in the Pool.
//     Calls on one Pool are serialised; a nil Pool runs on the caller.
//   - Shape mismatches in MatMul and the float kernels are programmer errors
//     and panic; NewMatrix and Quantize return errors for bad input.
//   - F16/F32 rows are read in place, which assumes a little-endian host.
//
// # Backends
//
// A backend (kernels.go) is the float kernels plus a table of kernels per
// weight format (formats[DType]: four rows × one column, one row × four
// columns, 4 × 4 tiles, and the 16-row kernels of a repacked layout);
// MatMul takes the widest one a format has. Every hot kernel has a pure-Go
// reference (goBackend) and, on amd64, assembly chosen at run time with
// golang.org/x/sys/cpu, each backend a copy of the one below it with the
// kernels it accelerates replaced:
//
//	avx2        AVX2+FMA+F16C: f32/f16/bf16 dots, axpy, f16 conversion,
//	            Q8_0, Q4_0, Q4_K, Q6_K, Q2_K, IQ2_XXS integer dots
//	            (VPMADDUBSW/VPMADDWD; the 2-bit ones a row at a time);
//	            repacked Q4_K with VPMADDUBSW on broadcast activations, a
//	            group as two halves of 8 YMM lanes (q4_kx16y_amd64.s: 16
//	            rows × 1 and × 4 columns); the 256-value activation
//	            quantiser (q8k_amd64.s); repacked Q8_0 with
//	            VPSIGNB/VPMADDUBSW/VPMADDWD on broadcast activations, a
//	            line as two YMM of eight rows (q8_0x16_amd64.s: 16 rows ×
//	            1 column, and × n columns four at a time); the 32-value
//	            activation quantiser (quant_amd64.s); SwiGLU and ExpSub
//	            (exp_amd64.s)
//	avx512vnni  adds AVX512-VNNI: Q8_0 on ZMM, two blocks per VPDPBUSD
//	            with the weights' sign bit flipped and a per-block
//	            activation correction (q8_0z_amd64.s: 4 rows × 1 column
//	            for decode, 4 × 4 tiles for prefill); Q4_K on ZMM with
//	            VPDPWSSD (q4_kz_amd64.s: four rows for decode, one row ×
//	            four columns for prefill); repacked Q4_K with VPDPBUSD on
//	            broadcast activations (q4_kx16_amd64.s: 16 rows × 1, 4
//	            and 8 columns); repacked Q8_0 the same way, one kernel
//	            for 16 rows × any number of columns (q8_0x16_amd64.s);
//	            Q2_K four rows per pass, each block's
//	            activations arranged once for the four (q2_kz_amd64.s);
//	            IQ2_XXS with its codebook read by VPGATHERQQ and its
//	            signs and scales decoded by byte permutes, multishift and
//	            popcount (iq2_xxsz_amd64.s; also needs VBMI and BITALG);
//	            SwiGLU (exp_amd64.s); Q4_0 with VPDPBUSD on
//	            YMM; activation quantisers for 32- and 256-value blocks
//	            (quant_amd64.s) and ExpSub (exp_amd64.s) on ZMM;
//	            attention over pages of 32 positions of an f16 cache:
//	            a page's scores for a group of heads, its weighted
//	            values (16 rows' sums folded into one vector), and the
//	            f16-rounded softmax (attend_amd64.s)
//	amx         adds AMX-TILE+INT8 (and the tile state, requested from
//	            Linux once): repacked Q8_0 groups × 16 columns by one
//	            TDPBSSD per block (amx_amd64.s, hand-encoded); the
//	            default where the CPU has AMX since bench/amx-check.sh
//	            passed on a Sapphire Rapids host (the development VM has
//	            none, so its tests skip there)
//
// stubs_amd64.go declares each assembly function under a comment giving the
// Go loop it computes; stubs_noasm.go (build tag noasm, or another GOARCH)
// leaves only the reference. METALKIT_NOASM=1 forces the reference at run
// time and METALKIT_BACKEND=avx2 picks one backend (run tests with -count=1
// when switching: the choice is made at init). backend_test.go runs every
// backend the CPU supports against the reference on odd sizes, so CI covers
// all of them; the run ends by naming the kernels this CPU could not run.
//
// # Reading order
//
// dtype.go (types), q8_0.go (the simplest format, and the contract of the
// 4-row dot kernels), act.go (activation quantisation), matmul.go (tiling
// and the pool task), pool.go, q4_kx16.go (a repacked layout), then the
// *_amd64.s files. bench_test.go
// reports GB/s of weight bytes beside BenchmarkBandwidth, the machine's
// memory roofline measured with the same SIMD loads (ReadBandwidth is the
// same measurement for programs: bench/compare.sh uses it);
// BenchmarkQuantKernels compares the backends' kernels on one thread.
package metalkit
