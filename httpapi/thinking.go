package httpapi

import "strings"

// Thinking.
//
// Anthropic's thinking {"type": "enabled"} and OpenAI's reasoning_effort
// (any but "none" and "minimal") ask a reasoning model to think first, as
// GEN … CHAT THINK does (the template's enable_thinking). The reply's
// thinking, up to "</think>", comes back apart: a thinking content block,
// or the message's reasoning_content (as llama.cpp's server and DeepSeek's
// API give it); the answer after it is the content.

const thinkOpen, thinkClose = "<think>", "</think>"

// splitThinking parts a reply of a thinking request into its thinking and
// its answer. A reply without "</think>" was cut while thinking (whether
// it opened with "<think>" or the template opened it).
func splitThinking(reply string) (thinking, answer string) {
	before, after, ok := strings.Cut(reply, thinkClose)
	if !ok {
		t := strings.TrimLeft(reply, " \t\r\n")
		return strings.TrimSpace(strings.TrimPrefix(t, thinkOpen)), ""
	}
	before = strings.TrimLeft(before, " \t\r\n")
	return strings.TrimSpace(strings.TrimPrefix(before, thinkOpen)), strings.TrimLeft(after, " \t\r\n")
}

// thinkWatch parts a stream the same way: push returns the thinking and
// the answer text that may go out now, holding back a tail that could
// start "</think>" and the "<think>" that opens it.
type thinkWatch struct {
	acc      []byte
	emitted  int  // bytes of acc passed on (thinking or answer)
	answered bool // "</think>" seen: the rest is answer
	skipped  bool // leading space and "<think>" dropped
}

func (w *thinkWatch) push(p []byte) (thinking, answer string) {
	w.acc = append(w.acc, p...)
	s := string(w.acc)
	if !w.skipped {
		t := strings.TrimLeft(s, " \t\r\n")
		switch {
		case t == "" || strings.HasPrefix(thinkOpen, t) && len(t) < len(thinkOpen):
			return "", "" // may still be the opening "<think>"
		case strings.HasPrefix(t, thinkOpen):
			w.emitted = len(s) - len(t) + len(thinkOpen)
		default:
			w.emitted = len(s) - len(t)
		}
		w.skipped = true
	}
	if w.answered {
		answer = s[w.emitted:]
		w.emitted = len(s)
		return "", answer
	}
	if i := strings.Index(s[w.emitted:], thinkClose); i >= 0 {
		thinking = s[w.emitted : w.emitted+i]
		w.emitted += i + len(thinkClose)
		w.answered = true
		rest := strings.TrimLeft(s[w.emitted:], " \t\r\n")
		w.emitted = len(s) - len(rest)
		answer = rest
		w.emitted = len(s)
		return thinking, answer
	}
	n := len(s)
	for k := min(len(s)-w.emitted, len(thinkClose)-1); k > 0; k-- {
		if strings.HasSuffix(s, thinkClose[:k]) {
			n = len(s) - k
			break
		}
	}
	thinking = s[w.emitted:n]
	w.emitted = n
	return thinking, ""
}

// flush returns what push still held back, once the reply is whole.
func (w *thinkWatch) flush() (thinking, answer string) {
	rest := string(w.acc[w.emitted:])
	w.emitted = len(w.acc)
	if w.skipped && !w.answered {
		return rest, ""
	}
	return "", rest
}

// answerOf is the part of a reply that is the answer: all of it, or what
// follows the thinking when the request asked for it.
func answerOf(reply string, think bool) string {
	if !think {
		return reply
	}
	_, a := splitThinking(reply)
	return a
}
