package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"reddwarf/infer"
	_ "reddwarf/infer/deepseek4" // TestDecodeWeightBytesMoE opens a deepseek4 file
)

// TestBench: bench on the embedded model prints JSON lines ending
// with the summary.
func TestBench(t *testing.T) {
	var so, se bytes.Buffer
	args := []string{"--threads", "2", "--prompt-tokens", "40", "--gen-tokens", "20", "--sessions", "3", "--chunk", "16"}
	if code := Bench(args, nil, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var last map[string]any
	lines := 0
	sc := bufio.NewScanner(&so)
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %d not JSON: %q", lines, sc.Text())
		}
		lines++
	}
	if lines < 4 {
		t.Errorf("%d lines", lines)
	}
	for _, k := range []string{"prefill_tok_s", "decode_tok_s"} {
		if v, ok := last[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, last[k])
		}
	}
	if last["threads"] != 2.0 || last["prompt_tokens"] != 40.0 || last["gen_tokens"] != 20.0 || last["sessions"] != 3.0 || last["model"] == nil {
		t.Errorf("summary %v", last)
	}
	if l, lb, wb := last["layers"].(float64), last["layer_bytes_per_token"].(float64), last["weight_bytes_per_token"].(float64); l <= 0 || lb <= 0 || lb >= wb {
		t.Errorf("layers %v, layer bytes %v of %v", l, lb, wb)
	}
	if code := Bench([]string{"--sessions", "0"}, nil, &so, &se); code != 2 {
		t.Errorf("--sessions 0: exit %d", code)
	}
}

// TestDecodeWeightBytesMoE: a deepseek4 token reads expert_used_count of
// expert_count routed experts and one row of the hash-routing table.
func TestDecodeWeightBytesMoE(t *testing.T) {
	m, err := infer.Open("../../models/deepseek4-tiny-q2.gguf", infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := m.File()
	experts, _ := f.Uint("deepseek4.expert_count")
	used, _ := f.Uint("deepseek4.expert_used_count")
	var want, wantLayers int64
	for _, tn := range f.Tensors {
		n := int64(tn.Size)
		switch {
		case strings.HasSuffix(tn.Name, "_exps.weight"):
			n = n * int64(used) / int64(experts)
		case strings.HasSuffix(tn.Name, "tid2eid.weight"):
			n = int64(tn.Dims[0]) * 4
		case tn.Name == "token_embd.weight":
			continue
		}
		want += n
		if strings.HasPrefix(tn.Name, "blk.") {
			wantLayers += n
		}
	}
	if used == 0 || used >= experts {
		t.Fatalf("expert counts %d of %d", used, experts)
	}
	if got, gotLayers := decodeWeightBytes(m); got != want || gotLayers != wantLayers {
		t.Errorf("decodeWeightBytes = %d, %d; want %d, %d", got, gotLayers, want, wantLayers)
	}
}
