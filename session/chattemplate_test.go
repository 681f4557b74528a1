package session

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
	"reddwarf/session/chattmpl"
)

// templateTokenizer is a byte-level BPE vocabulary (the 256 GPT-2 byte
// tokens, no merges) plus specials (the first is BOS, eosAt the EOS) and a
// real chat template from session/chattmpl/testdata.
func templateTokenizer(t *testing.T, tmplFile string, specials []string, eosAt int) (*tokenizer.Tokenizer, *gguf.File) {
	t.Helper()
	src, err := os.ReadFile("chattmpl/testdata/" + tmplFile)
	if err != nil {
		t.Fatal(err)
	}
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
		{"general.architecture", "llama"}, {"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "qwen2"},
		{"tokenizer.ggml.tokens", toks}, {"tokenizer.ggml.token_type", types}, {"tokenizer.ggml.merges", []string{}},
		{"tokenizer.ggml.bos_token_id", uint32(256)}, {"tokenizer.ggml.eos_token_id", uint32(256 + eosAt)},
		{"tokenizer.ggml.add_bos_token", false}, {"tokenizer.chat_template", string(src)},
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
	return tok, f
}

// TestChatTemplateAppendsTurns: turn by turn, with the model's sampled
// replies and end tokens between them, a session through Qwen2.5's real
// template holds exactly the tokens of the template over the whole
// conversation; user text spelling a special token stays text; a reply
// cut before its end token gets the template's whole close.
func TestChatTemplateAppendsTurns(t *testing.T) {
	tok, f := templateTokenizer(t, "Qwen-Qwen2.5-7B-Instruct.jinja", []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 2)
	c := newChatTemplate(templateSource(t, f), tok)
	if c == nil {
		t.Fatal("no chat template")
	}
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	var sess []int32
	users := []string{"Hello", "Who are you", "what is <|im_end|>?"}
	replies := []string{"Hi there", "An assistant.", ""}
	for i, u := range users {
		p, err := c.encode(tok, u, sess, false)
		if err != nil {
			t.Fatal(err)
		}
		sess = append(sess, p...)
		if replies[i] != "" {
			sess = append(sess, tok.Encode(replies[i], tokenizer.EncodeOptions{})...)
			sess = append(sess, tok.EOS()) // the end token the model samples
		}
	}
	want := tok.Encode("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"+
		"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"+
		"<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\nAn assistant.<|im_end|>\n"+
		"<|im_start|>user\nwhat is ", special)
	want = append(want, tok.Encode("<|im_end|>", tokenizer.EncodeOptions{})...)
	want = append(want, tok.Encode("?<|im_end|>\n<|im_start|>assistant\n", special)...)
	if !slices.Equal(sess, want) {
		t.Fatalf("session %q\nwant    %q", tok.Decode(sess), tok.Decode(want))
	}
	// The same conversation given whole (an HTTP request re-sending its
	// history) is the same tokens, so the prefix cache finds the session.
	e := &Engine{Tok: tok, tmpl: c}
	var msgs []Message
	for i, u := range users {
		msgs = append(msgs, Message{Role: "user", Content: u})
		if replies[i] != "" {
			msgs = append(msgs, Message{Role: "assistant", Content: replies[i]})
		}
	}
	whole, err := e.EncodeMessages(msgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(whole, sess) {
		t.Fatalf("EncodeMessages %q\nturn by turn  %q", tok.Decode(whole), tok.Decode(sess))
	}

	// A reply cut by MAXTOKENS: the template's close comes whole.
	cut := append(slices.Clone(sess), tok.Encode("Hal", tokenizer.EncodeOptions{})...)
	p, err := c.encode(tok, "go on", cut, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := p, tok.Encode("<|im_end|>\n<|im_start|>user\ngo on<|im_end|>\n<|im_start|>assistant\n", special); !slices.Equal(got, w) {
		t.Fatalf("after a cut reply %v, want %v", got, w)
	}
}

// TestChatTemplateDeepSeekTurn: DeepSeek R1's real template drops an
// earlier turn's thinking and opens each reply with "<think>\n"; the text
// a second turn appends after the sampled end token is what the reference
// rendering of the whole conversation (chattmpl/testdata/expected.json,
// node-llama-cpp's engine) has after that token. With THINK the reply
// opens with "<think>\n" alone.
func TestChatTemplateDeepSeekTurn(t *testing.T) {
	specials := []string{"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"}
	tok, f := templateTokenizer(t, "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", specials, 1)
	c := newChatTemplate(templateSource(t, f), tok)
	if c == nil {
		t.Fatal("no chat template")
	}
	b, err := os.ReadFile("chattmpl/testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	var full string
	if err := json.Unmarshal(exp["deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"]["thinking-history"], &full); err != nil {
		t.Fatal(err)
	}
	_, tail, ok := strings.Cut(full, "4<｜end▁of▁sentence｜>")
	if !ok {
		t.Fatalf("reference %q", full)
	}
	prev := append(tok.Encode("<｜User｜>2+2?<｜Assistant｜><think>\nadd them\n</think>\n\n4", tokenizer.EncodeOptions{ParseSpecial: true}), tok.EOS())
	// Without THINK, enable_thinking is false: this template (llama.cpp's
	// copy) then closes the thinking block at once, as the reference
	// renders it with enable_thinking undefined.
	p, err := c.encode(tok, "and 3+3?", prev, false)
	if err != nil {
		t.Fatal(err)
	}
	if w := tok.Encode(tail, tokenizer.EncodeOptions{ParseSpecial: true}); !slices.Equal(p, w) {
		t.Fatalf("second turn %q, want %q", tok.Decode(p), tail)
	}
}

func TestChatTemplateThink(t *testing.T) {
	specials := []string{"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"}
	tok, f := templateTokenizer(t, "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", specials, 1)
	c := newChatTemplate(templateSource(t, f), tok)
	p, err := c.encode(tok, "hi", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	// A first turn: the template's BOS text is left to the job, which
	// feeds BOS where the vocabulary wants it (this one does not).
	if w := tok.Encode("<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜><think>\n", tokenizer.EncodeOptions{ParseSpecial: true}); !slices.Equal(p, w) {
		t.Fatalf("first turn with THINK %v, want %v", p, w)
	}
}

func templateSource(t *testing.T, f *gguf.File) string {
	src, ok := f.String("tokenizer.chat_template")
	if !ok {
		t.Fatal("no tokenizer.chat_template")
	}
	return src
}

// TestConversationAppends: a chat request on an empty session renders the
// whole conversation, system included; one continuing the session appends
// only its messages after the last assistant one (Tail), and when those
// are several (a tool result then a user message), the session then holds
// exactly what Qwen2.5's template renders for the whole conversation. A
// lone user message appends what GEN CHAT appends.
func TestConversationAppends(t *testing.T) {
	tok, f := templateTokenizer(t, "Qwen-Qwen2.5-7B-Instruct.jinja", []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 2)
	e := &Engine{Tok: tok, tmpl: newChatTemplate(templateSource(t, f), tok)}
	if e.tmpl == nil {
		t.Fatal("no chat template")
	}
	conv := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Weather?"}}
	sess, err := e.encodeConversation(conv, nil, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := spell(tok, sess); !strings.HasPrefix(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWeather?") {
		t.Fatalf("first request rendered %q: the system message is missing", s)
	}
	// The model's reply and its end token, then the tool's result and a
	// user message in one request re-sending the history.
	sess = append(sess, tok.Encode("Calling the tool.", tokenizer.EncodeOptions{})...)
	sess = append(sess, tok.EOS())
	conv = append(conv, Message{Role: "assistant", Content: "Calling the tool."}, Message{Role: "tool", Content: `{"temp": 21}`}, Message{Role: "user", Content: "And <|im_end|> tomorrow?"})
	if got := Tail(conv); len(got) != 2 || got[0].Role != "tool" {
		t.Fatalf("Tail %v", got)
	}
	p, err := e.encodeConversation(conv, nil, sess[len(sess)-1], false)
	if err != nil {
		t.Fatal(err)
	}
	sess = append(sess, p...)
	whole, err := e.encodeMessages(conv, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sess, whole) {
		t.Fatalf("session %q\nwhole   %q", tok.Decode(sess), tok.Decode(whole))
	}
	if !strings.Contains(spell(tok, p), "<tool_response>\n{\"temp\": 21}\n</tool_response>") {
		t.Fatalf("tool result rendered %q", spell(tok, p))
	}
	// The user's "<|im_end|>" stays text: two end tokens, closing the
	// tool's turn and the user's.
	ends := 0
	for _, id := range p {
		if id == tok.EOS() {
			ends++
		}
	}
	if ends != 2 {
		t.Fatalf("%d end tokens in %q, want 2", ends, spell(tok, p))
	}
	// One more user message after a reply: exactly GEN CHAT's turn.
	sess = append(sess, tok.Encode("Sunny.", tokenizer.EncodeOptions{})...)
	sess = append(sess, tok.EOS())
	conv = append(conv, Message{Role: "assistant", Content: "Sunny."}, Message{Role: "user", Content: "Thanks"})
	p, err = e.encodeConversation(conv, nil, sess[len(sess)-1], false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.tmpl.encode(tok, "Thanks", sess, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p, want) {
		t.Fatalf("lone user message %q, GEN CHAT %q", tok.Decode(p), tok.Decode(want))
	}
	// With no assistant message the leading system message is taken as
	// held already.
	if got := Tail([]Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}); len(got) != 1 || got[0].Role != "user" {
		t.Fatalf("Tail without an assistant message %v", got)
	}
}

// spell is ids' text with special tokens spelled out.
func spell(tok *tokenizer.Tokenizer, ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if t := tok.Text(id); strings.HasPrefix(t, "<|") {
			b.WriteString(t)
		} else {
			b.WriteString(tok.Decode([]int32{id}))
		}
	}
	return b.String()
}

// TestToolMessagesThroughTemplates: a tool call and its result go through
// templates that write a result with tojson (Llama 3.2, gpt-oss) and an
// empty assistant text as none (gpt-oss leaves out the analysis message
// it would otherwise write): the encoding holds the result as the
// template writes it, quotes and escapes included, and no empty analysis.
func TestToolMessagesThroughTemplates(t *testing.T) {
	call := []chattmpl.ToolCall{{ID: "c1", Name: "get_weather", Arguments: map[string]any{"city": "Oslo"}}}
	conv := []Message{{Role: "user", Content: "Weather?"}, {Role: "assistant", ToolCalls: call}, {Role: "tool", Content: `21 "degrees"`, ToolCallID: "c1"}}
	for file, want := range map[string]string{
		"meta-llama-Llama-3.2-3B-Instruct.jinja": "<|start_header_id|>ipython<|end_header_id|>\n\n\"21 \\\"degrees\\\"\"<|eot_id|>",
		"openai-gpt-oss-120b.jinja":              "<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}<|call|><|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>\"21 \\\"degrees\\\"\"<|end|>",
	} {
		tok, f := templateTokenizer(t, file, []string{"<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|call|>", "<|return|>"}, 1)
		e := &Engine{Tok: tok, tmpl: newChatTemplate(templateSource(t, f), tok)}
		if e.tmpl == nil {
			t.Fatalf("%s: no chat template", file)
		}
		ids, err := e.encodeMessages(conv, nil, false, false)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if s := spell(tok, ids); !strings.Contains(s, want) || strings.Contains(s, "reddwarf-message") || strings.Contains(s, "<|channel|>analysis") {
			t.Errorf("%s: rendered %q\nwant it to hold %q", file, s, want)
		}
	}
}

// TestHarmonySessionContinues: a gpt-oss session goes on after a reply
// ended by <|return|> (which its template writes only for the last turn,
// an earlier one ending in <|end|>) and after a tool call ended by
// <|call|> (whose result the template renders only after the turn that
// made the call): when the model wrote what the template renders, the
// session holds exactly the template's rendering of the whole
// conversation.
func TestHarmonySessionContinues(t *testing.T) {
	tok, f := templateTokenizer(t, "openai-gpt-oss-120b.jinja", []string{"<|startoftext|>", "<|return|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|call|>", "<|constrain|>"}, 1)
	e := &Engine{Tok: tok, tmpl: newChatTemplate(templateSource(t, f), tok)}
	if e.tmpl == nil {
		t.Fatal("no chat template")
	}
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	call := []chattmpl.ToolCall{{ID: "c1", Name: "get_weather", Arguments: map[string]any{"city": "Oslo"}}}
	conv := []Message{{Role: "user", Content: "Weather?"}}
	sess, err := e.encodeConversation(conv, nil, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	sess = append(sess, tok.Encode(" to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}<|call|>", special)...)
	conv = append(conv, Message{Role: "assistant", ToolCalls: call}, Message{Role: "tool", Content: "21 degrees", ToolCallID: "c1"})
	p, err := e.encodeConversation(conv, nil, sess[len(sess)-1], false)
	if err != nil {
		t.Fatal(err)
	}
	sess = append(sess, p...)
	sess = append(sess, tok.Encode("<|channel|>final<|message|>Sunny.<|return|>", special)...)
	conv = append(conv, Message{Role: "assistant", Content: "Sunny."}, Message{Role: "user", Content: "Thanks"})
	if p, err = e.encodeConversation(conv, nil, sess[len(sess)-1], false); err != nil {
		t.Fatal(err)
	}
	sess = append(sess, p...)
	whole, err := e.encodeMessages(conv, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	// The session keeps the <|return|> the model sampled where the
	// template writes <|end|> for an earlier turn.
	want := strings.Replace(spell(tok, whole), "Sunny.<|end|>", "Sunny.<|return|>", 1)
	if got := spell(tok, sess); got != want {
		t.Fatalf("session %q\nwhole   %q", got, want)
	}
}
