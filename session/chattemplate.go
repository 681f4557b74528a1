package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"reddwarf/infer/tokenizer"
	"reddwarf/session/chattmpl"
)

// chatTemplate is GEN CHAT through the model's own chat template
// (tokenizer.chat_template), preferred over the hard-coded ChatFormats.
type chatTemplate struct {
	t       *chattmpl.Template
	tools   chattmpl.ToolFormat // how the template writes tool calls
	bosText string              // stripped off a first turn: the job adds BOS itself
}

// newChatTemplate compiles a model's chat template (src, "" for none);
// nil where it has none, or one the engine cannot compile (GEN CHAT then
// falls back to ChatFormat).
func newChatTemplate(src string, tok *tokenizer.Tokenizer) *chatTemplate {
	if src == "" {
		return nil
	}
	bos, eos := "", ""
	if tok.BOS() >= 0 {
		bos = tok.Text(tok.BOS())
	}
	if tok.EOS() >= 0 {
		eos = tok.Text(tok.EOS())
	}
	t, err := chattmpl.Compile(src, bos, eos)
	if err != nil {
		return nil
	}
	c := &chatTemplate{t: t, tools: chattmpl.DetectToolFormat(src)}
	if tok.WantsBOS() {
		c.bosText = bos
	}
	return c
}

// Placeholders for the earlier turns and the user's text: control
// characters no template rewrites (they strip whitespace and split on
// </think>, nothing more).
const (
	phUser      = "\x01reddwarf-user\x01"
	phAssistant = "\x01reddwarf-assistant\x01"
	phPrompt    = "\x01reddwarf-prompt\x01"
)

// errTemplateAppend: the template renders an earlier assistant turn's
// ending differently once another turn follows it, so the session's
// tokens cannot be continued.
var errTemplateAppend = errors.New("the model's chat template does not render a new turn as an append to the conversation")

// render returns the text a session appends for a user turn saying
// prompt. A session holds tokens, not messages, so the template is never
// re-run over its real history: a first turn (empty session) is the
// template over that one message, without the BOS text the job feeds
// itself. A later turn is the difference between the template over a
// stand-in exchange [user, assistant] and over [user, assistant, user
// prompt]: what follows the assistant's text in the first is how the
// template closes a turn (for ChatML "<|im_end|>\n"), what follows it in
// the second is that close and the new turn. lastEnd is the text of the
// end-of-turn token the model sampled ("" if the session ends otherwise):
// when the close starts with it, only the rest is appended; a session that
// ends otherwise (cut by MAXTOKENS, or GEN text) gets the whole close. The
// template's rules for earlier turns (Qwen3 dropping their thinking) thus
// apply only to how the stand-in is closed, never to the session's
// tokens, which stay as the model produced them.
func (c *chatTemplate) render(prompt string, first bool, lastEnd string, think bool) (string, error) {
	return c.renderTail([]chattmpl.Message{{Role: "user", Content: prompt}}, first, lastEnd, think, nil, nil)
}

// renderTail is render for any messages appended at once (an HTTP request
// continuing a session with, say, a tool result and a user message): the
// template over msgs alone for a first turn, else the difference between
// the stand-in exchange and the stand-in followed by msgs. calls are the
// tool calls of the assistant turn the session ends with (the request's
// last assistant message): a template that renders a tool result only
// after a turn that made the call (gpt-oss's) is rendered with them on the
// stand-in, and what follows that turn's rendering is appended (the
// session holds the call as the model wrote it, up to its end token).
func (c *chatTemplate) renderTail(msgs []chattmpl.Message, first bool, lastEnd string, think bool, tools []any, calls []chattmpl.ToolCall) (string, error) {
	extra := templateVars(think, tools)
	if first {
		s, err := c.t.Render(msgs, true, extra)
		if err != nil {
			return "", err
		}
		return strings.TrimPrefix(s, c.bosText), nil
	}
	hist := []chattmpl.Message{{Role: "user", Content: phUser}, {Role: "assistant", Content: phAssistant}}
	closeB, closeA, err := c.closes(hist, msgs, extra)
	if err != nil && len(calls) > 0 {
		hist[1].ToolCalls = calls
		if closeB, closeA, err = c.closes(hist, msgs, extra); err == nil {
			return closeA[len(closeB):], nil
		}
	}
	if err != nil {
		return "", err
	}
	if lastEnd == harmonyReturn {
		lastEnd = harmonyEnd // see closes
	}
	if lastEnd != "" && strings.HasPrefix(closeA, lastEnd) {
		return closeA[len(lastEnd):], nil
	}
	return closeA, nil
}

// gpt-oss's template ends the conversation's last assistant turn with
// <|return|>, the token the model samples at the end of its answer, and
// an earlier one with <|end|>, as the model reads its history; llama.cpp
// renders the history with <|end|> for inference, and so does closes.
const harmonyReturn, harmonyEnd = "<|return|>", "<|end|>"

// closes renders the stand-in exchange hist alone and followed by msgs,
// and returns what follows the assistant's text in each (closeA begins
// with closeB).
func (c *chatTemplate) closes(hist, msgs []chattmpl.Message, extra map[string]any) (closeB, closeA string, err error) {
	before, err := c.t.Render(hist, false, extra)
	if err != nil {
		return "", "", err
	}
	after, err := c.t.Render(append(slices.Clone(hist), msgs...), true, extra)
	if err != nil {
		return "", "", err
	}
	_, closeB, okB := strings.Cut(before, phAssistant)
	_, closeA, okA := strings.Cut(after, phAssistant)
	if rest, ok := strings.CutPrefix(closeB, harmonyReturn); ok && len(hist[1].ToolCalls) == 0 {
		closeB = harmonyEnd + rest
	}
	if !okB || !okA || !strings.HasPrefix(closeA, closeB) {
		return "", "", errTemplateAppend
	}
	return closeB, closeA, nil
}

// encodeTail renders msgs appended at once to a session ending in prev
// (renderTail) as token ids: each message's text stands in as a
// placeholder, so the template's markers become special tokens and the
// messages' own text stays text, as encodeMessages does.
func (c *chatTemplate) encodeTail(tok *tokenizer.Tokenizer, msgs []Message, tools []any, prev []int32, calls []chattmpl.ToolCall, think bool) ([]int32, error) {
	lastEnd := ""
	if n := len(prev); n > 0 && tok.IsEOG(prev[n-1]) {
		lastEnd = tok.Text(prev[n-1])
	}
	ms := placeholders(msgs)
	s, err := c.renderTail(ms, len(prev) == 0, lastEnd, think, tools, calls)
	if err != nil {
		return nil, err
	}
	return encodeFilled(tok, s, ms, msgs), nil
}

// placeholders stands msgs in with placeholder texts (encodeFilled puts
// the real texts back as plain text).
func placeholders(msgs []Message) []chattmpl.Message {
	ms := make([]chattmpl.Message, len(msgs))
	for i, m := range msgs {
		ms[i] = chattmpl.Message{Role: m.Role, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		if m.Content != "" {
			// (An empty text stays empty: templates test it, gpt-oss's
			// to leave out an assistant's analysis beside its tool call.)
			ms[i].Content = fmt.Sprintf("\x01reddwarf-message-%d\x01", i)
		}
	}
	return ms
}

// encodeFilled encodes s, a rendering of ms, with each placeholder
// replaced by its message's text encoded as plain text; the rest is
// encoded with special tokens parsed. A message the template left out (a
// role it ignores) is skipped.
func encodeFilled(tok *tokenizer.Tokenizer, s string, ms []chattmpl.Message, msgs []Message) []int32 {
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	var out []int32
	for i, m := range msgs {
		if ms[i].Content == "" {
			continue
		}
		text := m.Content
		before, after, ok := strings.Cut(s, ms[i].Content)
		if !ok {
			// A template that writes a text with tojson (Llama 3.x's and
			// gpt-oss's tool results) escapes the placeholder's control
			// bytes: the text goes in escaped the same way.
			before, after, ok = strings.Cut(s, jsonInner(ms[i].Content))
			text = jsonInner(m.Content)
		}
		if !ok {
			continue
		}
		out = append(out, tok.Encode(before, special)...)
		out = append(out, tok.Encode(text, tokenizer.EncodeOptions{})...)
		s = after
	}
	return append(out, tok.Encode(s, special)...)
}

// jsonInner is s as a JSON string without its quotes, as tojson writes
// it (no HTML escaping).
func jsonInner(s string) string {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// encode renders a user turn (render) as token ids; as ChatFormat.Encode
// does, the template's markers become special tokens while the user's own
// text stays text even where it spells one.
func (c *chatTemplate) encode(tok *tokenizer.Tokenizer, prompt string, prev []int32, think bool) ([]int32, error) {
	lastEnd := ""
	if n := len(prev); n > 0 && tok.IsEOG(prev[n-1]) {
		lastEnd = tok.Text(prev[n-1])
	}
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	plain := tok.Encode(prompt, tokenizer.EncodeOptions{})
	if slices.Equal(plain, tok.Encode(prompt, special)) {
		s, err := c.render(prompt, len(prev) == 0, lastEnd, think)
		if err != nil {
			return nil, err
		}
		return tok.Encode(s, special), nil
	}
	s, err := c.render(phPrompt, len(prev) == 0, lastEnd, think)
	if err != nil {
		return nil, err
	}
	before, after, _ := strings.Cut(s, phPrompt)
	out := tok.Encode(before, special)
	out = append(out, plain...)
	return append(out, tok.Encode(after, special)...), nil
}

// encodeMessages renders a whole conversation (EncodeMessages) through the
// template, the BOS text left to the job: each message's text stands in
// as a placeholder, so the template's markers become special tokens and
// the messages' text stays text. For templates that render a turn the
// same whether or not more follow (Qwen2, Llama 3), these are the tokens
// a session that had the conversation turn by turn through GEN CHAT holds.
func (c *chatTemplate) encodeMessages(tok *tokenizer.Tokenizer, msgs []Message, tools []any, think bool) ([]int32, error) {
	ms := placeholders(msgs)
	s, err := c.t.Render(ms, true, templateVars(think, tools))
	if err != nil {
		return nil, err
	}
	return encodeFilled(tok, strings.TrimPrefix(s, c.bosText), ms, msgs), nil
}

// templateVars are the variables a rendering adds to the messages:
// enable_thinking, and tools when a request gives some.
func templateVars(think bool, tools []any) map[string]any {
	v := map[string]any{"enable_thinking": think}
	if len(tools) > 0 {
		v["tools"] = tools
	}
	return v
}
