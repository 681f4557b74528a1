package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/gguf"
)

// TestSynth: `reddwarf synth` writes a model that loads and runs.
func TestSynth(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	var so, se bytes.Buffer
	// The stories260K vocabulary (512 tokens) keeps the file small.
	args := []string{"--arch", "llama", "--shape", "tiny", "--quant", "q4_k", "--vocab", "../../models/stories260K.gguf", "-o", out}
	if code := Synth(args, nil, &so, &se); code != 0 {
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
		if code := Synth(bad, nil, &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestSynthDefaultVocab: without --vocab the model gets the embedded GPT-2
// vocabulary, from any working directory.
func TestSynthDefaultVocab(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var so, se bytes.Buffer
	args := []string{"--shape", "tiny", "--quant", "q8_0", "-o", "tiny.gguf"}
	if code := Synth(args, nil, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	f, err := gguf.Open(filepath.Join(dir, "tiny.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	if model, _ := f.String("tokenizer.ggml.model"); len(toks) != 50257 || model != "gpt2" {
		t.Errorf("vocab: %d tokens, model %q; want GPT-2's 50257", len(toks), model)
	}
}
