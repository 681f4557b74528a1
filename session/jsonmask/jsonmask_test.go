package jsonmask

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var testSchema = `{"type":"object","properties":{
	"name":{"type":"string"},
	"age":{"type":"integer"},
	"score":{"type":"number"},
	"ok":{"type":"boolean"},
	"color":{"enum":["red","green",1,12,null]},
	"tags":{"type":"array","items":{"type":"string"}},
	"nested":{"type":"object","properties":{"x":{"type":"number"},"deep":{"type":"array","items":{"type":"object","properties":{"k":{"type":"boolean"}},"required":["k"]}}},"required":["x"]}
},"required":["name","nested"],"additionalProperties":false}`

func mustCompile(t testing.TB, src string) *Schema {
	t.Helper()
	s, err := Compile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validate checks v (decoded with UseNumber) against n: the subset the
// package enforces, written again plainly.
func validate(v any, n *node) bool {
	switch n.t {
	case tAny:
		return true
	case tString:
		_, ok := v.(string)
		return ok
	case tNumber:
		_, ok := v.(json.Number)
		return ok
	case tInteger:
		x, ok := v.(json.Number)
		return ok && !strings.ContainsAny(string(x), ".eE")
	case tBool, tEnum:
		b, _ := json.Marshal(v)
		for _, l := range n.lits {
			if l == string(b) {
				return true
			}
		}
		return false
	case tArray:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range a {
			if !validate(x, n.items) {
				return false
			}
		}
		return true
	case tObject:
		o, ok := v.(map[string]any)
		if !ok {
			return false
		}
		var seen uint64
		for k, x := range o {
			enc, _ := json.Marshal(k)
			i := -1
			for j, key := range n.keys {
				if key == string(enc) {
					i = j
				}
			}
			if i < 0 || !validate(x, n.props[i]) {
				return false
			}
			seen |= 1 << i
		}
		return n.required&^seen == 0
	}
	return false
}

// parses decodes doc and checks it against s.
func parses(doc []byte, s *Schema) bool {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil || d.More() {
		return false
	}
	// Duplicate keys would decode silently: count them on a second pass.
	return json.Valid(doc) && validate(v, s.root)
}

func TestAcceptsAndRefuses(t *testing.T) {
	any := AnyJSON()
	for _, doc := range []string{`0`, ` 1`, `-0.5e+3`, `"a\u00e9\n"`, `"é日本"`, `[]`, `{}`, `[1, {"a": [true, false, null]}, "x"]`, "{\n \"k\" : -12 }", `12`} {
		m := NewMatcher(any)
		if !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("any JSON: %q refused", doc)
		}
	}
	for _, doc := range []string{`01`, `1.`, `[1,]`, `{"a"}`, `{"a":1,}`, `"\x01"`, `"\q"`, "\"\xff\"", "\"\xed\xa0\x80\"", `tru`, `[1 2]`, `{} `, `nul`} {
		m := NewMatcher(any)
		if m.Feed([]byte(doc)) && m.Done() {
			t.Errorf("any JSON: %q accepted", doc)
		}
	}
	s := mustCompile(t, testSchema)
	for _, doc := range []string{`{"name":"a","nested":{"x":1}}`, `{"nested":{"x":1.5,"deep":[{"k":true}]},"color":12,"name":""}`, `{"color":null,"name":"x","nested":{"x":0},"tags":["a"]}`} {
		m := NewMatcher(s)
		if !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("schema: %q refused", doc)
		}
	}
	for _, doc := range []string{`{"name":"a"}`, `{"name":1,"nested":{"x":1}}`, `{"name":"a","name":"b","nested":{"x":1}}`, `{"name":"a","nested":{"x":1},"other":1}`,
		`{"name":"a","nested":{"x":1},"age":1.5}`, `{"name":"a","nested":{"x":1},"color":"blue"}`, `{"name":"a","nested":{"x":1,"deep":[{}]}}`, `{"name":"a","nested":{"x":1},"color":123}`} {
		m := NewMatcher(s)
		if m.Feed([]byte(doc)) && m.Done() {
			t.Errorf("schema: %q accepted", doc)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, src := range []string{`[]`, `{"type":["string","null"]}`, `{"type":"string","pattern":"a"}`, `{"properties":{"a":{}},"required":["b"]}`,
		`{"enum":[]}`, `{"type":"string","enum":[1]}`, `{"additionalProperties":true}`, `{"type":"thing"}`, `{"type":"string"} x`} {
		if _, err := Compile([]byte(src)); err == nil {
			t.Errorf("Compile(%s) accepted", src)
		}
	}
}

// testVocab is every single byte (as byte-level vocabularies have) plus
// random multi-byte pieces drawn from JSON-ish text, and one EOG token.
func testVocab(r *rand.Rand) Vocab {
	var v Vocab
	for b := range 256 {
		v.Pieces = append(v.Pieces, []byte{byte(b)})
	}
	alphabet := []byte(`{}[]:,"\ -.0123456789eEtrufalsnbxyzk` + "\n\t")
	for range 3000 {
		p := make([]byte, 2+r.IntN(6))
		for i := range p {
			p[i] = alphabet[r.IntN(len(alphabet))]
		}
		v.Pieces = append(v.Pieces, p)
	}
	for _, w := range []string{`"name"`, `"nested":`, `{"x":`, `true`, `"red"`, `12`, `é`, "\xe6\x97", "\xa5"} {
		v.Pieces = append(v.Pieces, []byte(w))
	}
	v.Pieces = append(v.Pieces, nil) // the EOG token: a control token, no bytes
	v.EOG = make([]bool, len(v.Pieces))
	v.EOG[len(v.Pieces)-1] = true
	return v
}

// TestRandomReplies stands in for a random-weight model: each step draws a
// token uniformly among those the mask allows, within a token budget. For
// many seeds the reply ends with EOG or its budget and always parses (and
// validates).
func TestRandomReplies(t *testing.T) {
	v := testVocab(rand.New(rand.NewPCG(1, 2)))
	k := NewMasker(v)
	for _, s := range []*Schema{AnyJSON(), mustCompile(t, testSchema), mustCompile(t, `{"type":"array","items":{"enum":[1,12,123]}}`)} {
		minLen := len(NewMatcher(s).Completion())
		for seed := range uint64(300) {
			r := rand.New(rand.NewPCG(seed, 7))
			budget := minLen + r.IntN(60)
			m := NewMatcher(s)
			var out []byte
			for left := budget; left > 0; left-- {
				mask := k.Mask(m, left)
				var ids []int32
				for id := range v.Pieces {
					if Allowed(mask, int32(id)) {
						ids = append(ids, int32(id))
					}
				}
				if len(ids) == 0 {
					t.Fatalf("%s seed %d: no token allowed after %q", s.key, seed, out)
				}
				// Draw until a token fits the budget, as the engine
				// does; then from the forced mask.
				id := int32(-1)
				for try := 0; try < 64 && len(ids) > 0; try++ {
					i := r.IntN(len(ids))
					if k.Fits(m, ids[i], left) {
						id = ids[i]
						break
					}
					ids = append(ids[:i], ids[i+1:]...)
				}
				if id < 0 {
					forced := k.Forced(m)
					for x := range v.Pieces {
						if Allowed(forced, int32(x)) {
							id = int32(x)
							break
						}
					}
				}
				if v.EOG[id] {
					break
				}
				out = append(out, v.Pieces[id]...)
				if !m.Feed(v.Pieces[id]) {
					t.Fatalf("%s seed %d: the mask allowed %q after %q", s.key, seed, v.Pieces[id], out)
				}
			}
			if !parses(out, s) {
				t.Fatalf("%s seed %d (budget %d): %q does not parse or validate", s.key, seed, budget, out)
			}
		}
	}
}

// longNumber finds a number the matcher refuses for its length.
var longNumber = regexp.MustCompile(`[0-9]{17}|[eE][+-]?[0-9]{3}`)

// FuzzMatcher: whatever bytes the matcher accepts, followed by its
// Completion, parse and validate; whatever it calls Done parses; and any
// JSON document (valid UTF-8) the fuzzer finds, compacted, is accepted as
// any JSON.
func FuzzMatcher(f *testing.F) {
	for _, s := range []string{`{"name":"a","nested":{"x":1}}`, `[1,2,{"a":null}]`, `"\u12`, `-1.5e`, `{"nested":{"deep":[{"k":t`, "\"\xe6\x97"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	schema := mustCompile(f, testSchema)
	f.Fuzz(func(t *testing.T, in []byte, useSchema bool) {
		if len(in) > 4096 {
			return
		}
		s := AnyJSON()
		if useSchema {
			s = schema
		}
		m := NewMatcher(s)
		n := 0
		for n < len(in) && m.Clone().Feed(in[n:n+1]) {
			m.Feed(in[n : n+1])
			n++
		}
		if m.Done() && !parses(in[:n], s) {
			t.Fatalf("Done after %q, which does not parse", in[:n])
		}
		doc := append(append([]byte(nil), in[:n]...), m.Completion()...)
		if !parses(doc, s) {
			t.Fatalf("%q completed as %q does not parse or validate", in[:n], doc)
		}
		// (json.Valid takes invalid UTF-8 in strings; the matcher does not.)
		if !useSchema && json.Valid(in) && utf8.Valid(in) && bytes.Count(in, []byte("["))+bytes.Count(in, []byte("{")) <= MaxNesting && !longNumber.Match(in) {
			var c bytes.Buffer
			json.Compact(&c, in)
			if mm := NewMatcher(s); !mm.Feed(c.Bytes()) || !mm.Done() {
				t.Fatalf("valid JSON %q refused", c.Bytes())
			}
		}
	})
}

// TestAffixes: a document between fixed texts (a forced tool call), fed
// whole, byte by byte through random replies, and completed from
// anywhere.
func TestAffixes(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"name":{"enum":["get_weather"]},"arguments":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}},"required":["name","arguments"]}`).
		WithAffixes("<tool_call>\n", "\n</tool_call>")
	doc := "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}\n</tool_call>"
	m := NewMatcher(s)
	if !m.Feed([]byte(doc)) || !m.Done() {
		t.Fatalf("%q refused", doc)
	}
	for _, bad := range []string{"{", "<tool_call>\n{\"name\":\"x\"", doc + "\n", "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"a\"}}</tool_call>"} {
		if m := NewMatcher(s); m.Feed([]byte(bad)) && m.Done() {
			t.Errorf("%q accepted", bad)
		}
	}
	for i := range len(doc) {
		m := NewMatcher(s)
		m.Feed([]byte(doc[:i]))
		full := doc[:i] + m.Completion()
		inner, ok := strings.CutPrefix(full, "<tool_call>\n")
		inner, ok2 := strings.CutSuffix(inner, "\n</tool_call>")
		if m2 := NewMatcher(s); !ok || !ok2 || !m2.Feed([]byte(full)) || !m2.Done() || !json.Valid([]byte(inner)) {
			t.Fatalf("%q completed as %q", doc[:i], full)
		}
	}
	// A number right before the suffix ends with it.
	n := AnyJSON().WithAffixes("<", ">")
	if m := NewMatcher(n); !m.Feed([]byte("<12>")) || !m.Done() {
		t.Fatal("<12> refused")
	}
	if m := NewMatcher(n); !m.Feed([]byte("<12")) || m.Done() || m.Completion() != ">" {
		t.Fatalf("<12: completion %q", NewMatcher(n).Completion())
	}
}

// TestPrefixes: one of several prefixes (a call naming one of several
// functions before its arguments, with control tokens spelled as
// "\x01<marker>") then the document and the suffix; a masker allows a
// control token's piece only where a prefix spells it.
func TestPrefixes(t *testing.T) {
	const call, sep = "\x01<call>", "\x01<sep>"
	s, err := mustCompile(t, `{"type":"object"}`).WithPrefixes([]string{call + "get_weather" + sep, call + "get_time" + sep, call + "f" + sep}, "\x01<end>")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{call + "get_time" + sep + "{\"zone\": \"CET\"}\x01<end>", call + "f" + sep + "{}\x01<end>"} {
		if m := NewMatcher(s); !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("%q refused", doc)
		}
	}
	for _, bad := range []string{call + "get_" + sep, call + "get_timer" + sep, "{}", call + "f" + sep + "{\"a\": \"\x01<end>\"}"} {
		if m := NewMatcher(s); m.Feed([]byte(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
	if c := NewMatcher(s).Completion(); c != call+"f"+sep+"{}\x01<end>" {
		t.Errorf("completion %q", c)
	}
	m := NewMatcher(s)
	m.Feed([]byte(call + "get_"))
	if c := m.Completion(); c != "time"+sep+"{}\x01<end>" {
		t.Errorf("completion after get_: %q", c)
	}
	// The masker: the control tokens, the names' pieces.
	v := Vocab{Pieces: [][]byte{[]byte(call), []byte(sep), []byte("\x01<end>"), []byte("get_"), []byte("time"), []byte("f"), []byte("{}"), []byte("x")},
		EOG: make([]bool, 8)}
	k := NewMasker(v)
	m = NewMatcher(s)
	for _, step := range []struct {
		feed  string
		allow []int32
	}{{"", []int32{0}}, {call, []int32{3, 5}}, {"get_", []int32{4}}, {"time", []int32{1}}, {sep, []int32{6}}, {"{}", []int32{2}}} {
		m.Feed([]byte(step.feed))
		mask := k.Mask(m, 100)
		for id := range v.Pieces {
			if want := slices.Contains(step.allow, int32(id)); Allowed(mask, int32(id)) != want {
				t.Errorf("after %q: token %q allowed %v", step.feed, v.Pieces[id], !want)
			}
		}
	}
	// {"type": "object"} is any object; with additionalProperties false, {}.
	for src, doc := range map[string]string{`{"type":"object"}`: `{"a": [1, {"b": null}]}`, `{"type":"object","additionalProperties":false}`: `{}`} {
		if m := NewMatcher(mustCompile(t, src)); !m.Feed([]byte(doc)) || !m.Done() {
			t.Errorf("%s refused %s", src, doc)
		}
	}
	if m := NewMatcher(mustCompile(t, `{"type":"object","additionalProperties":false}`)); m.Feed([]byte(`{"a"`)) {
		t.Error(`additionalProperties false took a property`)
	}
	if _, err := AnyJSON().WithPrefixes([]string{"ab", "abc"}, ""); err == nil {
		t.Error("a prefix of another prefix accepted")
	}
}

// TestMaskMatchesBruteForce: at every state of random replies, the mask
// (first-byte index, string fast path, cache) allows exactly the tokens
// whose bytes the matcher accepts, and the end tokens when it is Done.
func TestMaskMatchesBruteForce(t *testing.T) {
	v := testVocab(rand.New(rand.NewPCG(5, 6)))
	v.Pieces = append(v.Pieces, []byte("日本"), []byte("a\"b"), []byte("x\\n"), []byte("\xe6"), []byte("ok\x01"))
	v.EOG = append(v.EOG, false, false, false, false, false)
	k := NewMasker(v)
	for _, s := range []*Schema{AnyJSON(), mustCompile(t, testSchema)} {
		for seed := range uint64(16) {
			r := rand.New(rand.NewPCG(seed, 9))
			m := NewMatcher(s)
			for step := 0; step < 30 && !m.Done(); step++ {
				mask := k.Mask(m, 1000)
				var ids []int32
				for id, p := range v.Pieces {
					want := v.EOG[id] && m.Done() || len(p) > 0 && m.Clone().Feed(p)
					if Allowed(mask, int32(id)) != want {
						t.Fatalf("token %q after state %x: mask %v, matcher %v", p, m.appendKey(nil), !want, want)
					}
					if want && !v.EOG[id] {
						ids = append(ids, int32(id))
					}
				}
				m.Feed(v.Pieces[ids[r.IntN(len(ids))]])
			}
		}
	}
}

// TestSequence: literal text, raw text up to a terminator and JSON values
// one after another (a DSML tool call: a string parameter raw, another as
// JSON), fed whole and completed from every prefix; raw text takes
// anything but the terminator and a control token's marker byte, and a
// terminator begun and broken off stays text; the masker agrees with the
// matcher token by token on random replies.
func TestSequence(t *testing.T) {
	const end = "</p>\x01<e>"
	days := mustCompile(t, `{"type":"integer"}`)
	s, err := Sequence(Part{Text: "\x01<call>\n<p city>"}, Part{RawUntil: end}, Part{Text: "\n<p days>"}, Part{Value: days}, Part{Text: end})
	if err != nil {
		t.Fatal(err)
	}
	doc := "\x01<call>\n<p city>New </p York</p>\x01<e>\n<p days> 12</p>\x01<e>"
	if m := NewMatcher(s); !m.Feed([]byte(doc)) || !m.Done() {
		t.Fatalf("%q refused", doc)
	}
	for _, bad := range []string{"\x01<call>\n<p city>a\x01", "\x01<call>\n<p city>a</p>\x01<e>\n<p days>1.5", "\x01<call>\n<p city></p>\x01<e>\n<p days>1</p>\x01<e>x", "<call>"} {
		if m := NewMatcher(s); m.Feed([]byte(bad)) && m.Done() || bad != "\x01<call>\n<p city></p>\x01<e>\n<p days>1</p>\x01<e>x" && m.Feed([]byte(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
	for i := range len(doc) {
		m := NewMatcher(s)
		m.Feed([]byte(doc[:i]))
		full := doc[:i] + m.Completion()
		if m2 := NewMatcher(s); !m2.Feed([]byte(full)) || !m2.Done() {
			t.Fatalf("%q completed as %q", doc[:i], full)
		}
	}
	if _, err := Sequence(Part{Text: "a", RawUntil: "b"}); err == nil {
		t.Error("a part with two kinds accepted")
	}
	// The masker, on random replies through the sequence.
	v := testVocab(rand.New(rand.NewPCG(7, 8)))
	v.Pieces = append(v.Pieces, []byte("\x01<call>"), []byte("\x01<e>"), []byte("</p>"), []byte("York"), []byte("<p days>"))
	v.EOG = append(v.EOG, false, false, false, false, false)
	k := NewMasker(v)
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 3))
		m := NewMatcher(s)
		for step := 0; step < 60 && !m.Done(); step++ {
			mask := k.Mask(m, 1000)
			var ids []int32
			for id, p := range v.Pieces {
				want := v.EOG[id] && m.Done() || len(p) > 0 && m.Clone().Feed(p)
				if Allowed(mask, int32(id)) != want {
					t.Fatalf("token %q after %q: mask %v, matcher %v", p, m.appendKey(nil), !want, want)
				}
				if want && !v.EOG[id] {
					ids = append(ids, int32(id))
				}
			}
			m.Feed(v.Pieces[ids[r.IntN(len(ids))]])
		}
	}
}
