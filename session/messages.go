package session

import (
	"errors"

	"reddwarf/infer/tokenizer"
	"reddwarf/session/chattmpl"
)

// Message is one turn of a conversation given whole (an HTTP chat
// request): Role is "system", "developer", "user", "assistant" or "tool".
type Message struct {
	Role, Content string
	// ToolCalls are an assistant turn's function calls, ToolCallID the
	// call a tool turn answers.
	ToolCalls  []chattmpl.ToolCall
	ToolCallID string
}

// systemTurns are how the formats that have a system role open and close
// it; the others get the system text in front of the first user turn.
var systemTurns = map[string][2]string{
	"chatml": {"<|im_start|>system\n", "<|im_end|>\n"},
	"llama3": {"<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"},
}

// EncodeMessages renders a whole conversation, ending with a user turn,
// as the tokens a session that had it turn by turn through GEN CHAT would
// hold (without BOS): each user turn as GEN CHAT renders it, each
// assistant turn as its text and the format's end-of-turn token. So a
// stateless request re-sending its history finds it in the prefix cache.
// A model with its own chat template renders the whole conversation
// through it (chatTemplate.encodeMessages).
//
// tools (decoded JSON, OpenAI's tool list) are given to the template,
// which usually lists them in its system turn; the hard-coded formats
// ignore them.
func (e *Engine) EncodeMessages(msgs []Message, tools []any) ([]int32, error) {
	if len(msgs) == 0 || (msgs[len(msgs)-1].Role != "user" && msgs[len(msgs)-1].Role != "tool") {
		return nil, errors.New("the last message must have role user or tool")
	}
	return e.encodeMessages(msgs, tools, false, false)
}

// encodeMessages renders msgs (EncodeMessages) for a session that is empty
// or, with the ChatFormat fallback, ends with the previous assistant
// turn's end token (afterEnd); think asks a reasoning model to think.
func (e *Engine) encodeMessages(msgs []Message, tools []any, afterEnd, think bool) ([]int32, error) {
	if e.tmpl != nil {
		return e.tmpl.encodeMessages(e.Tok, msgs, tools, think)
	}
	f := e.chat
	if f == nil {
		return nil, ErrNoChatFormat
	}
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	var out []int32
	system := ""
	for _, m := range msgs {
		switch m.Role {
		case "system", "developer":
			if st, ok := systemTurns[f.Name]; ok && len(out) == 0 && !afterEnd {
				out = append(out, e.Tok.Encode(st[0], special)...)
				out = append(out, e.Tok.Encode(m.Content, tokenizer.EncodeOptions{})...)
				out = append(out, e.Tok.Encode(st[1], special)...)
			} else {
				system += m.Content + "\n\n"
			}
		case "user", "tool": // a format without a tool role reads a result as a user turn
			out = append(out, f.Encode(e.Tok, system+m.Content, afterEnd, think, e.hasThink)...)
			system, afterEnd = "", false
		case "assistant":
			out = append(out, e.Tok.Encode(m.Content, tokenizer.EncodeOptions{Continue: len(out) > 0})...)
			if id, ok := e.Tok.Lookup(f.turnEnd); ok {
				out = append(out, id)
				afterEnd = true
			}
		default:
			return nil, errors.New("unknown message role '" + m.Role + "'")
		}
	}
	return out, nil
}

// ToolFormat is how the model's chat template writes tool calls, which
// the HTTP front end parses (and, for Hermes, can force); ToolsNone for a
// model without a template or one that shows none.
func (e *Engine) ToolFormat() chattmpl.ToolFormat {
	if e.tmpl == nil {
		return chattmpl.ToolsNone
	}
	return e.tmpl.tools
}

// Tail is what a request continuing a session appends of its messages
// msgs: those after the last assistant message, the key holding the
// conversation up to it; when there is none, all but the leading
// system/developer messages, which the key holds from its first request.
func Tail(msgs []Message) []Message {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			return msgs[i+1:]
		}
	}
	i := 0
	for i < len(msgs) && (msgs[i].Role == "system" || msgs[i].Role == "developer") {
		i++
	}
	return msgs[i:]
}

// encodeConversation renders a chat request's messages for the session
// they continue, whose last token is last (-1: empty): on an empty
// session the whole conversation, system included; on another only its
// Tail. A lone user turn is rendered exactly as GEN CHAT renders it, so
// requests sending one message at a time and GEN CHAT turns make the same
// tokens. Any goroutine.
func (e *Engine) encodeConversation(msgs []Message, tools []any, last int32, think bool) ([]int32, error) {
	var calls []chattmpl.ToolCall // those of the assistant turn the session ends with
	if last >= 0 {
		tail := Tail(msgs)
		if n := len(msgs) - len(tail); n > 0 && msgs[n-1].Role == "assistant" {
			calls = msgs[n-1].ToolCalls
		}
		msgs = tail
	}
	if len(msgs) == 0 {
		return nil, errors.New("no message to append after the last assistant message")
	}
	if len(msgs) == 1 && msgs[0].Role == "user" && (last >= 0 || len(tools) == 0) {
		return e.encodeChat(msgs[0].Content, last, think)
	}
	if last < 0 {
		return e.encodeMessages(msgs, tools, false, think)
	}
	if e.tmpl != nil {
		return e.tmpl.encodeTail(e.Tok, msgs, tools, []int32{last}, calls, think)
	}
	if e.chat == nil {
		return nil, ErrNoChatFormat
	}
	afterEnd := false
	if id, ok := e.Tok.Lookup(e.chat.turnEnd); ok {
		afterEnd = last == id
	}
	return e.encodeMessages(msgs, tools, afterEnd, think)
}
