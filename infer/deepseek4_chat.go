package infer

import (
	"fmt"

	"reddwarf/infer/tokenizer"
)

// DeepSeek V4's chat special tokens (spec §8.3), looked up by their text in
// the model's vocabulary, as ds4 does (their ids are not fixed by the format).
const (
	DSV4BOS       = "<｜begin▁of▁sentence｜>"
	DSV4EOS       = "<｜end▁of▁sentence｜>"
	DSV4User      = "<｜User｜>"
	DSV4Assistant = "<｜Assistant｜>"
	DSV4Think     = "<think>"
	DSV4EndThink  = "</think>"
)

// DSV4ChatText renders one user turn as DeepSeek V4's prompt text (spec
// §8.4): BOS, the system text if any (no marker: V4 has no system token),
// the user turn, and the opened assistant turn, thinking (<think>) or not
// (</think>).
func DSV4ChatText(system, user string, think bool) string {
	open := DSV4EndThink
	if think {
		open = DSV4Think
	}
	return DSV4BOS + system + DSV4User + user + DSV4Assistant + open
}

// DSV4ChatTokens renders the same prompt as token ids, the way ds4's CLI
// does: the special tokens by id, the system and user texts BPE-encoded as
// plain text (a special token's text typed by the user stays text). It fails
// if the vocabulary lacks one of the special tokens.
func DSV4ChatTokens(tok *tokenizer.Tokenizer, system, user string, think bool) ([]int32, error) {
	id := func(s string) (int32, error) {
		v, ok := tok.Lookup(s)
		if !ok {
			return 0, fmt.Errorf("deepseek4 chat: special token %q not in the vocabulary", s)
		}
		return v, nil
	}
	open := DSV4EndThink
	if think {
		open = DSV4Think
	}
	var out []int32
	for _, part := range []struct {
		special string
		text    string
	}{{DSV4BOS, system}, {DSV4User, user}, {DSV4Assistant, ""}, {open, ""}} {
		v, err := id(part.special)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if part.text != "" {
			out = append(out, tok.Encode(part.text, tokenizer.EncodeOptions{})...)
		}
	}
	return out, nil
}
