package tokenizer

import (
	"bytes"
	"testing"

	"reddwarf/infer/gguf"
)

// harmonyVocab is a byte-level BPE vocabulary (the 256 byte tokens, no
// merges) with gpt-oss's harmony control tokens after them, <|return|>
// its EOS.
func harmonyVocab(t *testing.T) *Tokenizer {
	t.Helper()
	var toks []string
	var types []int32
	for b := range 256 {
		toks = append(toks, string(byteEncode(nil, string([]byte{byte(b)}))))
		types = append(types, TypeNormal)
	}
	for _, s := range []string{"<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>"} {
		toks = append(toks, s)
		types = append(types, TypeControl)
	}
	var buf bytes.Buffer
	g := gguf.NewWriter(&buf)
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "gpt-oss"}, {"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.tokens", toks}, {"tokenizer.ggml.token_type", types}, {"tokenizer.ggml.merges", []string{}},
		{"tokenizer.ggml.eos_token_id", uint32(260)},
	} {
		if err := g.AddKV(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestHarmonyMarkers: in a harmony vocabulary <|end|> closes a message
// but not the reply (<|return|> and <|call|> do), and a stream decoder
// that keeps markers writes the control tokens' text, which Piece leaves
// out.
func TestHarmonyMarkers(t *testing.T) {
	tok := harmonyVocab(t)
	for s, eog := range map[string]bool{"<|end|>": false, "<|return|>": true, "<|call|>": true, "<|start|>": false} {
		id, ok := tok.Lookup(s)
		if !ok || tok.IsEOG(id) != eog {
			t.Errorf("%s: end of generation %v, want %v", s, tok.IsEOG(id), eog)
		}
	}
	text := "<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>final<|message|>Hi"
	ids := tok.Encode(text, EncodeOptions{ParseSpecial: true})
	for _, keep := range []bool{false, true} {
		d := tok.NewStreamDecoder()
		if keep {
			d.KeepMarkers()
		}
		out := ""
		for _, id := range ids {
			out += d.Push(id)
		}
		want := "analysishmassistantfinalHi"
		if keep {
			want = text
		}
		if out != want {
			t.Errorf("KeepMarkers %v: %q, want %q", keep, out, want)
		}
	}
}
