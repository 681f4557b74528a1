package session

import (
	"fmt"
	"slices"
	"strings"

	"reddwarf/infer/tokenizer"
)

// ChatFormat renders a user turn in a model family's chat format (GEN
// CHAT) for a file without a tokenizer.chat_template (chattemplate.go
// renders those that have one): the families differ only in a few marker
// tokens, and which one a model uses is told by which of those markers its
// vocabulary has.
type ChatFormat struct {
	Name    string
	probe   string // a special token only this family's vocabulary has
	userPre string // opens a user turn
	// userPost closes the user turn and opens the assistant's; think and
	// noThink are appended after it when the vocabulary has "<think>".
	userPost       string
	think, noThink string
	// turnEnd closes an assistant turn: GEN CHAT feeds the end token the
	// model sampled, so the next turn starts after it; sepAfterEnd goes
	// between that end and the next user turn.
	turnEnd, sepAfterEnd string
}

// chatFormats, probed in order.
var chatFormats = []ChatFormat{
	{Name: "chatml", probe: "<|im_start|>", userPre: "<|im_start|>user\n", userPost: "<|im_end|>\n<|im_start|>assistant\n",
		noThink: "<think>\n\n</think>\n\n", turnEnd: "<|im_end|>", sepAfterEnd: "\n"},
	{Name: "llama3", probe: "<|start_header_id|>", userPre: "<|start_header_id|>user<|end_header_id|>\n\n",
		userPost: "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", turnEnd: "<|eot_id|>"},
	{Name: "deepseek", probe: "<｜User｜>", userPre: "<｜User｜>", userPost: "<｜Assistant｜>",
		think: "<think>", noThink: "</think>", turnEnd: "<｜end▁of▁sentence｜>"},
	{Name: "mistral", probe: "[INST]", userPre: "[INST] ", userPost: " [/INST]", turnEnd: "</s>"},
}

// chatFormat returns the family of a vocabulary (has reports whether a
// special token exists), or nil.
func chatFormat(has func(string) bool) *ChatFormat {
	for i := range chatFormats {
		if has(chatFormats[i].probe) {
			return &chatFormats[i]
		}
	}
	return nil
}

// Render returns the text of one user turn: afterEnd says the session ends
// with the previous assistant turn's end token; think asks a reasoning
// model to think first (hasThink: the vocabulary has "<think>").
func (f *ChatFormat) Render(prompt string, afterEnd, think, hasThink bool) string {
	s := ""
	if afterEnd {
		s = f.sepAfterEnd
	}
	s += f.userPre + prompt + f.userPost
	if hasThink {
		if think {
			s += f.think
		} else {
			s += f.noThink
		}
	}
	return s
}

// Encode renders a user turn (Render) as token ids: the format's markers
// become their special tokens, while the user's own text stays text even
// where it spells a special token (a typed "<｜User｜>" or "<|im_end|>"
// must not open a turn: ds4 renders DeepSeek prompts that way). Text that
// spells no special token is encoded together with the markers, exactly as
// the whole rendered turn.
func (f *ChatFormat) Encode(tok *tokenizer.Tokenizer, prompt string, afterEnd, think, hasThink bool) []int32 {
	special := tokenizer.EncodeOptions{ParseSpecial: true}
	plain := tok.Encode(prompt, tokenizer.EncodeOptions{})
	if slices.Equal(plain, tok.Encode(prompt, special)) {
		return tok.Encode(f.Render(prompt, afterEnd, think, hasThink), special)
	}
	before, after, _ := strings.Cut(f.Render("\x00", afterEnd, think, hasThink), "\x00")
	out := tok.Encode(before, special)
	out = append(out, plain...)
	return append(out, tok.Encode(after, special)...)
}

// ErrNoChatFormat is GEN CHAT's error for a model without a known format.
var ErrNoChatFormat = fmt.Errorf("the model has no chat format CHAT knows (ChatML, Llama 3, DeepSeek, Mistral [INST])")
