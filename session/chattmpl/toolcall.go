package chattmpl

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Tool-call markers of the Hermes format, which Qwen2, Qwen2.5, Qwen3
// and many fine-tunes' templates use: the reply holds each call as
// <tool_call>{"name": ..., "arguments": {...}}</tool_call>.
const (
	ToolCallOpen  = "<tool_call>"
	ToolCallClose = "</tool_call>"
)

// ToolFormat is how a template's model writes tool calls.
type ToolFormat int

const (
	ToolsNone    ToolFormat = iota // the template shows no tool calls
	ToolsHermes                    // <tool_call>{"name", "arguments"}</tool_call> (Qwen, Hermes)
	ToolsLlama3                    // the whole reply {"name", "parameters"} (Llama 3.1/3.2)
	ToolsMistral                   // [TOOL_CALLS][{"name", "arguments", "id"}] (Mistral)
)

// DetectToolFormat tells a template's tool-call format from its source.
func DetectToolFormat(src string) ToolFormat {
	switch {
	case strings.Contains(src, ToolCallOpen):
		return ToolsHermes
	case strings.Contains(src, "[TOOL_CALLS]"):
		return ToolsMistral
	case strings.Contains(src, `"parameters": `) && strings.Contains(src, "tool_calls"):
		return ToolsLlama3
	}
	return ToolsNone
}

// Parse splits a reply into its text and the tool calls it makes in
// format f. Llama 3's <|python_tag|> and Mistral's [TOOL_CALLS] are
// control tokens, absent from a reply's text: a Llama 3 call is a reply
// that is one JSON object with a name and parameters, a Mistral one a
// reply that is a JSON array of such objects (after any text).
func (f ToolFormat) Parse(reply string) (text string, calls []ToolCall) {
	switch f {
	case ToolsHermes:
		return ParseToolCalls(reply)
	case ToolsLlama3:
		body := strings.TrimPrefix(strings.TrimSpace(reply), "<|python_tag|>")
		if c, ok := parseCall(body); ok {
			return "", []ToolCall{c}
		}
	case ToolsMistral:
		body := strings.TrimSpace(reply)
		before, after, ok := strings.Cut(body, "[TOOL_CALLS]")
		if !ok {
			before, after = "", body
		}
		if i := strings.Index(after, "["); i >= 0 {
			var raw []json.RawMessage
			if json.Unmarshal([]byte(after[i:]), &raw) == nil && len(raw) > 0 {
				for _, r := range raw {
					c, ok := parseCall(string(r))
					if !ok {
						return strings.TrimSpace(reply), nil
					}
					calls = append(calls, c)
				}
				return strings.TrimSpace(before + after[:i]), calls
			}
		}
	}
	return strings.TrimSpace(reply), nil
}

// ParseToolCalls splits a reply into its text and the tool calls it makes
// in the Hermes format. A block whose JSON does not parse, or lacks a
// name, stays text; so does an unclosed one. Arguments is the decoded
// object (a JSON string holding one is decoded too, as some models write
// it so). Call IDs are left to the caller.
func ParseToolCalls(reply string) (text string, calls []ToolCall) {
	var out strings.Builder
	rest := reply
	for {
		i := strings.Index(rest, ToolCallOpen)
		if i < 0 {
			break
		}
		body, after, ok := strings.Cut(rest[i+len(ToolCallOpen):], ToolCallClose)
		if !ok {
			break
		}
		c, ok := parseCall(body)
		if !ok {
			out.WriteString(rest[:i+len(ToolCallOpen)])
			rest = rest[i+len(ToolCallOpen):]
			continue
		}
		out.WriteString(rest[:i])
		calls = append(calls, c)
		rest = after
	}
	out.WriteString(rest)
	return strings.TrimSpace(out.String()), calls
}

func parseCall(body string) (ToolCall, bool) {
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	var v struct {
		Name       string          `json:"name"`
		Arguments  json.RawMessage `json:"arguments"`
		Parameters json.RawMessage `json:"parameters"` // Llama 3's name for them
		ID         string          `json:"id"`         // Mistral's
	}
	if err := d.Decode(&v); err != nil || d.More() || v.Name == "" {
		return ToolCall{}, false
	}
	if len(v.Arguments) == 0 {
		v.Arguments = v.Parameters
	}
	args := bytes.TrimSpace(v.Arguments)
	var s string
	if json.Unmarshal(args, &s) == nil {
		args = []byte(s) // arguments written as a JSON string
	}
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	var obj map[string]any
	ad := json.NewDecoder(bytes.NewReader(args))
	ad.UseNumber()
	if ad.Decode(&obj) != nil || ad.More() {
		return ToolCall{}, false
	}
	return ToolCall{ID: v.ID, Name: v.Name, Arguments: obj}, true
}
