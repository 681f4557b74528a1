package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"reddwarf/session"
)

// complete serves POST /v1/chat/completions (chat) and /v1/completions.
func (a *API) complete(w http.ResponseWriter, r *http.Request, body []byte, chat bool) {
	j, err := decodeRequest(body, chat, r.Header.Get("X-Session-Key"))
	if err != nil {
		jobError(w, err)
		return
	}
	ev := newEvents(a.MaxPending)
	sj, err := a.submit(r.Context(), j, ev)
	if err != nil {
		if r.Context().Err() == nil {
			jobError(w, err)
		}
		return
	}
	created := time.Now().Unix()
	id := "cmpl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if chat {
		id = "chatcmpl-" + id[5:]
	}
	model := a.modelName()
	out := response{id: id, created: created, model: model, chat: chat}
	if !j.stream {
		if !wait(r, ev) {
			a.cancel(sj)
			return
		}
		if sj.Err != nil {
			jobError(w, sj.Err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		m := out.whole(sj)
		choice := m["choices"].([]any)[0].(map[string]any)
		if j.opt.LogProbs {
			choice["logprobs"] = a.logprobs(sj.LogProbs, chat, len(sj.Text))
		}
		if chat && j.thinks() {
			th, an := splitThinking(string(sj.Text))
			msg := choice["message"].(map[string]any)
			msg["content"], msg["reasoning_content"] = an, th
		}
		if a.parsed(j) {
			reply := answerOf(string(sj.Text), j.thinks())
			text, calls := parseCalls(a.e.ToolFormat(), reply, "call_")
			msg := choice["message"].(map[string]any)
			msg["content"] = text // without the format's markers
			if th := a.e.ToolFormat().Thinking(reply); th != "" {
				msg["reasoning_content"] = th
			}
			if len(calls) > 0 && j.tools != nil {
				msg["content"], msg["tool_calls"] = nil, openAICalls(calls, false)
				if text != "" {
					msg["content"] = text
				}
				choice["finish_reason"] = "tool_calls"
			}
		}
		json.NewEncoder(w).Encode(m)
		return
	}
	sse := a.newSSE(w)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		return sse.write(append(append([]byte("data: "), b...), '\n', '\n'))
	}
	var tk *thinkWatch // parts thinking from the answer while it streams
	if chat && j.thinks() {
		tk = &thinkWatch{}
	}
	var tw *toolWatch // holds back a tool call's text while it streams
	if a.parsed(j) {
		tw = &toolWatch{format: a.e.ToolFormat()}
	}
	if chat && !send(out.chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
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
		if ev.isDropped() {
			return // the job is canceled; the client reads too slowly to be told
		}
		for _, p := range pieces {
			text := p.text
			if tk != nil {
				th, an := tk.push(p.text)
				if th != "" && !send(out.chunk(map[string]any{"reasoning_content": th}, nil)) {
					a.cancel(sj)
					return
				}
				text = []byte(an)
			}
			if tw != nil {
				text = tw.push(text)
			}
			if len(text) == 0 && (tk != nil || tw != nil) {
				continue
			}
			var c map[string]any
			if chat {
				c = out.chunk(map[string]any{"content": string(text)}, nil)
			} else {
				c = out.textChunk(string(p.text), nil)
			}
			if j.opt.LogProbs {
				c["choices"].([]any)[0].(map[string]any)["logprobs"] = a.logprobs(p.lps, chat, -1)
			}
			if !send(c) {
				a.cancel(sj)
				return
			}
		}
		if done {
			break
		}
	}
	if sj.Err != nil {
		send(map[string]any{"error": map[string]any{"message": sj.Err.Error(), "type": "server_error", "param": nil, "code": nil}})
		return
	}
	fr := finishReason(sj.StopReason)
	if tk != nil {
		th, an := tk.flush()
		if th != "" {
			send(out.chunk(map[string]any{"reasoning_content": th}, nil))
		}
		if tw != nil {
			an = string(tw.push([]byte(an)))
		}
		if an != "" {
			send(out.chunk(map[string]any{"content": an}, nil))
		}
	}
	if tw != nil {
		reply := answerOf(string(sj.Text), j.thinks())
		_, calls := parseCalls(a.e.ToolFormat(), reply, "call_")
		if th := a.e.ToolFormat().Thinking(reply); th != "" {
			send(out.chunk(map[string]any{"reasoning_content": th}, nil))
		}
		if len(calls) > 0 && j.tools != nil {
			send(out.chunk(map[string]any{"tool_calls": openAICalls(calls, true)}, nil))
			fr = "tool_calls"
		} else if rest := tw.rest(reply); rest != "" {
			send(out.chunk(map[string]any{"content": rest}, nil))
		}
	}
	if chat {
		send(out.chunk(map[string]any{}, fr))
	} else {
		send(out.textChunk("", fr))
	}
	if j.usage {
		u := out.base("chat.completion.chunk")
		if !chat {
			u = out.base("text_completion")
		}
		u["choices"] = []any{}
		u["usage"] = usage(sj)
		send(u)
	}
	sse.write([]byte("data: [DONE]\n\n"))
}

// logprobs renders a job's log-probabilities: chat's {"content": [{token,
// logprob, bytes, top_logprobs}]}, or a text completion's {tokens,
// token_logprobs, top_logprobs, text_offset}. textLen (-1: all) keeps the
// tokens that start inside the reply's text, leaving out those of a STOP
// string that cut it.
func (a *API) logprobs(lps []session.TokenLogProb, chat bool, textLen int) map[string]any {
	tok := a.e.Tok
	bytesOf := func(b []byte) []int {
		out := make([]int, len(b))
		for i, c := range b {
			out[i] = int(c)
		}
		return out
	}
	var content []any
	var tokens, offsets []any
	var lpList, tops []any
	off := 0
	for _, e := range lps {
		if textLen >= 0 && off >= textLen {
			break
		}
		p := tok.Piece(e.ID)
		if chat {
			top := []any{}
			for _, t := range e.Top {
				tp := tok.Piece(t.ID)
				top = append(top, map[string]any{"token": string(tp), "logprob": t.LogProb, "bytes": bytesOf(tp)})
			}
			content = append(content, map[string]any{"token": string(p), "logprob": e.LogProb, "bytes": bytesOf(p), "top_logprobs": top})
		} else {
			top := map[string]any{}
			for _, t := range e.Top {
				top[string(tok.Piece(t.ID))] = t.LogProb
			}
			tokens, lpList, tops, offsets = append(tokens, string(p)), append(lpList, e.LogProb), append(tops, top), append(offsets, off)
		}
		off += len(p)
	}
	if chat {
		if content == nil {
			content = []any{}
		}
		return map[string]any{"content": content}
	}
	if tokens == nil {
		tokens, lpList, tops, offsets = []any{}, []any{}, []any{}, []any{}
	}
	return map[string]any{"tokens": tokens, "token_logprobs": lpList, "top_logprobs": tops, "text_offset": offsets}
}

// response builds one request's reply objects.
type response struct {
	id, model string
	created   int64
	chat      bool
}

func (o response) base(object string) map[string]any {
	return map[string]any{"id": o.id, "object": object, "created": o.created, "model": o.model, "system_fingerprint": "reddwarf"}
}

// whole is the reply to a request that did not stream.
func (o response) whole(sj *session.Job) map[string]any {
	fr := finishReason(sj.StopReason)
	var m map[string]any
	if o.chat {
		m = o.base("chat.completion")
		m["choices"] = []any{map[string]any{"index": 0, "finish_reason": fr, "logprobs": nil,
			"message": map[string]any{"role": "assistant", "content": string(sj.Text)}}}
	} else {
		m = o.base("text_completion")
		m["choices"] = []any{map[string]any{"index": 0, "finish_reason": fr, "logprobs": nil, "text": string(sj.Text)}}
	}
	m["usage"] = usage(sj)
	return m
}

// chunk is one SSE event of a chat stream; finish is nil or the reason.
func (o response) chunk(delta map[string]any, finish any) map[string]any {
	m := o.base("chat.completion.chunk")
	m["choices"] = []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	return m
}

// textChunk is one SSE event of a text completion stream.
func (o response) textChunk(text string, finish any) map[string]any {
	m := o.base("text_completion")
	m["choices"] = []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": finish}}
	return m
}

// usage reports the job's token counts; cached_tokens are the prompt
// tokens the prefix cache (or the named session) already held.
func usage(sj *session.Job) map[string]any {
	return map[string]any{
		"prompt_tokens":         sj.PromptTokens,
		"completion_tokens":     sj.GeneratedTokens,
		"total_tokens":          sj.PromptTokens + sj.GeneratedTokens,
		"prompt_tokens_details": map[string]any{"cached_tokens": sj.CachedTokens},
	}
}
