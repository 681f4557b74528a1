package infer

import (
	"bytes"
	"slices"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
)

// dsv4TestTokenizer is a byte-level BPE vocabulary (the 256 GPT-2 byte
// tokens, no merges, DeepSeek V3/V4 pre-tokenizer) plus V4's chat specials
// at ids 256...
func dsv4TestTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	specials := []string{DSV4BOS, DSV4EOS, DSV4User, DSV4Assistant, DSV4Think, DSV4EndThink}
	var toks []string
	var types []int32
	for b := 0; b < 256; b++ {
		toks = append(toks, string(gpt2ByteRune(byte(b))))
		types = append(types, 1)
	}
	for _, s := range specials {
		toks = append(toks, s)
		types = append(types, 3)
	}
	var buf bytes.Buffer
	g := gguf.NewWriter(&buf)
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "deepseek4"}, {"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "deepseek-v3"},
		{"tokenizer.ggml.tokens", toks}, {"tokenizer.ggml.token_type", types}, {"tokenizer.ggml.merges", []string{}},
		{"tokenizer.ggml.bos_token_id", uint32(256)}, {"tokenizer.ggml.eos_token_id", uint32(257)},
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
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDSV4Chat(t *testing.T) {
	tok := dsv4TestTokenizer(t)
	got, err := DSV4ChatTokens(tok, "", "Hi <｜User｜>", true)
	if err != nil {
		t.Fatal(err)
	}
	// BOS, <｜User｜>, "Hi <｜User｜>" as plain bytes, <｜Assistant｜>, <think>.
	want := []int32{256, 258}
	want = append(want, tok.Encode("Hi <｜User｜>", tokenizer.EncodeOptions{})...)
	want = append(want, 259, 260)
	if !slices.Equal(got, want) {
		t.Errorf("tokens %v, want %v", got, want)
	}
	if n := len(want) - 4; n != len("Hi <｜User｜>") {
		t.Errorf("user text became %d tokens, want one per byte (%d)", n, len("Hi <｜User｜>"))
	}
	noThink, _ := DSV4ChatTokens(tok, "Be brief.", "Hi", false)
	if noThink[len(noThink)-1] != 261 || noThink[0] != 256 || noThink[len("Be brief.")+1] != 258 {
		t.Errorf("non-thinking prompt %v", noThink)
	}
	if s := DSV4ChatText("", "Hi", false); s != "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>" {
		t.Errorf("text %q", s)
	}
	// The rendered text, tokenised with special-token parsing, gives the same ids.
	if ids := tok.Encode(DSV4ChatText("", "Hi", true), tokenizer.EncodeOptions{ParseSpecial: true}); !slices.Equal(ids, mustChat(t, tok, "Hi")) {
		t.Errorf("rendered text tokenises to %v", ids)
	}
}

func mustChat(t *testing.T, tok *tokenizer.Tokenizer, user string) []int32 {
	ids, err := DSV4ChatTokens(tok, "", user, true)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
