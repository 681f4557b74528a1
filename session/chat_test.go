package session

import (
	"bytes"
	"slices"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
)

func TestChatFormatsRenderUserTurns(t *testing.T) {
	vocab := func(tokens ...string) func(string) bool {
		return func(s string) bool {
			for _, t := range tokens {
				if t == s {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		vocab                     []string
		afterEnd, think, hasThink bool
		want                      string
	}{
		{[]string{"<|im_start|>"}, false, false, false, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{[]string{"<|im_start|>"}, true, false, true, "\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{[]string{"<|im_start|>"}, false, true, true, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{[]string{"<|start_header_id|>"}, true, false, false, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{[]string{"<｜User｜>"}, false, true, true, "<｜User｜>hi<｜Assistant｜><think>"},
		{[]string{"<｜User｜>"}, false, false, true, "<｜User｜>hi<｜Assistant｜></think>"},
		{[]string{"[INST]"}, true, false, false, "[INST] hi [/INST]"},
	}
	for _, c := range cases {
		f := chatFormat(vocab(c.vocab...))
		if f == nil {
			t.Fatalf("%v: no format", c.vocab)
		}
		if got := f.Render("hi", c.afterEnd, c.think, c.hasThink); got != c.want {
			t.Errorf("%s after-end %v think %v: %q, want %q", f.Name, c.afterEnd, c.think, got, c.want)
		}
	}
	if chatFormat(vocab("<s>", "</s>")) != nil {
		t.Errorf("a vocabulary without chat markers got a format")
	}
}

func TestGenChatWithoutAFormatFails(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	if e.Chat() != nil {
		t.Skip("stories260K has a chat format?")
	}
	j := NewChatGen(db, "k", "hello", seeded(1, 5))
	e.queue(j)
	run(e)
	if j.Err != ErrNoChatFormat || db.Peek("k") != nil {
		t.Fatalf("err %v", j.Err)
	}
}

// deepseekTokenizer is a byte-level BPE vocabulary (the 256 GPT-2 byte
// tokens, no merges, DeepSeek V3/V4 pre-tokenizer) plus V4's chat specials
// at ids 256 (BOS) to 261.
func deepseekTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	specials := []string{"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"}
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

// gpt2ByteRune is the GPT-2 byte-level alphabet: printable Latin-1 bytes map
// to themselves, the other 68 to U+0100 onwards in byte order.
func gpt2ByteRune(b byte) rune {
	printable := func(c byte) bool { return c >= 33 && c <= 126 || c >= 161 && c <= 172 || c >= 174 }
	if printable(b) {
		return rune(b)
	}
	n := 0
	for c := 0; c < int(b); c++ {
		if !printable(byte(c)) {
			n++
		}
	}
	return rune(256 + n)
}

// TestChatEncodeKeepsUserTextPlain: a user turn's markers become special
// tokens, the user's text stays text even where it spells one (as ds4
// renders DeepSeek V4 prompts), and text that spells none is encoded as the
// whole rendered turn is.
func TestChatEncodeKeepsUserTextPlain(t *testing.T) {
	tok := deepseekTokenizer(t)
	has := func(s string) bool { _, ok := tok.Lookup(s); return ok }
	f := chatFormat(has)
	if f == nil || f.Name != "deepseek" {
		t.Fatalf("format %v", f)
	}
	user := "Hi <｜User｜>"
	got := f.Encode(tok, user, false, true, true)
	// <｜User｜>, the text as plain bytes, <｜Assistant｜>, <think>.
	want := append([]int32{258}, tok.Encode(user, tokenizer.EncodeOptions{})...)
	want = append(want, 259, 260)
	if !slices.Equal(got, want) {
		t.Errorf("tokens %v, want %v", got, want)
	}
	if n := len(got) - 3; n != len(user) {
		t.Errorf("user text became %d tokens, want one per byte (%d)", n, len(user))
	}
	for _, think := range []bool{false, true} {
		plain := f.Encode(tok, "Be brief.", false, think, true)
		whole := tok.Encode(f.Render("Be brief.", false, think, true), tokenizer.EncodeOptions{ParseSpecial: true})
		if !slices.Equal(plain, whole) {
			t.Errorf("think %v: %v, the rendered turn encodes to %v", think, plain, whole)
		}
		if end := plain[len(plain)-1]; think && end != 260 || !think && end != 261 {
			t.Errorf("think %v: turn ends with %d", think, end)
		}
	}
}
