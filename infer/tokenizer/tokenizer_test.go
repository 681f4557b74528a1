package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reddwarf/internal/testfile"
	"strconv"
	"strings"
	"sync"
	"testing"

	"reddwarf/infer/gguf"
)

const (
	storiesPath  = "../../models/stories260K.gguf"
	gpt2Path     = "../../models/ggml-vocab-gpt-2.gguf" // embedded for reddwarf synth; vectors in testdata
	deepseekPath = "testdata/ggml-vocab-deepseek-llm.gguf"
	qwen2Path    = "testdata/ggml-vocab-qwen2.gguf"
	phi3Path     = "testdata/ggml-vocab-phi-3.gguf"
	gemma4Path   = "testdata/ggml-vocab-gemma-4.gguf.gz" // gzipped: internal/testfile
)

func load(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(testfile.Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ids(s string) []int32 {
	var out []int32
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			panic(err)
		}
		out = append(out, int32(n))
	}
	return out
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStories260K checks the encodings listed in models/README.md.
func TestStories260K(t *testing.T) {
	tok := load(t, storiesPath)
	if tok.Model() != "llama" || tok.VocabSize() != 512 || tok.BOS() != 1 || tok.EOS() != 2 || !tok.WantsBOS() {
		t.Fatalf("model %q vocab %d bos %d eos %d", tok.Model(), tok.VocabSize(), tok.BOS(), tok.EOS())
	}
	for _, c := range []struct{ text, want string }{
		{"Once upon a time", "1 403 407 261 378"},
		{"Hello world", "1 346 306 414 263 304 341"},
		{"Lily and Tom went to the park.", "1 317 269 274 287 263 377 267 265 282 295 433 426"},
		{"", "1"},
	} {
		got := tok.Encode(c.text, EncodeOptions{AddBOS: true})
		if !equal(got, ids(c.want)) {
			t.Errorf("Encode(%q) = %v, want %s", c.text, got, c.want)
		}
		if back := tok.Decode(got); back != c.text {
			t.Errorf("Decode(Encode(%q)) = %q", c.text, back)
		}
	}
	// Byte fallback: characters not in the 512-token vocab become <0xNN>.
	got := tok.Encode("é✓", EncodeOptions{})
	if back := tok.Decode(got); back != "é✓" {
		t.Errorf("byte fallback round trip: %v → %q", got, back)
	}
	if tok.Text(403) != "▁Once" || string(tok.Piece(403)) != " Once" || string(tok.Piece(3+0x0A)) != "\n" || len(tok.Piece(1)) != 0 {
		t.Error("Text/Piece")
	}
	if !tok.IsEOG(2) || tok.IsEOG(1) {
		t.Error("IsEOG")
	}
	// ParseSpecial: "<s>" in the text is BOS only when asked for.
	if got := tok.Encode("<s>Hi", EncodeOptions{ParseSpecial: true}); got[0] != 1 {
		t.Errorf("ParseSpecial: %v", got)
	}
	if got := tok.Encode("<s>Hi", EncodeOptions{}); got[0] == 1 {
		t.Errorf("no ParseSpecial: %v", got)
	}
}

// readVectors reads the vectors of the vocabulary at path (testdata/NAME.inp
// and .out, NAME being the GGUF's file name) and splits them the way
// tests/test-tokenizer-0.cpp does: inputs are separated (and terminated) by
// "\n__ggml_vocab_test__\n", outputs are one line of ids per input.
func readVectors(t *testing.T, path string) (inputs []string, outputs [][]int32) {
	path = filepath.Join("testdata", strings.TrimSuffix(filepath.Base(path), ".gz"))
	inp, err := os.ReadFile(path + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	for s := string(inp); s != ""; {
		k := strings.Index(s, sep)
		if k < 0 {
			inputs = append(inputs, s)
			break
		}
		inputs = append(inputs, s[:k])
		s = s[k+len(sep):]
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		outputs = append(outputs, ids(line))
	}
	if len(inputs) != len(outputs) || len(inputs) < 40 {
		t.Fatalf("%d inputs, %d outputs", len(inputs), len(outputs))
	}
	return inputs, outputs
}

func TestLlamaCppVectors(t *testing.T) {
	for _, path := range []string{gpt2Path, deepseekPath, qwen2Path, phi3Path} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tok := load(t, path)
			inputs, outputs := readVectors(t, path)
			for i, text := range inputs {
				got := tok.Encode(text, EncodeOptions{})
				if !equal(got, outputs[i]) {
					t.Errorf("case %d %q:\n got  %v\n want %v", i, text, got, outputs[i])
				}
				// Byte-level BPE is lossless.
				if back := tok.Decode(got); back != text {
					t.Errorf("case %d: Decode = %q, want %q", i, back, text)
				}
				// A second pass is served from the piece cache.
				if again := tok.Encode(text, EncodeOptions{}); !equal(again, got) {
					t.Errorf("case %d: cached encoding differs", i)
				}
			}
		})
	}
}

// BenchmarkLoad measures gguf.Open + FromGGUF of the two vocab-only files
// (50,257 and 102,400 tokens).
func BenchmarkLoad(b *testing.B) {
	for _, path := range []string{gpt2Path, deepseekPath} {
		b.Run(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), func(b *testing.B) {
			for b.Loop() {
				f, err := gguf.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := FromGGUF(f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := load(t, deepseekPath)
	want := tok.Encode("Hello world, 我想 12345 ø", EncodeOptions{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := tok.Encode("Hello world, 我想 12345 ø", EncodeOptions{}); !equal(got, want) {
					t.Errorf("concurrent Encode: %v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSpecials(t *testing.T) {
	tok := load(t, deepseekPath)
	if tok.BOS() != 100000 || tok.EOS() != 100001 || !tok.WantsBOS() || tok.Pre() != "deepseek-llm" {
		t.Fatalf("bos %d eos %d", tok.BOS(), tok.EOS())
	}
	bos := "<｜begin▁of▁sentence｜>"
	if id, ok := tok.Lookup(bos); !ok || id != 100000 {
		t.Errorf("Lookup(BOS) = %d %v", id, ok)
	}
	got := tok.Encode(bos+"Hello", EncodeOptions{AddBOS: true, ParseSpecial: true})
	if !equal(got, []int32{100000, 100000, 17464}) {
		t.Errorf("ParseSpecial: %v", got)
	}
	if got := tok.Encode(bos, EncodeOptions{}); len(got) < 3 {
		t.Errorf("without ParseSpecial the BOS text is plain text: %v", got)
	}
	if !tok.IsEOG(100001) || tok.IsEOG(100000) {
		t.Error("IsEOG")
	}
	g := load(t, gpt2Path)
	if id, ok := g.Lookup("<|endoftext|>"); !ok || !g.IsEOG(id) || g.WantsBOS() {
		t.Errorf("gpt-2 <|endoftext|>: %d %v wantsBOS %v", id, ok, g.WantsBOS())
	}
}

func TestStreamDecoder(t *testing.T) {
	tok := load(t, deepseekPath)
	text := "Hello 🦙 wörld, 我想在apple工作 ½"
	ids := tok.Encode(text, EncodeOptions{})
	d := tok.NewStreamDecoder()
	var b strings.Builder
	for _, id := range ids {
		s := d.Push(id)
		if !utf8ValidOrEmpty(s) {
			t.Errorf("Push(%d) returned a split character %q", id, s)
		}
		b.WriteString(s)
	}
	b.WriteString(d.Flush())
	if b.String() != text {
		t.Errorf("streamed %q, want %q", b.String(), text)
	}

	spm := load(t, storiesPath)
	d = spm.NewStreamDecoder()
	var s strings.Builder
	for _, id := range spm.Encode("Hi é", EncodeOptions{AddBOS: true}) {
		s.WriteString(d.Push(id))
	}
	s.WriteString(d.Flush())
	if s.String() != "Hi é" {
		t.Errorf("SPM stream after BOS: %q", s.String())
	}
}

func utf8ValidOrEmpty(s string) bool { return s == "" || strings.ToValidUTF8(s, "\uFFFD") == s }

// TestPreTokenizers checks the split of each pre-tokenizer on a few texts.
func TestPreTokenizers(t *testing.T) {
	cases := []struct {
		pre, text string
		want      []string
	}{
		{"gpt-2", "Hello  world's 123!!\n\n", []string{"Hello", " ", " world", "'s", " 123", "!!", "\n\n"}},
		{"llama-bpe", "I'VE 12345  x\r\n y", []string{"I", "'VE", " ", "123", "45", " ", " x", "\r\n", " y"}},
		{"deepseek-llm", "ab 12\ncd  ", []string{"ab", " ", "12", "\n", "cd", "  "}},
		{"deepseek-v3", "x.Net 1234 我想apple ~ok\n\n  f", []string{"x", ".Net", " ", "123", "4", " ", "我想", "apple", " ~", "ok", "\n\n", " ", " f"}},
		{"joyai-llm", "a;\n", []string{"a", ";\n"}},
	}
	for _, c := range cases {
		p, ok := preTokenizerFor(c.pre)
		if !ok {
			t.Fatalf("%s unknown", c.pre)
		}
		cs := []rune(c.text)
		var got []string
		for _, s := range p.split(cs) {
			got = append(got, string(cs[s.s:s.e]))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s %q:\n got  %q\n want %q", c.pre, c.text, got, c.want)
		}
	}
}

func FuzzEncode(f *testing.F) {
	tok := load(f, deepseekPath)
	spm := load(f, storiesPath)
	gemma := load(f, gemma4Path)
	for _, s := range []string{"Hello world", "\xff\xfe", " \n\t 12345 ü", "<｜begin▁of▁sentence｜>x", "  ø [PAD100015] "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Byte-level BPE is lossless up to invalid UTF-8, which becomes
		// U+FFFD per bad byte; SentencePiece keeps every byte but reads
		// "▁" as a space; gemma4 does both.
		for _, tk := range []*Tokenizer{tok, spm, gemma} {
			want := func(s string) string {
				switch tk {
				case spm:
					return strings.ReplaceAll(s, "▁", " ")
				case gemma:
					return strings.ReplaceAll(string([]rune(s)), "▁", " ")
				}
				return string([]rune(s))
			}
			got := tk.Encode(s, EncodeOptions{})
			if back := tk.Decode(got); back != want(s) {
				t.Errorf("%s: %q → %v → %q", tk.Model(), s, got, back)
			}
			tk.Encode(s, EncodeOptions{AddBOS: true, ParseSpecial: true})
			// The second half appended as a continuation of the first
			// decodes to the two joined.
			if a, b := s[:len(s)/2], s[len(s)/2:]; a != "" {
				ids := append(tk.Encode(a, EncodeOptions{}), tk.Encode(b, EncodeOptions{Continue: true})...)
				if back := tk.Decode(ids); back != want(a)+want(b) {
					t.Errorf("%s: %q + %q → %v → %q", tk.Model(), a, b, ids, back)
				}
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, path := range []string{deepseekPath, storiesPath} {
		tok := load(b, path)
		inp, err := os.ReadFile(deepseekPath + ".inp")
		if err != nil {
			b.Fatal(err)
		}
		text := strings.Repeat(string(inp), 50) // ~100 KB
		b.Run(tok.Model(), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Encode(text, EncodeOptions{})
			}
		})
	}
}

// TestContinuationLlamaCpp: text encoded with Continue after a sequence
// start gives llama.cpp's ids (testdata/llamacpp-continuation.json, written
// by tools/llamacpp-ref/continuation.mjs), and the joined ids decode to the
// two texts joined, on two SentencePiece and two byte-level BPE
// vocabularies. Without Continue, SentencePiece's space prefix would come
// back as a space between the two.
func TestContinuationLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp-continuation.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Vocabs map[string]struct {
			Model string
			Cases []struct {
				A, B string
				AIDs []int32 `json:"a_ids"`
				BIDs []int32 `json:"b_ids"`
				Text string
			}
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Vocabs) != 4 {
		t.Fatalf("%d vocabularies in the reference, want 4", len(ref.Vocabs))
	}
	spm := 0
	for path, v := range ref.Vocabs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tok := load(t, filepath.Join("../..", path))
			if tok.Model() != v.Model {
				t.Fatalf("model %q, reference says %q", tok.Model(), v.Model)
			}
			if v.Model == "llama" {
				spm++
			}
			for _, c := range v.Cases {
				a := tok.Encode(c.A, EncodeOptions{})
				cont := tok.Encode(c.B, EncodeOptions{Continue: true, AddBOS: true})
				if !equal(a, c.AIDs) || !equal(cont, c.BIDs) {
					t.Errorf("%q + %q: ids %v + %v, llama.cpp %v + %v", c.A, c.B, a, cont, c.AIDs, c.BIDs)
				}
				if got := tok.Decode(append(a, cont...)); got != c.A+c.B || c.Text != c.A+c.B {
					t.Errorf("%q + %q decodes to %q (llama.cpp %q)", c.A, c.B, got, c.Text)
				}
			}
		})
	}
	if spm != 2 {
		t.Errorf("%d SentencePiece vocabularies in the reference, want 2", spm)
	}
}
