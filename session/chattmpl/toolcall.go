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
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := d.Decode(&v); err != nil || d.More() || v.Name == "" {
		return ToolCall{}, false
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
	return ToolCall{Name: v.Name, Arguments: obj}, true
}
