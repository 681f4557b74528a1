package redistests

import (
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestDeepseek4PrefillLogits runs the tiny random DeepSeek V4 Flash
// (models/deepseek4-tiny.gguf) through the server: PREFILL key IDS …, then
// LOGITS key TOP vocab, and compares the log-probabilities with those of
// transformers' reference logits (infer/deepseek4/testdata/deepseek4-ref.*, written by
// tools/dsv4-ref/make_tiny.py) after the same tokens, within 1e-3. Exact
// numerics and an f32 cache, as the reference.
func TestDeepseek4PrefillLogits(t *testing.T) {
	onlyReddwarf(t)
	model, _ := filepath.Abs("../models/deepseek4-tiny.gguf")
	s := startServer(t, "--model", model, "--kv-cache-type", "f32", "--dsv4-numerics", "exact")
	c := ownClient(t, s, 2)

	js, err := os.ReadFile("../infer/deepseek4/testdata/deepseek4-ref.json")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../infer/deepseek4/testdata/deepseek4-ref.bin")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Sequences []struct {
			Tokens []int `json:"tokens"`
		} `json:"sequences"`
		Arrays []struct {
			Name   string `json:"name"`
			Shape  []int  `json:"shape"`
			Offset int    `json:"offset"`
		} `json:"arrays"`
	}
	if err := json.Unmarshal(js, &ref); err != nil {
		t.Fatal(err)
	}
	toks := ref.Sequences[0].Tokens
	var V, off int
	for _, a := range ref.Arrays {
		if a.Name == "exact/seq0/onepass" {
			V, off = a.Shape[1], a.Offset
		}
	}
	// Two PREFILLs (a chunk, then the rest), then the logits after the last token.
	cut := 150
	args := []any{"PREFILL", "ds", "IDS"}
	for _, id := range toks[:cut] {
		args = append(args, id)
	}
	if n := num(t, c, args...); n != int64(cut) {
		t.Fatalf("PREFILL replied %d", n)
	}
	args = []any{"PREFILL", "ds", "IDS"}
	for _, id := range toks[cut:] {
		args = append(args, id)
	}
	num(t, c, args...)
	reply, ok := do(t, c, "LOGITS", "ds", "TOP", V).([]any)
	if !ok || len(reply) != V {
		t.Fatalf("LOGITS replied %v", reply)
	}
	// Reference log-softmax at the last position.
	p := len(toks) - 1
	row := make([]float64, V)
	mx := math.Inf(-1)
	for i := range row {
		row[i] = float64(math.Float32frombits(bin.LittleEndian.Uint32(data[off+4*(p*V+i):])))
		mx = math.Max(mx, row[i])
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(v - mx)
	}
	worst := 0.0
	for _, e := range reply {
		f := e.([]any)
		id := int(f[0].(int64))
		var lp float64
		switch v := f[2].(type) {
		case float64:
			lp = v
		case string:
			json.Unmarshal([]byte(v), &lp)
		}
		want := row[id] - mx - math.Log(sum)
		worst = math.Max(worst, math.Abs(lp-want))
	}
	t.Logf("max |Δ log-prob| over %d tokens: %.3g", V, worst)
	if worst > 1e-3 {
		t.Errorf("LOGITS log-probs differ from the reference by up to %.3g", worst)
	}

	// SAVE key file / LOAD key file carry the deepseek4 state (ring,
	// compressed rows, frontiers): the loaded session gives the same logits
	// after one more token as the original.
	do(t, c, "SAVE", "ds", "ds.dsv4")
	do(t, c, "LOAD", "ds2", "ds.dsv4")
	do(t, c, "PREFILL", "ds", "IDS", 7)
	do(t, c, "PREFILL", "ds2", "IDS", 7)
	a := do(t, c, "LOGITS", "ds", "TOP", 5)
	b := do(t, c, "LOGITS", "ds2", "TOP", 5)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("after SAVE/LOAD: LOGITS %v, original %v", b, a)
	}
	if n := num(t, c, "MEMORY", "USAGE", "ds2"); n < 100000 {
		t.Errorf("MEMORY USAGE of a deepseek4 session: %d bytes", n)
	}
}
