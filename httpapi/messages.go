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
		msgs = append(msgs, m)
	}
	c["messages"] = msgs
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
	ev := newEvents()
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
		json.NewEncoder(w).Encode(msg([]any{map[string]any{"type": "text", "text": string(sj.Text)}}, stopReason(sj.StopReason), sj))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		if fl != nil {
			fl.Flush()
		}
		return err == nil
	}
	if !send("message_start", map[string]any{"type": "message_start", "message": msg([]any{}, nil, nil)}) ||
		!send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}}) {
		a.cancel(sj)
		return
	}
	for {
		select {
		case <-r.Context().Done():
			a.cancel(sj)
			return
		case <-ev.wake:
		}
		pieces, done := ev.take()
		for _, p := range pieces {
			if !send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": string(p.text)}}) {
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
	send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stopReason(sj.StopReason), "stop_sequence": nil},
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
