package httpapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"reddwarf/session/chattmpl"
	"reddwarf/session/jsonmask"
)

// Tool calls.
//
// A request's tools (OpenAI's list, or Anthropic's re-expressed as it)
// are given to the model's chat template, which lists them for the model;
// the reply is parsed for calls in the format the template shows
// (chattmpl.ToolFormat: Hermes <tool_call> blocks for Qwen, a whole-reply
// {"name", "parameters"} object for Llama 3.x, a [TOOL_CALLS] array for
// Mistral), which come back as OpenAI tool_calls or Anthropic tool_use
// blocks. tool_choice "required" (Anthropic "any") or
// a named function forces a call: the reply is constrained, as GEN …
// SCHEMA is, to one Hermes block naming one of the tools, whose arguments
// follow the tool's parameters schema when one tool is possible (any JSON
// object when several are, or when its schema is outside jsonmask's
// subset). Forcing needs a template that speaks Hermes.

// toolDef is one entry of OpenAI's tools.
type toolDef struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// Limits on tools.
const maxTools = 128

// toolName is OpenAI's rule for function names.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolSet is a request's decoded tools and choice.
type toolSet struct {
	list  []any // decoded, for the template
	defs  []toolDef
	force string // "": auto; "*": any tool; else that tool
}

// decodeTools reads tools and tool_choice. No tools, or tool_choice
// "none", is nil: the template gets none and the reply is not parsed.
func decodeTools(rawTools, rawChoice json.RawMessage) (*toolSet, error) {
	if len(rawTools) == 0 || string(rawTools) == "null" {
		if len(rawChoice) > 0 && string(rawChoice) != "null" && string(rawChoice) != `"none"` && string(rawChoice) != `"auto"` {
			return nil, bad("tool_choice", "tool_choice needs tools")
		}
		return nil, nil
	}
	ts := &toolSet{}
	if err := json.Unmarshal(rawTools, &ts.defs); err != nil {
		return nil, bad("tools", "tools must be an array of {type: function, function: {name, description, parameters}}")
	}
	if len(ts.defs) == 0 {
		return decodeTools(nil, rawChoice) // [] is no tools
	}
	if len(ts.defs) > maxTools {
		return nil, bad("tools", "at most %d tools", maxTools)
	}
	if err := json.Unmarshal(rawTools, &ts.list); err != nil {
		return nil, bad("tools", "%v", err)
	}
	seen := map[string]bool{}
	for i, d := range ts.defs {
		if d.Type != "function" {
			return nil, bad(fmt.Sprintf("tools[%d].type", i), "tool type must be function")
		}
		if !toolName.MatchString(d.Function.Name) || seen[d.Function.Name] {
			return nil, bad(fmt.Sprintf("tools[%d].function.name", i), "tool names must match [a-zA-Z0-9_-]{1,64} and differ")
		}
		seen[d.Function.Name] = true
	}
	if len(rawChoice) == 0 || string(rawChoice) == "null" {
		return ts, nil
	}
	var s string
	if json.Unmarshal(rawChoice, &s) == nil {
		switch s {
		case "none":
			return nil, nil
		case "auto":
		case "required":
			ts.force = "*"
		default:
			return nil, bad("tool_choice", "tool_choice must be none, auto, required or {type: function, function: {name}}")
		}
		return ts, nil
	}
	var c struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(rawChoice, &c) != nil || c.Type != "function" || !seen[c.Function.Name] {
		return nil, bad("tool_choice", "tool_choice must name one of the tools: {type: function, function: {name}}")
	}
	ts.force = c.Function.Name
	return ts, nil
}

// format is the constraint a forced tool_choice puts on the reply: one
// Hermes block calling one of the tools (ts.force "*") or the named one.
func (ts *toolSet) format() *jsonmask.Schema {
	var names []string
	var args json.RawMessage = json.RawMessage(`{"type":"object"}`)
	for _, d := range ts.defs {
		if ts.force == "*" || ts.force == d.Function.Name {
			names = append(names, d.Function.Name)
			if p := d.Function.Parameters; len(names) == 1 && len(p) > 0 && string(p) != "null" {
				if _, err := jsonmask.Compile(p); err == nil {
					args = p
				}
			}
		}
	}
	if len(names) > 1 {
		args = json.RawMessage(`{"type":"object"}`)
	}
	enum, _ := json.Marshal(names)
	src := `{"type":"object","properties":{"name":{"enum":` + string(enum) + `},"arguments":` + string(args) + `},"required":["name","arguments"]}`
	s, err := jsonmask.Compile([]byte(src))
	if err != nil { // cannot happen: args compiled alone
		s, _ = jsonmask.Compile([]byte(`{"type":"object","properties":{"name":{"enum":` + string(enum) + `},"arguments":{"type":"object"}},"required":["name","arguments"]}`))
	}
	return s.WithAffixes(chattmpl.ToolCallOpen+"\n", "\n"+chattmpl.ToolCallClose)
}

// toolCall is a parsed call with its ID and arguments as JSON text.
type toolCall struct {
	id, name, args string
	input          any // the decoded arguments (Anthropic's input)
}

// parseCalls splits a reply into text and the calls it makes in the
// model's format f, giving each an ID with prefix ("call_", "toolu_"), or
// for Mistral, whose template refuses any other, nine letters and digits
// (the model's own where it wrote one).
func parseCalls(f chattmpl.ToolFormat, reply, prefix string) (string, []toolCall) {
	text, calls := f.Parse(reply)
	out := make([]toolCall, len(calls))
	base := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i, c := range calls {
		b, _ := json.Marshal(c.Arguments)
		id := prefix + base + "_" + strconv.Itoa(i)
		if f == chattmpl.ToolsMistral {
			id = c.ID
			if !mistralID.MatchString(id) {
				// 36^8 and up, under 36^9: nine base-36 digits.
				id = strconv.FormatInt(2821109907456+(time.Now().UnixNano()+int64(i))%1e12, 36)
			}
		}
		out[i] = toolCall{id: id, name: c.Name, args: string(b), input: c.Arguments}
	}
	return text, out
}

// mistralID is the call ID Mistral's template accepts.
var mistralID = regexp.MustCompile(`^[a-zA-Z0-9]{9}$`)

// holdBack is how much of streamed Hermes text may go out now: everything
// before the first "<tool_call>", less a tail that could be the start of
// one. held reports that a call began.
func holdBack(text string) (n int, held bool) {
	if i := strings.Index(text, chattmpl.ToolCallOpen); i >= 0 {
		return i, true
	}
	for k := min(len(text), len(chattmpl.ToolCallOpen)-1); k > 0; k-- {
		if strings.HasSuffix(text, chattmpl.ToolCallOpen[:k]) {
			return len(text) - k, false
		}
	}
	return len(text), false
}

// openAICalls renders calls as OpenAI's tool_calls (with index, for a
// stream's delta).
func openAICalls(calls []toolCall, indexed bool) []any {
	out := make([]any, len(calls))
	for i, c := range calls {
		m := map[string]any{"id": c.id, "type": "function", "function": map[string]any{"name": c.name, "arguments": c.args}}
		if indexed {
			m["index"] = i
		}
		out[i] = m
	}
	return out
}

// toolWatch passes a stream's text on until a tool call starts in it: for
// Hermes at a "<tool_call>"; for Llama 3 and Mistral, whose calls are the
// whole reply, a reply that opens with '{' or '[' is held to its end
// (leading space is held until the first other byte says which).
type toolWatch struct {
	format  chattmpl.ToolFormat
	acc     []byte
	emitted int  // bytes of acc passed on
	held    bool // a call started: nothing more passes
	free    bool // (Llama 3, Mistral) the reply is text: everything passes
}

// push adds streamed text and returns what may go out now.
func (w *toolWatch) push(p []byte) []byte {
	w.acc = append(w.acc, p...)
	if w.held {
		return nil
	}
	n := len(w.acc)
	switch w.format {
	case chattmpl.ToolsHermes:
		n, w.held = holdBack(string(w.acc))
	case chattmpl.ToolsLlama3, chattmpl.ToolsMistral:
		if !w.free {
			t := strings.TrimLeft(string(w.acc), " \t\r\n")
			switch {
			case t == "":
				return nil
			case t[0] == '{' || t[0] == '[':
				w.held = true
				return nil
			}
			w.free = true
		}
	}
	out := w.acc[w.emitted:n]
	w.emitted = n
	return out
}
