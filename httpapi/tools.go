package httpapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
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
// Mistral, DeepSeek's V3.1, R1 and DSML (V3.2, V4) formats, gpt-oss's
// harmony channels), which come back as OpenAI tool_calls or Anthropic
// tool_use blocks. The reply keeps its control tokens' text
// (GenOptions.Markers), so formats spelled in them (harmony, Mistral's
// [TOOL_CALLS]) parse. A gpt-oss model's replies are parsed so with or
// without tools: the content is the final channel, the analysis channel
// the reasoning_content (a thinking block), as llama.cpp's server gives
// them. tool_choice "required" (Anthropic "any") or a
// named function forces a call: the reply is constrained, as GEN …
// SCHEMA is, to one call in the model's own format (toolSet.format):
// its opening markers and the function's name, then its arguments as
// JSON following the tool's parameters schema, then its closing markers
// (for DSML, whose arguments are one parameter each, the required
// parameters, each as text or JSON: dsmlFormat).

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
// call, in the model's format f, of one of the tools (ts.force "*") or
// the named one. Its arguments follow the tool's parameters schema when
// one tool is possible (any JSON object when several are, or when its
// schema is outside jsonmask's subset). spell writes the call's markers
// as the masker reads them (session.Engine.MaskSpelling: a control
// token's text stands for that token).
func (ts *toolSet) format(f chattmpl.ToolFormat, spell func(string) string) (*jsonmask.Schema, error) {
	if d, ok := f.DSML(); ok {
		return ts.dsmlFormat(d, spell)
	}
	syn, ok := f.Call()
	if !ok {
		return nil, bad("tool_choice", "a forced tool_choice needs a model whose chat template writes tool calls (Hermes, Llama 3.x, Mistral, DeepSeek, gpt-oss)")
	}
	var names []string
	args := json.RawMessage(`{"type":"object"}`)
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
	if syn.NameKey == "" {
		// The name precedes the arguments: one prefix per name.
		if len(names) > jsonmask.MaxPrefixes {
			return nil, bad("tool_choice", "tool_choice required can choose among at most %d tools with this model", jsonmask.MaxPrefixes)
		}
		s, _ := jsonmask.Compile(args) // compiled above
		prefixes := make([]string, len(names))
		for i, n := range names {
			prefixes[i] = spell(syn.Open + n + syn.Mid)
		}
		s, err := s.WithPrefixes(prefixes, spell(syn.Close))
		if err != nil { // cannot happen: names end where Mid begins
			return nil, bad("tool_choice", "%v", err)
		}
		return s, nil
	}
	enum, _ := json.Marshal(names)
	key := func(k string) string { b, _ := json.Marshal(k); return string(b) }
	src := `{"type":"object","properties":{` + key(syn.NameKey) + `:{"enum":` + string(enum) + `},` + key(syn.ArgsKey) + `:` + string(args) + `},"required":[` + key(syn.NameKey) + `,` + key(syn.ArgsKey) + `]}`
	s, err := jsonmask.Compile([]byte(src))
	if err != nil {
		return nil, bad("tool_choice", "%v", err) // cannot happen: args compiled alone
	}
	return s.WithAffixes(spell(syn.Open), spell(syn.Close)), nil
}

// maxDSMLParams bounds the parameters a forced DSML call writes (a
// jsonmask.Sequence has at most 120 parts, two or three per parameter).
const maxDSMLParams = 48

// dsmlFormat is format for DeepSeek's DSML, whose arguments are one
// parameter each: the forced call writes the function's required
// parameters, in name order, a string one as its text (string="true"),
// any other as JSON following its schema (any JSON value where the schema
// is outside jsonmask's subset). One function must be possible: each
// function's parameters differ.
func (ts *toolSet) dsmlFormat(d chattmpl.DSMLCall, spell func(string) string) (*jsonmask.Schema, error) {
	var def *toolDef
	for i := range ts.defs {
		if ts.force == "*" || ts.force == ts.defs[i].Function.Name {
			if def != nil {
				return nil, bad("tool_choice", "with this model (DSML tool calls) tool_choice must name one function when several are given")
			}
			def = &ts.defs[i]
		}
	}
	var params struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	json.Unmarshal(def.Function.Parameters, &params) // absent or odd: no parameters
	var names []string
	for _, n := range params.Required {
		if _, ok := params.Properties[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) > maxDSMLParams {
		return nil, bad("tool_choice", "a forced DSML call writes at most %d parameters", maxDSMLParams)
	}
	slices.Sort(names)
	text := d.Open + def.Function.Name + d.Mid
	var parts []jsonmask.Part
	for _, n := range names {
		raw := params.Properties[n]
		var p struct {
			Type any `json:"type"`
			Enum any `json:"enum"`
		}
		json.Unmarshal(raw, &p)
		if p.Type == "string" && p.Enum == nil {
			parts = append(parts, jsonmask.Part{Text: spell(text + d.Param + n + d.ParamString)}, jsonmask.Part{RawUntil: spell(d.ParamEnd)})
			text = "\n"
			continue
		}
		s, err := jsonmask.Compile(raw)
		if err != nil {
			s = jsonmask.AnyJSON()
		}
		parts = append(parts, jsonmask.Part{Text: spell(text + d.Param + n + d.ParamJSON)}, jsonmask.Part{Value: s})
		text = d.ParamEnd + "\n"
	}
	if len(names) == 0 {
		text += "\n"
	}
	parts = append(parts, jsonmask.Part{Text: spell(text + d.Close)})
	s, err := jsonmask.Sequence(parts...)
	if err != nil {
		return nil, bad("tool_choice", "%v", err)
	}
	return s, nil
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

// holdBack is how much of streamed text may go out now: everything
// before the first start (a call's opening marker), less a tail that
// could be the beginning of one. held reports that a call began.
func holdBack(text, start string) (n int, held bool) {
	if i := strings.Index(text, start); i >= 0 {
		return i, true
	}
	for k := min(len(text), len(start)-1); k > 0; k-- {
		if strings.HasSuffix(text, start[:k]) {
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
// Hermes and DeepSeek's formats at the call's opening marker
// (ToolFormat.CallStart); for Llama 3 and Mistral, whose calls are the
// whole reply, a reply that opens with '{' or '[' (or Mistral's
// [TOOL_CALLS]) is held to its end (leading space is held until the first
// other byte says which); gpt-oss's is held whole, its text being known
// only once its channels are (the caller sends the parsed text at the
// end, emitted being 0).
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
	case chattmpl.ToolsHarmony:
		return nil
	case chattmpl.ToolsLlama3, chattmpl.ToolsMistral:
		if !w.free {
			t := strings.TrimLeft(string(w.acc), " \t\r\n")
			lead := "[TOOL_CALLS]" // the control token before the calls, kept
			if w.format == chattmpl.ToolsLlama3 {
				lead = "<|python_tag|>"
			}
			switch {
			case t == "" || strings.HasPrefix(lead, t):
				return nil
			case t[0] == '{' || t[0] == '[' || strings.HasPrefix(t, lead):
				w.held = true
				return nil
			}
			w.free = true
		}
	default:
		if start := w.format.CallStart(); start != "" {
			n, w.held = holdBack(string(w.acc), start)
			// Space waits for what follows it: before a call it is the
			// template's separator ("\n\n" before DSML), not text.
			for n > w.emitted && strings.IndexByte(" \t\r\n", w.acc[n-1]) >= 0 {
				n--
			}
		}
	}
	out := w.acc[w.emitted:n]
	w.emitted = n
	return out
}

// rest is what a finished reply without calls still owes the stream:
// the text the watch held back, or for a reply held whole, its parsed
// text.
func (w *toolWatch) rest(reply string) string {
	if w.emitted == 0 {
		text, _ := w.format.Parse(reply)
		return text
	}
	if w.emitted < len(reply) {
		return reply[w.emitted:]
	}
	return ""
}
