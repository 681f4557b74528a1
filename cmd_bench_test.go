package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// TestBenchCommand: bench on the embedded model prints JSON lines ending
// with the summary.
func TestBenchCommand(t *testing.T) {
	var so, se bytes.Buffer
	args := []string{"--threads", "2", "--prompt-tokens", "40", "--gen-tokens", "20", "--sessions", "3", "--chunk", "16"}
	if code := benchCommand(args, &so, &se); code != 0 {
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
	if code := benchCommand([]string{"--sessions", "0"}, &so, &se); code != 2 {
		t.Errorf("--sessions 0: exit %d", code)
	}
}
