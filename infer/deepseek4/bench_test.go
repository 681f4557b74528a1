package deepseek4

import (
	"fmt"
	"os"
	"testing"

	"reddwarf/infer"
	"reddwarf/metalkit"
)

// BenchmarkLayer times each layer alone, on 2 threads: decode (one token)
// and prefill (a 16-token chunk), reporting ms per token and the GB/s of
// weights a decode step reads per layer (dense weights, the routed experts
// used, the shared expert). The file is the committed tiny 2-bit model,
// or DEEPSEEK4_FULL=path for a full-width one, e.g. from `reddwarf synth --arch
// deepseek4 --shape full --layers 4 --quant q2 --fast`. A warm-up first
// routes 256 tokens so every expert's weights are in the page cache.
//
// Each iteration runs the same layer again on the same rows (the HC state
// restored first), so the session's state past the warm-up is garbage:
// only the times mean anything.
func BenchmarkLayer(b *testing.B) {
	path := os.Getenv("DEEPSEEK4_FULL")
	if path == "" {
		path = "../../models/deepseek4-tiny-q2.gguf"
	}
	m, err := infer.Open(path, infer.Options{Threads: 2, Ctx: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	a := m.Arch().(*model)
	c := &a.cfg
	toks := func(n, off int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32((off + i*7919) % c.Vocab)
		}
		return out
	}
	s := m.NewState()
	for i := 0; i < 4; i++ {
		if err := m.Step([]infer.Seq{{State: s, Tokens: toks(64, 64*i)}}); err != nil {
			b.Fatal(err)
		}
	}
	dev := m.Device().(metalkit.HostDevice)
	for li := range a.w.layers {
		l := &a.w.layers[li]
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("layer=%d/ratio=%d/tokens=%d", li, l.ratio, n), func(b *testing.B) {
				a.layOut([]infer.Seq{{State: s, Tokens: toks(n, 1000)}})
				a.embed()
				X := append([]float32(nil), a.run.X...)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					copy(a.run.X, X)
					a.layer(dev, li)
				}
				perToken := b.Elapsed().Seconds() / float64(b.N*n)
				b.ReportMetric(perToken*1e3, "ms/token")
				if n == 1 {
					b.ReportMetric(float64(decodeBytes(c, l))/perToken/1e9, "GB/s")
				}
			})
		}
	}
}

// decodeBytes is the weight bytes one decode token reads in layer l.
func decodeBytes(c *config, l *layerWeights) int {
	dense := 0
	for _, w := range []metalkit.Matrix{l.qA, l.qB, l.kv, l.oA, l.oB, l.hcAttnFn, l.hcFFNFn, l.router,
		l.cmpKV, l.cmpGate, l.idxQB, l.idxProj, l.idxCmpKV, l.idxCmpGate, l.gateSh, l.upSh, l.downSh} {
		dense += len(w.Data)
	}
	return dense + c.ExpertsUsed*(len(l.gateExps[0].Data)+len(l.upExps[0].Data)+len(l.downExps[0].Data))
}

// BenchmarkDecode times whole decode steps (every layer and the output
// head) of one session, on the same file as BenchmarkLayer.
func BenchmarkDecode(b *testing.B) {
	path := os.Getenv("DEEPSEEK4_FULL")
	if path == "" {
		path = "../../models/deepseek4-tiny-q2.gguf"
	}
	m, err := infer.Open(path, infer.Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s := m.NewState()
	tok := []int32{1}
	if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{0, 1, 2, 3}}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Len() == s.Cap() {
			b.StopTimer()
			s.Release()
			b.StartTimer()
		}
		tok[0] = int32(i % m.Vocab())
		if err := m.Step([]infer.Seq{{State: s, Tokens: tok}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/token")
}
