package jsonmask

import (
	"testing"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
)

// BenchmarkMaskCold: what one state's first mask costs over Qwen2's real
// vocabulary (151,936 tokens), as the first reply of a format pays for
// each new state (later ones find it cached): inside a string (nearly
// every token allowed: the string fast path), after an object's ':'
// (nearly every token refused at its first byte), and indexing the
// vocabulary (NewMasker, once per engine).
func BenchmarkMaskCold(b *testing.B) {
	f, err := gguf.Open("../../infer/tokenizer/testdata/ggml-vocab-qwen2.gguf")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	n := tok.VocabSize()
	v := Vocab{Pieces: make([][]byte, n), EOG: make([]bool, n)}
	for id := range n {
		v.Pieces[id], v.EOG[id] = tok.Piece(int32(id)), tok.IsEOG(int32(id))
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			NewMasker(v)
		}
	})
	k := NewMasker(v)
	s := mustCompile(b, testSchema)
	for _, st := range []struct{ name, prefix string }{{"in-string", `{"name":"ab`}, {"after-colon", `{"name":`}} {
		b.Run(st.name, func(b *testing.B) {
			m := NewMatcher(s)
			if !m.Feed([]byte(st.prefix)) {
				b.Fatal("prefix refused")
			}
			for b.Loop() {
				k.compute(m)
			}
		})
	}
}
