package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"reddwarf/session"
)

// messagesRequest is the part of Anthropic's Messages request reddwarf
// serves; unknown fields are ignored.
type messagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      []chatMessage   `json:"messages"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Session       string          `json:"session"`
	Thinking      *struct {
		Type string `json:"type"`
	} `json:"thinking"`
	Tools []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

// anthropicBlock is one content block of a message.
type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// anthropicMessages re-expresses one Anthropic message as chat completion
// messages: tool_use blocks become the assistant's tool_calls, each
// tool_result a tool message (before the user's text).
func anthropicMessages(i int, m chatMessage) ([]any, error) {
	var blocks []anthropicBlock
	if json.Unmarshal(m.Content, &blocks) != nil {
		return []any{m}, nil // a string: as it is
	}
	at := func(k int) string { return fmt.Sprintf("messages.%d.content.%d", i, k) }
	var out, calls []any
	text := ""
	for k, b := range blocks {
		switch {
		case b.Type == "text":
			text += b.Text
		case b.Type == "tool_use" && m.Role == "assistant":
			input := b.Input
			if len(input) == 0 || string(input) == "null" {
				input = json.RawMessage("{}")
			}
			calls = append(calls, map[string]any{"id": b.ID, "type": "function", "function": map[string]any{"name": b.Name, "arguments": string(input)}})
		case b.Type == "tool_result" && m.Role == "user":
			c, err := contentText(b.Content)
			if err != nil {
				return nil, bad(at(k), "%v", err)
			}
			out = append(out, map[string]any{"role": "tool", "tool_call_id": b.ToolUseID, "content": c})
		default:
			return nil, bad(at(k), "content block type '%s' is not supported here", b.Type)
		}
	}
	switch {
	case m.Role == "assistant":
		msg := map[string]any{"role": "assistant", "content": text}
		if calls != nil {
			msg["tool_calls"] = calls
		}
		out = append(out, msg)
	case text != "" || len(out) == 0:
		out = append(out, map[string]any{"role": m.Role, "content": text})
	}
	return out, nil
}

// decodeMessages reads a /v1/messages body into the same job a chat
// completion makes: the system prompt becomes a leading system message.
func decodeMessages(body []byte, header string) (*job, error) {
	var r messagesRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, bad("", "we could not parse the JSON body of your request: %v", err)
	}
	if r.MaxTokens == nil {
		return nil, bad("max_tokens", "max_tokens: field required")
	}
	// Re-expressed as a chat completion request, so both endpoints check
	// fields the same way.
	c := map[string]any{"messages": []any{}, "max_tokens": *r.MaxTokens, "stream": r.Stream, "session": r.Session}
	if r.Temperature != nil {
		c["temperature"] = *r.Temperature
	}
	if r.TopP != nil {
		c["top_p"] = *r.TopP
	}
	if r.TopK != nil {
		c["top_k"] = *r.TopK
	}
	if r.StopSequences != nil {
		c["stop"] = r.StopSequences
	}
	var msgs []any
	if sys, err := contentText(r.System); err != nil {
		return nil, bad("system", "%v", err)
	} else if sys != "" {
		msgs = append(msgs, map[string]any{"role": "system", "content": sys})
	}
	for i, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, bad(fmt.Sprintf("messages.%d.role", i), "role must be user or assistant")
		}
		ms, err := anthropicMessages(i, m)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, ms...)
	}
	c["messages"] = msgs
	if len(r.Tools) > 0 {
		var tools []any
		for _, t := range r.Tools {
			params := t.InputSchema
			if len(params) == 0 {
				params = json.RawMessage(`{"type":"object"}`)
			}
			tools = append(tools, map[string]any{"type": "function", "function": map[string]any{"name": t.Name, "description": t.Description, "parameters": params}})
		}
		c["tools"] = tools
	}
	if r.Thinking != nil {
		switch r.Thinking.Type {
		case "enabled":
			c["reasoning_effort"] = "medium"
		case "disabled":
		default:
			return nil, bad("thinking", "thinking.type must be enabled or disabled")
		}
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
			c["tool_choice"] = tc.Type
		case "any":
			c["tool_choice"] = "required"
		case "tool":
			c["tool_choice"] = map[string]any{"type": "function", "function": map[string]any{"name": tc.Name}}
		default:
			return nil, bad("tool_choice", "tool_choice.type must be auto, any, tool or none")
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, bad("", "%v", err)
	}
	return decodeRequest(b, true, header)
}

// anthropicError answers in Anthropic's error shape.
func anthropicError(w http.ResponseWriter, err error) {
	status, typ, _ := classify(err)
	if typ == "server_error" {
		typ = "api_error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": errorText(err)}})
}

// stopReason maps a job's stop reason to Anthropic's.
func stopReason(stop string) string {
	switch stop {
	case session.StopLength, session.StopContext:
		return "max_tokens"
	case session.StopString:
		return "stop_sequence"
	}
	return "end_turn"
}

// POST /v1/messages: Anthropic's Messages API over the same jobs as a chat
// completion.
func (a *API) messages(w http.ResponseWriter, r *http.Request, body []byte) {
	j, err := decodeMessages(body, r.Header.Get("X-Session-Key"))
	if err != nil {
		anthropicError(w, err)
		return
	}
	ev := newEvents(a.MaxPending)
	sj, err := a.submit(r.Context(), j, ev)
	if err != nil {
		if r.Context().Err() == nil {
			anthropicError(w, err)
		}
		return
	}
	id := "msg_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	msg := func(content []any, stop any, sj *session.Job) map[string]any {
		u := map[string]any{"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0}
		if sj != nil {
			u = map[string]any{"input_tokens": sj.PromptTokens - sj.CachedTokens, "output_tokens": sj.GeneratedTokens,
				"cache_read_input_tokens": sj.CachedTokens}
		}
		return map[string]any{"id": id, "type": "message", "role": "assistant", "model": a.modelName(),
			"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": u}
	}
	if !j.stream {
		if !wait(r, ev) {
			a.cancel(sj)
			return
		}
		if sj.Err != nil {
			anthropicError(w, sj.Err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		reply := string(sj.Text)
		var thinking []any
		if j.thinks() {
			var th string
			th, reply = splitThinking(reply)
			thinking = []any{map[string]any{"type": "thinking", "thinking": th, "signature": ""}}
		}
		content, stop := append(thinking, map[string]any{"type": "text", "text": reply}), stopReason(sj.StopReason)
		if a.parsed(j) {
			text, calls := parseCalls(a.e.ToolFormat(), reply, "toolu_")
			if th := a.e.ToolFormat().Thinking(reply); th != "" {
				thinking = append(thinking, map[string]any{"type": "thinking", "thinking": th, "signature": ""})
			}
			content = append(thinking, map[string]any{"type": "text", "text": text}) // without the format's markers
			if len(calls) > 0 && j.tools != nil {
				content, stop = thinking, "tool_use"
				if text != "" {
					content = append(content, map[string]any{"type": "text", "text": text})
				}
				for _, c := range calls {
					content = append(content, map[string]any{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input})
				}
			}
		}
		json.NewEncoder(w).Encode(msg(content, stop, sj))
		return
	}
	sse := a.newSSE(w)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		return sse.write(fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, b))
	}
	var tw *toolWatch // holds back a tool call's text while it streams
	if a.parsed(j) {
		tw = &toolWatch{format: a.e.ToolFormat()}
	}
	var tk *thinkWatch // parts thinking from the answer while it streams
	if j.thinks() {
		tk = &thinkWatch{}
	}
	// Content blocks open one after another: thinking, text, tool uses.
	idx, cur := -1, ""
	open := func(typ string) bool {
		if cur == typ {
			return true
		}
		if cur != "" && !send("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx}) {
			return false
		}
		idx, cur = idx+1, typ
		block := map[string]any{"type": "text", "text": ""}
		if typ == "thinking" {
			block = map[string]any{"type": "thinking", "thinking": "", "signature": ""}
		}
		return send("content_block_start", map[string]any{"type": "content_block_start", "index": idx, "content_block": block})
	}
	emit := func(typ, s string) bool {
		if s == "" {
			return true
		}
		delta := map[string]any{"type": "text_delta", "text": s}
		if typ == "thinking" {
			delta = map[string]any{"type": "thinking_delta", "thinking": s}
		}
		return open(typ) && send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": delta})
	}
	first := "text"
	if tk != nil {
		first = "thinking"
	}
	if !send("message_start", map[string]any{"type": "message_start", "message": msg([]any{}, nil, nil)}) || !open(first) {
		a.cancel(sj)
		return
	}
	// answer passes streamed answer text on, holding back tool calls.
	answer := func(s string) bool {
		if tw != nil {
			s = string(tw.push([]byte(s)))
		}
		return emit("text", s)
	}
	for {
		select {
		case <-r.Context().Done():
			a.cancel(sj)
			return
		case <-ev.wake:
		}
		pieces, done := ev.take()
		if ev.isDropped() {
			return // the job is canceled; the client reads too slowly to be told
		}
		for _, p := range pieces {
			text := string(p.text)
			if tk != nil {
				th, an := tk.push(p.text)
				if !emit("thinking", th) {
					a.cancel(sj)
					return
				}
				text = an
			}
			if !answer(text) {
				a.cancel(sj)
				return
			}
		}
		if done {
			break
		}
	}
	if sj.Err != nil {
		_, typ, _ := classify(sj.Err)
		send("error", map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": sj.Err.Error()}})
		return
	}
	stop := stopReason(sj.StopReason)
	if tk != nil {
		th, an := tk.flush()
		emit("thinking", th)
		answer(an)
	}
	var calls []toolCall
	if tw != nil {
		reply := answerOf(string(sj.Text), j.thinks())
		if _, calls = parseCalls(a.e.ToolFormat(), reply, "toolu_"); len(calls) == 0 || j.tools == nil {
			calls = nil
			emit("text", tw.rest(reply))
		}
	}
	send("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
	for _, c := range calls {
		idx++
		send("content_block_start", map[string]any{"type": "content_block_start", "index": idx,
			"content_block": map[string]any{"type": "tool_use", "id": c.id, "name": c.name, "input": map[string]any{}}})
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": c.args}})
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
		stop = "tool_use"
	}
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": sj.GeneratedTokens, "input_tokens": sj.PromptTokens - sj.CachedTokens, "cache_read_input_tokens": sj.CachedTokens}})
	send("message_stop", map[string]any{"type": "message_stop"})
}

// wait blocks until the job of ev ends (true) or the client goes (false).
func wait(r *http.Request, ev *events) bool {
	for {
		select {
		case <-r.Context().Done():
			return false
		case <-ev.wake:
		}
		if _, done := ev.take(); done {
			return true
		}
	}
}
