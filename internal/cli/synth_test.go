package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
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

	for _, bad := range [][]string{{"--shape", "7b", "-o", out}, {"--quant", "q3", "-o", out}, {"--arch", "gpt2", "-o", out}, {},
		{"--arch", "deepseek4", "--shape", "huge", "-o", out}, {"--arch=deepseek4", "--quant", "q4_k", "-o", out}, {"--arch", "deepseek4"}} {
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

// TestSynthArchs: `reddwarf synth --arch A` writes, for every architecture,
// a model that loads as A and runs; the phi3 file made with the options in
// infer/archs_test.go is byte for byte the one its llama.cpp reference was
// made from.
func TestSynthArchs(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range synthArches() {
		out := filepath.Join(dir, arch+".gguf")
		var so, se bytes.Buffer
		args := []string{"--arch", arch, "--shape", "tiny", "--quant", "q8_0", "--vocab", "../../models/stories260K.gguf", "-o", out}
		if code := Synth(args, nil, &so, &se); code != 0 {
			t.Fatalf("%s: exit %d: %s", arch, code, se.String())
		}
		m, err := infer.Open(out, infer.Options{Threads: 2})
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if got, _ := m.File().String("general.architecture"); got != arch {
			t.Errorf("%s: file says architecture %q", arch, got)
		}
		s := m.NewState()
		if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{1, 5, 6}}}); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if err := m.Step([]infer.Seq{{State: s, Tokens: []int32{7}}}); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		m.Close()
	}

	out := filepath.Join(dir, "phi3-ref.gguf")
	var so, se bytes.Buffer
	args := []string{"--arch", "phi3", "--shape", "tiny", "--quant", "f32", "--std", "0.25",
		"--vocab", "../../infer/tokenizer/testdata/ggml-vocab-phi-3.gguf", "--seed", "1", "-o", out}
	if code := Synth(args, nil, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	raw, err := os.ReadFile("../../infer/testdata/llamacpp-phi3-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ SHA256 string }
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(data)); sum != ref.SHA256 {
		t.Errorf("phi3 tiny: sha256 %s, the reference's model %s", sum, ref.SHA256)
	}

	for _, bad := range [][]string{{"--arch", "qwen2", "--shape", "1b", "-o", out}, {"--arch", "gemma3", "--std", "-1", "-o", out}} {
		if code := Synth(bad, nil, &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestSynthDeepSeek4: --arch deepseek4 writes a file with the layers asked
// for.
func TestSynthDeepSeek4(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ds4.gguf")
	var so, se bytes.Buffer
	args := []string{"--arch", "deepseek4", "--shape", "tiny256", "--quant", "f32", "--layers", "2", "-o", out}
	if code := Synth(args, nil, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if arch := f.Architecture(); arch != "deepseek4" {
		t.Errorf("architecture %q", arch)
	}
	if n, _ := f.Uint("deepseek4.block_count"); n != 2 || !strings.Contains(so.String(), "deepseek4 tiny256 2 layers f32") {
		t.Errorf("block_count %d, stdout %q", n, so.String())
	}
}
