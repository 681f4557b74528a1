package session

import (
	"testing"
)

func TestChatFormatsRenderUserTurns(t *testing.T) {
	vocab := func(tokens ...string) func(string) bool {
		return func(s string) bool {
			for _, t := range tokens {
				if t == s {
					return true
				}
			}
			return false
		}
	}
	cases := []struct {
		vocab                     []string
		afterEnd, think, hasThink bool
		want                      string
	}{
		{[]string{"<|im_start|>"}, false, false, false, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{[]string{"<|im_start|>"}, true, false, true, "\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{[]string{"<|im_start|>"}, false, true, true, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{[]string{"<|start_header_id|>"}, true, false, false, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{[]string{"<｜User｜>"}, false, true, true, "<｜User｜>hi<｜Assistant｜><think>"},
		{[]string{"<｜User｜>"}, false, false, true, "<｜User｜>hi<｜Assistant｜></think>"},
		{[]string{"[INST]"}, true, false, false, "[INST] hi [/INST]"},
	}
	for _, c := range cases {
		f := chatFormat(vocab(c.vocab...))
		if f == nil {
			t.Fatalf("%v: no format", c.vocab)
		}
		if got := f.Render("hi", c.afterEnd, c.think, c.hasThink); got != c.want {
			t.Errorf("%s after-end %v think %v: %q, want %q", f.Name, c.afterEnd, c.think, got, c.want)
		}
	}
	if chatFormat(vocab("<s>", "</s>")) != nil {
		t.Errorf("a vocabulary without chat markers got a format")
	}
}

func TestGenChatWithoutAFormatFails(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	if e.Chat() != nil {
		t.Skip("stories260K has a chat format?")
	}
	j := NewChatGen(db, "k", "hello", seeded(1, 5))
	e.Submit(j)
	run(e)
	if j.Err != ErrNoChatFormat || db.Peek("k") != nil {
		t.Fatalf("err %v", j.Err)
	}
}
