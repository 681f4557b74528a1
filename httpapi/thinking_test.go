package httpapi

import "testing"

func TestSplitThinking(t *testing.T) {
	for _, c := range []struct{ in, thinking, answer string }{
		{"<think>\nadd them\n</think>\n\n4", "add them", "4"},
		{"add them</think>4", "add them", "4"}, // the template opened it
		{"<think>\nstill going", "still going", ""},
		{"cut while thinking", "cut while thinking", ""},
		{"<think>\n\n</think>\n\nHi", "", "Hi"},
	} {
		th, an := splitThinking(c.in)
		if th != c.thinking || an != c.answer {
			t.Errorf("%q: %q %q, want %q %q", c.in, th, an, c.thinking, c.answer)
		}
	}
	// Streamed in pieces that split the markers, the same parts.
	for _, c := range []struct {
		pieces           []string
		thinking, answer string
	}{
		{[]string{"<th", "ink>\nadd", " them\n</th", "ink>\n\n4", "2"}, "\nadd them\n", "42"},
		{[]string{"x</", "think>y"}, "x", "y"},
		{[]string{"a < b", " </think>c"}, "a < b ", "c"},
	} {
		w := &thinkWatch{}
		th, an := "", ""
		for _, p := range c.pieces {
			a, b := w.push([]byte(p))
			th, an = th+a, an+b
		}
		if th != c.thinking || an != c.answer {
			t.Errorf("%q: %q %q, want %q %q", c.pieces, th, an, c.thinking, c.answer)
		}
	}
}
