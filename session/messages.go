package session

import (
	"errors"

	"reddwarf/infer/tokenizer"
)

// Message is one turn of a conversation given whole (an HTTP chat
// request): Role is "system", "user" or "assistant".
type Message struct {
	Role, Content string
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
func (e *Engine) EncodeMessages(msgs []Message) ([]int32, error) {
	if e.tmpl != nil {
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
			return nil, errors.New("the last message must have role user")
		}
		return e.tmpl.encodeMessages(e.Tok, msgs)
	}
	f := e.chat
	if f == nil {
		return nil, ErrNoChatFormat
	}
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
		return nil, errors.New("the last message must have role user")
	}
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	var out []int32
	system, afterEnd := "", false
	for _, m := range msgs {
		switch m.Role {
		case "system", "developer":
			if st, ok := systemTurns[f.Name]; ok && len(out) == 0 {
				out = append(out, e.Tok.Encode(st[0], special)...)
				out = append(out, e.Tok.Encode(m.Content, tokenizer.EncodeOptions{})...)
				out = append(out, e.Tok.Encode(st[1], special)...)
			} else {
				system += m.Content + "\n\n"
			}
		case "user":
			out = append(out, f.Encode(e.Tok, system+m.Content, afterEnd, false, e.hasThink)...)
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
