package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"reddwarf/session"
	"reddwarf/session/chattmpl"
	"reddwarf/session/jsonmask"
)

// Limits on what a request may carry.
const (
	maxBody       = 16 << 20 // bytes of a request body (GEN's prompt limit)
	maxSessionKey = 4096     // bytes of a session key, as GEN's
	maxStops      = 16
	maxMessages   = 4096
)

// genRequest is what both completion endpoints decode into: the fields
// of OpenAI's chat and text completion requests that reddwarf serves (plus
// top_k and min_p, as llama.cpp's server takes them). Unknown fields are
// ignored, as OpenAI's own clients send some we don't use.
type genRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// ResponseFormat: {"type": "text" | "json_object" | "json_schema",
	// "json_schema": {"name", "schema", "strict"}}.
	ResponseFormat *responseFormat `json:"response_format"`
	// Logprobs is a boolean for chat completions, the number of
	// alternatives (0 to 20) for text completions.
	Logprobs    json.RawMessage `json:"logprobs"`
	TopLogprobs *int            `json:"top_logprobs"`
	Tools       json.RawMessage `json:"tools"`
	// ReasoningEffort other than none and minimal asks a reasoning model
	// to think first (GEN … CHAT THINK).
	ReasoningEffort string          `json:"reasoning_effort"`
	ToolChoice      json.RawMessage `json:"tool_choice"`
	// Session names the session key, for clients that cannot set the
	// X-Session-Key header.
	Session string `json:"session"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// format reads response_format into the constraint GEN … JSON or SCHEMA
// sets (nil: free text).
func (f *responseFormat) format() (*jsonmask.Schema, error) {
	if f == nil {
		return nil, nil
	}
	switch f.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return jsonmask.AnyJSON(), nil
	case "json_schema":
		if f.JSONSchema == nil || len(f.JSONSchema.Schema) == 0 || string(f.JSONSchema.Schema) == "null" {
			return jsonmask.AnyJSON(), nil
		}
		s, err := jsonmask.Compile(f.JSONSchema.Schema)
		if err != nil {
			return nil, bad("response_format", "response_format.json_schema.schema: %v", err)
		}
		return s, nil
	}
	return nil, bad("response_format", "response_format.type must be text, json_object or json_schema")
}

// chatMessage's content is a string or an array of parts, of which the
// text parts are joined.
type chatMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

// job is a decoded request, checked and ready for the loop.
type job struct {
	chat     bool
	messages []session.Message // chat
	prompt   string            // completion
	opt      session.GenOptions
	session  string
	stream   bool
	usage    bool     // stream_options.include_usage
	tools    *toolSet // nil: none (tools.go)
}

// toolList is the tools for the template, nil for none.
func (j *job) toolList() []any {
	if j.tools == nil {
		return nil
	}
	return j.tools.list
}

// thinks reports whether the reply opens with thinking to part from the
// answer: thinking was asked for, and no forced tool call makes the whole
// reply a call (the template still gets enable_thinking).
func (j *job) thinks() bool {
	return j.opt.Think && (j.tools == nil || j.tools.force == "")
}

// badRequest is a request the client must fix (HTTP 400); param names
// the field at fault.
type badRequest struct{ msg, param string }

func (e *badRequest) Error() string { return e.msg }

func bad(param, format string, args ...any) error {
	return &badRequest{msg: fmt.Sprintf(format, args...), param: param}
}

// decodeRequest reads a completion request body; chat picks
// /v1/chat/completions over /v1/completions. header is X-Session-Key.
func decodeRequest(body []byte, chat bool, header string) (*job, error) {
	var r genRequest
	// Unmarshal, not a Decoder: trailing bytes after the object are an
	// error too.
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, bad("", "we could not parse the JSON body of your request: %v", err)
	}
	j := &job{chat: chat, opt: session.DefaultGenOptions(), stream: r.Stream}
	j.opt.Chat = chat
	j.usage = r.StreamOptions != nil && r.StreamOptions.IncludeUsage
	j.session = header
	if j.session == "" {
		j.session = r.Session
	}
	if len(j.session) > maxSessionKey {
		return nil, bad("session", "session key too long (%d bytes, max %d)", len(j.session), maxSessionKey)
	}
	if chat {
		if len(r.Messages) == 0 {
			return nil, bad("messages", "messages must be a non-empty array")
		}
		if len(r.Messages) > maxMessages {
			return nil, bad("messages", "too many messages (max %d)", maxMessages)
		}
		for i, m := range r.Messages {
			text, err := contentText(m.Content)
			if err != nil {
				return nil, bad(fmt.Sprintf("messages[%d].content", i), "%v", err)
			}
			switch m.Role {
			case "system", "developer", "user", "assistant", "tool":
			default:
				return nil, bad(fmt.Sprintf("messages[%d].role", i), "unsupported role '%s'", m.Role)
			}
			sm := session.Message{Role: m.Role, Content: text, ToolCallID: m.ToolCallID}
			for k, c := range m.ToolCalls {
				var args any = map[string]any{}
				if strings.TrimSpace(c.Function.Arguments) != "" {
					if err := json.Unmarshal([]byte(c.Function.Arguments), &args); err != nil {
						return nil, bad(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, k), "arguments must be a JSON object: %v", err)
					}
				}
				if m.Role != "assistant" || c.Function.Name == "" {
					return nil, bad(fmt.Sprintf("messages[%d].tool_calls[%d]", i, k), "tool calls belong to assistant messages and name a function")
				}
				sm.ToolCalls = append(sm.ToolCalls, chattmpl.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: args})
			}
			j.messages = append(j.messages, sm)
		}
		if r := j.messages[len(j.messages)-1].Role; r != "user" && r != "tool" {
			return nil, bad("messages", "the last message must have role user or tool")
		}
	} else {
		p, err := promptText(r.Prompt)
		if err != nil {
			return nil, bad("prompt", "%v", err)
		}
		j.prompt = p
	}
	if r.N != nil && *r.N != 1 {
		return nil, bad("n", "only n=1 is supported")
	}
	mt := r.MaxTokens
	if r.MaxCompletionTokens != nil {
		mt = r.MaxCompletionTokens
	}
	if mt != nil {
		if *mt < 1 || *mt > 1<<30 {
			return nil, bad("max_tokens", "max_tokens must be an integer >= 1")
		}
		j.opt.MaxTokens = *mt
	}
	s := &j.opt.Sampler
	if r.Temperature != nil {
		if !(*r.Temperature >= 0 && *r.Temperature <= 2) {
			return nil, bad("temperature", "temperature must be in [0, 2]")
		}
		s.Temperature = *r.Temperature
	}
	if r.TopP != nil {
		if !(*r.TopP > 0 && *r.TopP <= 1) {
			return nil, bad("top_p", "top_p must be in (0, 1]")
		}
		s.TopP = *r.TopP
	}
	if r.MinP != nil {
		if !(*r.MinP >= 0 && *r.MinP <= 1) {
			return nil, bad("min_p", "min_p must be in [0, 1]")
		}
		s.MinP = *r.MinP
	}
	if r.TopK != nil {
		if *r.TopK < 0 || *r.TopK > 1<<30 {
			return nil, bad("top_k", "top_k must be an integer >= 0")
		}
		s.TopK = *r.TopK
	}
	if r.Seed != nil {
		s.Seed, j.opt.HasSeed = uint64(*r.Seed), true
	}
	stops, err := stopList(r.Stop)
	if err != nil {
		return nil, bad("stop", "%v", err)
	}
	j.opt.Stops = stops
	if j.opt.Format, err = r.ResponseFormat.format(); err != nil {
		return nil, err
	}
	if err := logprobOptions(&r, chat, &j.opt); err != nil {
		return nil, err
	}
	switch r.ReasoningEffort {
	case "", "none", "minimal":
	case "low", "medium", "high":
		j.opt.Think = chat
	default:
		return nil, bad("reasoning_effort", "reasoning_effort must be none, minimal, low, medium or high")
	}
	if chat {
		if j.tools, err = decodeTools(r.Tools, r.ToolChoice); err != nil {
			return nil, err
		}
		// (A forced call's format depends on the model: API.submit.)
		if j.tools != nil && j.tools.force != "" && j.opt.Format != nil {
			return nil, bad("tool_choice", "a forced tool_choice and response_format cannot be combined")
		}
	}
	return j, nil
}

// logprobOptions reads logprobs and top_logprobs: chat's logprobs is a
// boolean with top_logprobs beside it, a text completion's logprobs the
// number of alternatives.
func logprobOptions(r *genRequest, chat bool, o *session.GenOptions) error {
	raw := r.Logprobs
	if len(raw) == 0 || string(raw) == "null" {
		if r.TopLogprobs != nil && *r.TopLogprobs > 0 {
			return bad("top_logprobs", "top_logprobs needs logprobs")
		}
		return nil
	}
	if chat {
		if json.Unmarshal(raw, &o.LogProbs) != nil {
			return bad("logprobs", "logprobs must be a boolean")
		}
		if r.TopLogprobs != nil {
			if *r.TopLogprobs < 0 || *r.TopLogprobs > session.MaxTopLogProbs {
				return bad("top_logprobs", "top_logprobs must be an integer in [0, %d]", session.MaxTopLogProbs)
			}
			if !o.LogProbs && *r.TopLogprobs > 0 {
				return bad("top_logprobs", "top_logprobs needs logprobs true")
			}
			o.TopLogProbs = *r.TopLogprobs
		}
		return nil
	}
	var n int
	if json.Unmarshal(raw, &n) != nil || n < 0 || n > session.MaxTopLogProbs {
		return bad("logprobs", "logprobs must be an integer in [0, %d]", session.MaxTopLogProbs)
	}
	o.LogProbs, o.TopLogProbs = true, n
	return nil
}

// contentText joins a message's content: a string, or an array of parts
// whose text parts are kept (other kinds are refused).
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	out := ""
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type '%s' is not supported (only text)", p.Type)
		}
		out += p.Text
	}
	return out, nil
}

// promptText reads /v1/completions' prompt: a string or an array of one.
func promptText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var a []string
	if err := json.Unmarshal(raw, &a); err != nil || len(a) != 1 {
		return "", errors.New("prompt must be a string (or an array of one string)")
	}
	return a[0], nil
}

// stopList reads stop: absent, a string or an array of strings.
func stopList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return nonEmpty([]string{s})
	}
	var a []string
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, errors.New("stop must be a string or an array of strings")
	}
	if len(a) > maxStops {
		return nil, fmt.Errorf("at most %d stop strings", maxStops)
	}
	return nonEmpty(a)
}

func nonEmpty(a []string) ([]string, error) {
	for _, s := range a {
		if s == "" {
			return nil, errors.New("stop strings must not be empty")
		}
	}
	return a, nil
}

// finishReason maps a job's stop reason to OpenAI's.
func finishReason(stop string) string {
	switch stop {
	case session.StopLength, session.StopContext:
		return "length"
	}
	return "stop"
}
