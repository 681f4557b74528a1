package cuda

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"reddwarf/metalkit"
)

// TestBandwidth measures, on the GPU, the HBM read bandwidth (read_sum
// over 2 GiB, far past the 50 MB L2) and the matmul kernels on the matrix
// shapes of a 1B llama (2048 wide, FFN 8192) in Q8_0 and Q4_K: decode (one
// column), 8 columns (8 sessions decoding together) and 512 (prefill),
// each as GB/s of weights read (a weight byte is read once per 8 columns)
// beside the measured read bandwidth, the roofline; and the GPU's time for
// each op of that llama's decode step, 64 of one op recorded as one CUDA
// graph (launch costs excluded). It writes JSON to the
// file REDDWARF_GPU_BENCH names and runs only then (gpu-test.sh sets it):
// it is a measurement, not a check.
func TestBandwidth(t *testing.T) {
	path := os.Getenv("REDDWARF_GPU_BENCH")
	if path == "" {
		t.Skip("REDDWARF_GPU_BENCH is not set: gpu-test.sh runs this on a GPU machine")
	}
	d := openDevice(t)
	type result struct {
		Name     string  `json:"name"`
		Type     string  `json:"type,omitempty"`
		Rows     int     `json:"rows,omitempty"`
		Cols     int     `json:"cols,omitempty"`
		Batch    int     `json:"batch,omitempty"`
		Bytes    int64   `json:"bytes"`
		Seconds  float64 `json:"seconds_per_call"`
		GBs      float64 `json:"gb_per_s"`
		TokPerS  float64 `json:"columns_per_s,omitempty"`
		Roofline float64 `json:"fraction_of_read_bandwidth,omitempty"`
	}
	var results []result
	// timeit runs f until 0.5 s have passed (at least 5 calls, after 2
	// warm-up calls) and returns seconds per call.
	timeit := func(f func()) float64 {
		for i := 0; i < 2; i++ {
			f()
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		start, n := time.Now(), 0
		for n < 5 || time.Since(start) < 500*time.Millisecond {
			f()
			n++
			if n%8 == 0 {
				d.Sync()
			}
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Seconds() / float64(n)
	}

	// HBM read bandwidth.
	const readBytes = 2 << 30
	src, err := d.Alloc(readBytes / 4)
	if err != nil {
		t.Fatal(err)
	}
	sums, _ := d.Alloc(132 * 16)
	sec := timeit(func() {
		d.bindLaunch("read_sum", grid(132*16, 1), 512, sums.(*buffer).ptr, src.(*buffer).ptr, int64(readBytes/16))
	})
	hbm := readBytes / sec / 1e9
	results = append(results, result{Name: "hbm_read", Bytes: readBytes, Seconds: sec, GBs: hbm})
	t.Logf("HBM read: %.0f GB/s", hbm)

	// The host's cost of one op when nothing waits: a kernel of a few
	// µs at most, queued back to back (timeit drains every 8 calls), a
	// plain one (Add of 2,048 values) and one that stages a host array
	// (RoPE of one position, as a decode step's).
	a1, _ := d.Alloc(2048)
	a2, _ := d.Alloc(2048)
	a3, _ := d.Alloc(2048)
	sec = timeit(func() { d.Add(a3, a1, a2, 2048) })
	results = append(results, result{Name: "op_add_2048", Bytes: 3 * 4 * 2048, Seconds: sec})
	t.Logf("Add of 2,048 values back to back: %.2f µs an op", sec*1e6)
	pos := []int32{7}
	sec = timeit(func() { d.Rope(a1, pos, metalkit.Rope{Heads: 32, HeadDim: 64, Dim: 64, Base: 10000, Scale: 1}) })
	results = append(results, result{Name: "op_rope_1", Bytes: 2 * 4 * 2048, Seconds: sec})
	t.Logf("RoPE of one position (2,048 values) back to back: %.2f µs an op", sec*1e6)

	// The GPU's time for each op of a 1B llama's decode step: 64 of one
	// op recorded as one graph and replayed (timeit drains every 8), so
	// the host's launches are out of the time.
	rng := rand.New(rand.NewSource(5))
	inGraph := func(name string, op func()) {
		sec := timeit(func() {
			d.Graph("bench "+name, func() {
				for range 64 {
					op()
				}
			})
		})
		results = append(results, result{Name: "graph_op_" + name, Seconds: sec / 64})
		t.Logf("%s, 64 in a graph: %.2f µs an op on the GPU", name, sec/64*1e6)
	}
	g1, _ := d.Alloc(8192)
	g2, _ := d.Alloc(8192)
	inGraph("rmsnorm_2048", func() { d.RMSNorm(a3, a1, a2, 1, 2048, 1e-5) })
	inGraph("add_rmsnorm_2048", func() { d.AddRMSNorm(a3, a1, a2, a2, 1, 2048, 1e-5) })
	inGraph("add_2048", func() { d.Add(a3, a1, a2, 2048) })
	inGraph("swiglu_8192", func() { d.SwiGLU(g1, g1, g2, 8192) })
	inGraph("rope_1x32x64", func() { d.Rope(a1, pos, metalkit.Rope{Heads: 32, HeadDim: 64, Dim: 64, Base: 500000, Scale: 1}) })
	kvShape := metalkit.KVShape{Layers: 1, Heads: 8, HeadDim: 64, PageTokens: 16}
	pool, err := d.NewKVPool(kvShape, 64)
	if err != nil {
		t.Fatal(err)
	}
	inGraph("put_kv_1x8x64", func() { d.PutKV(pool, 0, []int32{5}, a1, a2) })
	for _, n := range []int{128, 1024} {
		row := metalkit.AttnRow{N: n}
		for p := 0; p*16 < n; p++ {
			row.Pages = append(row.Pages, int32(p))
		}
		inGraph(fmt.Sprintf("attention_1x32x64_n%d", n), func() { d.Attention(a3, a1, pool, 0, 32, []metalkit.AttnRow{row}) })
	}
	for _, sh := range [][2]int{{2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}} {
		m := quantMatrix(t, metalkit.Q8_0, sh[0], sh[1], randVec(rng, sh[0]*sh[1], 1))
		gw, err := d.Upload(m)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := d.Alloc(sh[1])
		out, _ := d.Alloc(sh[0])
		inGraph(fmt.Sprintf("matvec_q8_0_%dx%d", sh[0], sh[1]), func() { d.MatMul(out, gw, x, 1) })
	}

	// Matmul on a 1B llama's FFN shapes, each kernel at each batch in
	// the same run: at one column matvec (2-byte loads) and matvec_s
	// (16-byte loads through shared memory); then matmul (f32 FMA; 8
	// columns per weight read), and
	// mmaf16 (tensor cores) as MatMul picks its block shape and with
	// each shape forced. Four copies of each matrix are used in turn, so
	// that the weights (17.8 MB of Q8_0) come from HBM, not from the 50 MB
	// L2. GB/s counts the matrix's bytes once per call (what a step needs
	// to read), and % is that of the HBM read bandwidth; col/s is
	// columns (tokens) per second through this one matrix.
	for _, typ := range []metalkit.DType{metalkit.Q8_0, metalkit.Q4_K} {
		for _, sh := range [][2]int{{8192, 2048}, {2048, 8192}} {
			rows, cols := sh[0], sh[1]
			w := make([]float32, rows*cols)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			m := quantMatrix(t, typ, rows, cols, w)
			var gws []metalkit.Weights
			for range 4 {
				gw, err := d.Upload(m)
				if err != nil {
					t.Fatal(err)
				}
				gws = append(gws, gw)
			}
			for _, batch := range []int{1, 8, 64, 512} {
				x := put(t, d, randVec(rng, batch*cols, 1))
				out, _ := d.Alloc(batch * rows)
				kernels := []string{"matmul"}
				if batch == 1 {
					kernels = []string{"matvec", "matvec_s"}
				}
				if batch >= defaultMMAMin {
					kernels = append(kernels, "mma", "mma_n8", "mma_n16", "mma_n64", "mma_n64l")
				}
				for _, k := range kernels {
					d.mmaMin, d.mmaShape = 0, ""
					for _, gw := range gws {
						ww := gw.(*weights)
						ww.matvec, ww.matvecRows = "matvec_s_"+weightKernels[typ], 8
						if k == "matvec" {
							ww.matvec, ww.matvecRows = "matvec_"+weightKernels[typ], 4
						}
					}
					if strings.HasPrefix(k, "mma") {
						d.mmaMin, d.mmaShape = defaultMMAMin, strings.TrimPrefix(strings.TrimPrefix(k, "mma"), "_")
					}
					i := 0
					sec := timeit(func() {
						d.MatMul(out, gws[i%len(gws)], x, batch)
						i++
					})
					bytes := int64(len(m.Data))
					r := result{Name: k, Type: typ.String(), Rows: rows, Cols: cols, Batch: batch, Bytes: bytes, Seconds: sec,
						GBs: float64(bytes) / sec / 1e9, TokPerS: float64(batch) / sec}
					r.Roofline = r.GBs / hbm
					results = append(results, r)
					// Compact: gpu-seam.sh prints these lines, and a
					// call's reply keeps only the output's end.
					t.Logf("%-9s %v %dx%d b=%-3d %8.1f µs %5.0f GB/s %3.0f%% %8.0f col/s %5.1f TFLOP/s",
						k, typ, rows, cols, batch, sec*1e6, r.GBs, 100*r.Roofline, r.TokPerS, 2*float64(rows)*float64(cols)*float64(batch)/sec/1e12)
				}
				d.mmaMin, d.mmaShape = defaultMMAMin, ""
			}
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"device": d.Name(), "goarch": runtime.GOARCH, "results": results}, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
