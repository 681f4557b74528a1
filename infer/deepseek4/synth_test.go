package deepseek4

import (
	"bytes"
	"flag"
	"math"
	"os"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
	"reddwarf/infer/synth"
)

var writeQ2 = flag.Bool("write-q2", false, "rewrite ../../models/deepseek4-tiny-q2.gguf")

// TestSynthQ2: the 2-bit tiny file (ds4's q2 mix: IQ2_XXS gate/up, Q2_K
// down, Q8_0 attention/shared/output, F16 elsewhere; synth.DeepSeek4's tiny256
// shape, seed 1, written by -write-q2) loads and gives identical
// logits in one pass and token by token.
func TestSynthQ2(t *testing.T) {
	const path = "../../models/deepseek4-tiny-q2.gguf"
	if *writeQ2 {
		var buf bytes.Buffer
		if err := synth.DeepSeek4(&buf, synth.DeepSeek4Options{Shape: synth.DeepSeek4Shapes["tiny256"], Quant: "q2", Seed: 1}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(disk)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"blk.3.ffn_gate_exps.weight", "blk.3.ffn_down_exps.weight", "blk.3.attn_q_b.weight"} {
		ti, _ := f.Tensor(name)
		t.Logf("%s: %v", name, ti.Type)
	}
	m, err := infer.OpenBytes("tiny-q2", disk, infer.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref := loadRef(t)
	toks := ref.Sequences[0].Tokens
	V := m.Vocab()
	all := onePassLogits(t, m, toks, len(toks))
	step := stepLogits(t, m, toks, 1)
	if d := maxAbs(all, step); d != 0 {
		t.Errorf("one pass vs token by token: max |Δ| %g", d)
	}
	for _, v := range all {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite logit")
		}
	}
	t.Logf("%d bytes, %d positions, vocab %d", len(disk), len(toks), V)
}
