package infer

import (
	"os"
	"testing"
	"time"
)

// TestDSV4LayerSpeed times each layer of a full-width deepseek4 file
// (DSV4_FULL=path, e.g. from `reddwarf synth --arch deepseek4 --shape full
// --layers 4 --quant q2 --fast`) on 2 threads: decode (one token) and
// prefill (a 16-token chunk), after a warm-up so the weights are in the page
// cache, beside the bytes a decode step must read per layer (dense weights,
// 6 routed experts, the shared expert).
func TestDSV4LayerSpeed(t *testing.T) {
	path := os.Getenv("DSV4_FULL")
	if path == "" {
		t.Skip("DSV4_FULL not set")
	}
	m, err := Open(path, Options{Threads: 2, Ctx: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := m.arch.(*dsv4)
	c := &a.cfg
	toks := func(n, off int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32((off + i*7919) % c.Vocab)
		}
		return out
	}
	s := m.NewState()
	// Warm-up: touch every expert of every layer once (the prefill routes
	// 256 tokens over them), then a few decode steps.
	for i := 0; i < 4; i++ {
		if err := m.Step([]Seq{{State: s, Tokens: toks(64, 64*i)}}); err != nil {
			t.Fatal(err)
		}
	}
	const decode = 8
	a.layerTime = make([]time.Duration, c.Layers)
	start := time.Now()
	for i := 0; i < decode; i++ {
		if err := m.Step([]Seq{{State: s, Tokens: toks(1, 1000+i)}}); err != nil {
			t.Fatal(err)
		}
	}
	total := time.Since(start)
	dec := a.layerTime
	a.layerTime = make([]time.Duration, c.Layers)
	pstart := time.Now()
	if err := m.Step([]Seq{{State: s, Tokens: toks(16, 5000)}}); err != nil {
		t.Fatal(err)
	}
	ptotal := time.Since(pstart)
	pre := a.layerTime
	a.layerTime = nil
	for li, l := range a.w.layers {
		dense := len(l.qA.Data) + len(l.qB.Data) + len(l.kv.Data) + len(l.oA.Data) + len(l.oB.Data) +
			len(l.hcAttnFn.Data) + len(l.hcFFNFn.Data) + len(l.router.Data) + len(l.cmpKV.Data) + len(l.cmpGate.Data) +
			len(l.idxQB.Data) + len(l.idxProj.Data) + len(l.idxCmpKV.Data) + len(l.idxCmpGate.Data) +
			len(l.gateSh.Data) + len(l.upSh.Data) + len(l.downSh.Data)
		experts := c.ExpertsUsed * (len(l.gateExps[0].Data) + len(l.upExps[0].Data) + len(l.downExps[0].Data))
		mb := float64(dense+experts) / 1e6
		d := dec[li].Seconds() / decode
		p := pre[li].Seconds() / 16
		t.Logf("layer %d (ratio %3d): decode %6.1f ms/token (%.2f GB/s of %.0f MB), prefill %6.1f ms/token (16-token chunk)",
			li, l.ratio, d*1e3, mb/1e3/d, mb, p*1e3)
	}
	t.Logf("whole model: decode %.2f tok/s, prefill %.2f tok/s (incl. the %.0f MB output head)", decode/total.Seconds(), 16/ptotal.Seconds(), float64(len(a.w.output.Data))/1e6)
}
