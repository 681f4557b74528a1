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
	// <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{args}<｜tool▁call▁end｜>
	// (DeepSeek V3.1), within <｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>.
	ToolsDeepSeekV3
	// <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{args}\n```<｜tool▁call▁end｜>
	// (DeepSeek R1 and its distills), within the same section markers.
	ToolsDeepSeekR1
	// <｜DSML｜tool_calls> (V3.2: function_calls) holding
	// <｜DSML｜invoke name="NAME"> blocks of
	// <｜DSML｜parameter name="K" string="true|false">V</｜DSML｜parameter>
	// (DeepSeek V3.2, V4, V4 Flash): a string="true" value is the
	// string itself, a "false" one JSON.
	ToolsDSML
	// DeepSeek V3.2's DSML: V4's, its block named function_calls.
	ToolsDSMLFunctionCalls
	// gpt-oss's harmony messages: a call is
	// <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{args}
	// (or " to=functions.NAME<|channel|>commentary json<|message|>…" with
	// the recipient in the role header), ended by <|call|>; the answer is
	// the final channel's message, the thinking the analysis channel's.
	ToolsHarmony
)

// Markers of the DeepSeek formats (tokens of the DeepSeek vocabularies).
const (
	dsCallsBegin = "<｜tool▁calls▁begin｜>"
	dsCallsEnd   = "<｜tool▁calls▁end｜>"
	dsCallBegin  = "<｜tool▁call▁begin｜>"
	dsCallEnd    = "<｜tool▁call▁end｜>"
	dsSep        = "<｜tool▁sep｜>"
	dsml         = "｜DSML｜"
)

// Markers of harmony (control tokens of gpt-oss's vocabulary).
const (
	hmStart   = "<|start|>"
	hmEnd     = "<|end|>"
	hmChannel = "<|channel|>"
	hmMessage = "<|message|>"
)

// DetectToolFormat tells a template's tool-call format from its source.
func DetectToolFormat(src string) ToolFormat {
	switch {
	case strings.Contains(src, hmChannel) && strings.Contains(src, "to=") && strings.Contains(src, `"functions."`):
		return ToolsHarmony
	case strings.Contains(src, dsml) && strings.Contains(src, "function_calls"):
		return ToolsDSMLFunctionCalls
	case strings.Contains(src, dsml):
		return ToolsDSML
	case strings.Contains(src, dsSep) && strings.Contains(src, "```json"):
		return ToolsDeepSeekR1
	case strings.Contains(src, dsSep):
		return ToolsDeepSeekV3
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
	case ToolsDeepSeekV3, ToolsDeepSeekR1:
		return parseDeepSeek(reply)
	case ToolsDSML, ToolsDSMLFunctionCalls:
		return parseDSML(reply)
	case ToolsHarmony:
		return parseHarmony(reply)
	}
	return strings.TrimSpace(reply), nil
}

// CallSyntax is how a format writes one call, for a reply constrained to
// be one: Open, then the name, Mid, the arguments as a JSON object, and
// Close; or, where NameKey is set, Open, a JSON object holding the name
// under NameKey and the arguments under ArgsKey, and Close.
type CallSyntax struct {
	Open, Mid, Close string
	NameKey, ArgsKey string
}

// Call is f's CallSyntax; false for a format without one whose arguments
// are one JSON object (none; DSML, see DSMLCall).
func (f ToolFormat) Call() (CallSyntax, bool) {
	switch f {
	case ToolsHermes:
		return CallSyntax{Open: ToolCallOpen + "\n", Close: "\n" + ToolCallClose, NameKey: "name", ArgsKey: "arguments"}, true
	case ToolsLlama3:
		return CallSyntax{NameKey: "name", ArgsKey: "parameters"}, true
	case ToolsMistral:
		return CallSyntax{Open: "[TOOL_CALLS][", Close: "]", NameKey: "name", ArgsKey: "arguments"}, true
	case ToolsDeepSeekV3:
		return CallSyntax{Open: dsCallsBegin + dsCallBegin, Mid: dsSep, Close: dsCallEnd + dsCallsEnd}, true
	case ToolsDeepSeekR1:
		return CallSyntax{Open: dsCallsBegin + dsCallBegin + "function" + dsSep, Mid: "\n```json\n", Close: "\n```" + dsCallEnd + dsCallsEnd}, true
	case ToolsHarmony:
		// <|call|> ends generation: it is the reply's end, not its text.
		return CallSyntax{Open: hmChannel + "commentary to=functions.", Mid: " <|constrain|>json" + hmMessage}, true
	}
	return CallSyntax{}, false
}

// DSMLCall is how DSML formats write one call: Open, the name, Mid, the
// parameters, Close; a parameter is Param, its name, then ParamString
// and its text, or ParamJSON and its value as JSON, then ParamEnd.
// (The template writes an empty line for a call without parameters.)
type DSMLCall struct {
	Open, Mid, Close                        string
	Param, ParamString, ParamJSON, ParamEnd string
}

// DSML is f's DSMLCall; false for other formats.
func (f ToolFormat) DSML() (DSMLCall, bool) {
	block := "tool_calls>"
	switch f {
	case ToolsDSMLFunctionCalls:
		block = "function_calls>"
	case ToolsDSML:
	default:
		return DSMLCall{}, false
	}
	return DSMLCall{
		Open:  "\n\n<" + dsml + block + "\n<" + dsml + `invoke name="`,
		Mid:   "\">\n",
		Close: "</" + dsml + "invoke>\n</" + dsml + block,
		Param: "<" + dsml + `parameter name="`, ParamString: `" string="true">`, ParamJSON: `" string="false">`,
		ParamEnd: "</" + dsml + "parameter>",
	}, true
}

// CallStart is the text a call begins with in f, where a reply's text
// before it is plain text ("" for formats whose calls are the whole
// reply, and for harmony, whose text is known only at its end).
func (f ToolFormat) CallStart() string {
	switch f {
	case ToolsHermes:
		return ToolCallOpen
	case ToolsDeepSeekV3, ToolsDeepSeekR1:
		return dsCallsBegin
	case ToolsDSML, ToolsDSMLFunctionCalls:
		return "<" + dsml
	}
	return ""
}

// parseDeepSeek reads DeepSeek V3.1's and R1's calls: the text before
// <｜tool▁calls▁begin｜> is the reply's, then calls follow up to
// <｜tool▁calls▁end｜> (or the reply's end). A call that does not parse
// leaves the whole reply as text.
func parseDeepSeek(reply string) (string, []ToolCall) {
	text, rest, ok := strings.Cut(reply, dsCallsBegin)
	if !ok {
		return strings.TrimSpace(reply), nil
	}
	var calls []ToolCall
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" || strings.HasPrefix(rest, dsCallsEnd) {
			break
		}
		body, ok := strings.CutPrefix(rest, dsCallBegin)
		if !ok {
			return strings.TrimSpace(reply), nil
		}
		head, after, ok := strings.Cut(body, dsSep)
		if !ok {
			return strings.TrimSpace(reply), nil
		}
		name := head
		if head == "function" { // R1: the type, then the name on its own line
			name, after, ok = strings.Cut(after, "\n")
			if !ok {
				return strings.TrimSpace(reply), nil
			}
		}
		after = strings.TrimLeft(after, " \t\r\n")
		fenced := strings.HasPrefix(after, "```json")
		after = strings.TrimPrefix(after, "```json")
		args, n, ok := leadingObject(after)
		if !ok {
			return strings.TrimSpace(reply), nil
		}
		after = strings.TrimLeft(after[n:], " \t\r\n")
		if fenced {
			after = strings.TrimLeft(strings.TrimPrefix(after, "```"), " \t\r\n")
		}
		if rest, ok = strings.CutPrefix(after, dsCallEnd); !ok || strings.TrimSpace(name) == "" {
			return strings.TrimSpace(reply), nil
		}
		calls = append(calls, ToolCall{Name: strings.TrimSpace(name), Arguments: args})
	}
	if len(calls) == 0 {
		return strings.TrimSpace(reply), nil
	}
	return strings.TrimSpace(text), calls
}

// leadingObject decodes the JSON object s starts with (after space) and
// says how many bytes of s it took.
func leadingObject(s string) (map[string]any, int, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil || obj == nil {
		return nil, 0, false
	}
	return obj, int(d.InputOffset()), true
}

// parseDSML reads DeepSeek V3.2's and V4's DSML calls: the text before
// the <｜DSML｜tool_calls> (or function_calls) block is the reply's, then
// each invoke is a call whose parameters make its arguments.
func parseDSML(reply string) (string, []ToolCall) {
	at := -1
	for _, block := range []string{"tool_calls>", "function_calls>"} {
		if i := strings.Index(reply, "<"+dsml+block); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return strings.TrimSpace(reply), nil
	}
	rest := reply[at+len("<"+dsml):]
	rest = rest[strings.IndexByte(rest, '>')+1:]
	var calls []ToolCall
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		body, ok := strings.CutPrefix(rest, "<"+dsml+`invoke name="`)
		if !ok {
			break
		}
		name, body, ok := strings.Cut(body, `">`)
		if !ok || name == "" {
			return strings.TrimSpace(reply), nil
		}
		inv, after, ok := strings.Cut(body, "</"+dsml+"invoke>")
		if !ok {
			return strings.TrimSpace(reply), nil
		}
		args, ok := dsmlParams(inv)
		if !ok {
			return strings.TrimSpace(reply), nil
		}
		calls = append(calls, ToolCall{Name: name, Arguments: args})
		rest = after
	}
	if len(calls) == 0 {
		return strings.TrimSpace(reply), nil
	}
	return strings.TrimSpace(reply[:at]), calls
}

// dsmlParams reads an invoke's parameters into an arguments object.
func dsmlParams(inv string) (map[string]any, bool) {
	args := map[string]any{}
	open, end := "<"+dsml+`parameter name="`, "</"+dsml+"parameter>"
	for {
		inv = strings.TrimLeft(inv, " \t\r\n")
		if inv == "" {
			return args, true
		}
		body, ok := strings.CutPrefix(inv, open)
		if !ok {
			return nil, false
		}
		key, body, ok := strings.Cut(body, `" string="`)
		if !ok {
			return nil, false
		}
		kind, body, ok := strings.Cut(body, `">`)
		if !ok {
			return nil, false
		}
		val, after, ok := strings.Cut(body, end)
		if !ok {
			return nil, false
		}
		switch kind {
		case "true":
			args[key] = val
		case "false":
			d := json.NewDecoder(strings.NewReader(val))
			d.UseNumber()
			var v any
			if d.Decode(&v) != nil || d.More() {
				return nil, false
			}
			args[key] = v
		default:
			return nil, false
		}
		inv = after
	}
}

// Thinking is the thinking a reply in format f holds apart from its text
// (gpt-oss's analysis channel), "" for formats that write it as text.
func (f ToolFormat) Thinking(reply string) string {
	if f != ToolsHarmony {
		return ""
	}
	var out []string
	for _, msg := range strings.Split(reply, hmStart) {
		head, body, ok := strings.Cut(strings.TrimPrefix(msg, "assistant"), hmMessage)
		if ok && strings.Contains(head, hmChannel+"analysis") && !strings.Contains(head, "to=") {
			body, _, _ = strings.Cut(body, hmEnd)
			out = append(out, strings.TrimSpace(body))
		}
	}
	return strings.Join(out, "\n\n")
}

// parseHarmony reads a gpt-oss reply (its markers kept in the text): a
// sequence of messages, each a header (channel, recipient), <|message|>
// and a body up to <|end|>, the next opening with <|start|>assistant. A
// message to functions.NAME is a call, its body the arguments; the final
// channel's body is the text, and a commentary preamble's too; the
// analysis (thinking) is left out. A reply without <|message|> is all
// text.
func parseHarmony(reply string) (string, []ToolCall) {
	if !strings.Contains(reply, hmMessage) {
		return strings.TrimSpace(reply), nil
	}
	var text []string
	var calls []ToolCall
	for _, msg := range strings.Split(reply, hmStart) {
		msg = strings.TrimPrefix(msg, "assistant")
		head, body, ok := strings.Cut(msg, hmMessage)
		if !ok {
			continue
		}
		body, _, _ = strings.Cut(body, hmEnd)
		channel := ""
		if _, c, ok := strings.Cut(head, hmChannel); ok {
			channel, _, _ = strings.Cut(strings.TrimSpace(c), " ")
			channel, _, _ = strings.Cut(channel, "<")
		}
		if _, to, ok := strings.Cut(head, "to=functions."); ok {
			name := to
			if i := strings.IndexAny(name, " <"); i >= 0 {
				name = name[:i]
			}
			args, n, ok := leadingObject(body)
			if !ok || name == "" || strings.TrimSpace(body[n:]) != "" {
				return strings.TrimSpace(reply), nil
			}
			calls = append(calls, ToolCall{Name: name, Arguments: args})
			continue
		}
		if channel == "final" || channel == "commentary" {
			text = append(text, strings.TrimSpace(body))
		}
	}
	return strings.TrimSpace(strings.Join(text, "\n\n")), calls
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
