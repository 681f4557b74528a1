package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		args []string
		in   string
		want string
	}{
		{[]string{"--model", "../../models/stories260K.gguf"}, "Hello world", "346 306 414 263 304 341\n"},
		{[]string{"--model=../../models/stories260K.gguf", "--add-bos"}, "Once upon a time", "1 403 407 261 378\n"},
		{[]string{"-model", "../../models/ggml-vocab-gpt-2.gguf"}, " Hello, world!", "18435 11 995 0\n"},
		{[]string{"--model", "../../models/ggml-vocab-gpt-2.gguf"}, "", "\n"},
	}
	for _, c := range cases {
		var out, errs bytes.Buffer
		if rc := Tokenize(c.args, strings.NewReader(c.in), &out, &errs); rc != 0 || out.String() != c.want {
			t.Errorf("%v %q: rc %d, out %q, want %q; stderr %s", c.args, c.in, rc, out.String(), c.want, errs.String())
		}
	}
}

func TestTokenizeErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		rc   int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"--bogus"}, 2, "usage"},
		{[]string{"--model", "does/not/exist.gguf"}, 1, "no such file"},
		{[]string{"--model", "cli.go"}, 1, "gguf"},
	} {
		var out, errs bytes.Buffer
		rc := Tokenize(c.args, strings.NewReader("x"), &out, &errs)
		if rc != c.rc || !strings.Contains(errs.String(), c.msg) || out.Len() != 0 {
			t.Errorf("%v: rc %d, stderr %q, stdout %q", c.args, rc, errs.String(), out.String())
		}
	}
}
