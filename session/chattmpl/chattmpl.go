// Package chattmpl renders a model's own chat template (the GGUF's
// tokenizer.chat_template, Jinja) for a conversation, as llama.cpp and
// Hugging Face do: the messages, add_generation_prompt, bos_token and
// eos_token are the template's inputs.
//
// The Jinja engine is github.com/ardanlabs/jinja, written for exactly
// these templates; its renderings of the real templates in testdata are
// checked byte for byte against those of the engine node-llama-cpp uses
// (tools/llamacpp-ref/chat-templates.mjs).
//
// The engine sets no bound on a template's loops or macro recursion: a
// template is trusted as far as the model file it comes in is.
package chattmpl

import (
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation: an assistant turn may carry
// tool calls, a "tool" turn answers the call ToolCallID.
type Message struct {
	Role       string
	Content    string
	ToolCalls  []ToolCall
	ToolCallID string
}

// ToolCall is a function call an assistant turn made. Arguments is the
// decoded JSON object (templates render it with tojson).
type ToolCall struct {
	ID        string
	Name      string
	Arguments any
}

// Template is a compiled chat template with the vocabulary's BOS and EOS
// texts it is rendered with. Safe for concurrent use.
type Template struct {
	t        *jinja.Template
	bos, eos string
}

// Compile compiles a chat template; bos and eos are the texts of the
// vocabulary's BOS and EOS tokens ("" where it has none).
func Compile(src, bos, eos string) (tmpl *Template, err error) {
	// The template comes from the model file: a parser panic on a shape
	// it does not expect is an error like any other.
	defer func() {
		if r := recover(); r != nil {
			tmpl, err = nil, fmt.Errorf("chat template: %v", r)
		}
	}()
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{t: t, bos: bos, eos: eos}, nil
}

// Render renders msgs; addGen opens the assistant's turn after them.
// extra adds template variables (enable_thinking, date_string, tools: the
// OpenAI-style tool list, decoded JSON).
func (t *Template) Render(msgs []Message, addGen bool, extra map[string]any) (out string, err error) {
	// A template may fail in ways the engine reports by panicking on
	// shapes it does not expect; a model file is untrusted input.
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: %v", r)
		}
	}()
	ms := make([]any, len(msgs))
	for i, m := range msgs {
		mm := map[string]any{"role": m.Role, "content": m.Content}
		if len(m.ToolCalls) > 0 {
			calls := make([]any, len(m.ToolCalls))
			for k, c := range m.ToolCalls {
				calls[k] = map[string]any{"id": c.ID, "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": c.Arguments}}
			}
			mm["tool_calls"] = calls
		}
		if m.ToolCallID != "" {
			mm["tool_call_id"] = m.ToolCallID
		}
		ms[i] = mm
	}
	data := map[string]any{
		"messages": ms, "add_generation_prompt": addGen,
		"bos_token": t.bos, "eos_token": t.eos,
	}
	for k, v := range extra {
		data[k] = v
	}
	out, err = t.t.Render(data)
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}
