package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"reddwarf/infer"
)

// TestSynthCommand: `reddwarf synth` writes a model that loads and runs.
func TestSynthCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	var so, se bytes.Buffer
	// The stories260K vocabulary (512 tokens) keeps the file small.
	args := []string{"--arch", "llama", "--shape", "tiny", "--quant", "q4_k", "--vocab", "models/stories260K.gguf", "-o", out}
	if code := synthCommand(args, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if !strings.Contains(so.String(), "wrote ") {
		t.Errorf("stdout %q", so.String())
	}
	m, err := infer.Open(out, infer.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info := map[string]any{}
	for _, f := range m.Info() {
		info[f.Key] = f.Value
	}
	if info["quant"] != "Q4_K_S" || info["layers"] != 4 || info["dim"] != 256 || info["vocab"] != 512 {
		t.Errorf("info %v", info)
	}
	s := m.NewState()
	if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{1, 5, 6}}}); err != nil {
		t.Fatal(err)
	}

	for _, bad := range [][]string{{"--shape", "7b", "-o", out}, {"--quant", "q3", "-o", out}, {"--arch", "gpt2", "-o", out}, {}} {
		if code := synthCommand(bad, &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
