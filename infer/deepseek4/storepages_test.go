package deepseek4

import (
	"strings"
	"testing"

	"reddwarf/infer"
)

// TestStorePagesRoundTrip: a session's state written as the session
// store writes it (a page of rows per full page of tokens, then a resume
// point) and rebuilt from them continues with the unrolled run's logits,
// at resume points inside a page, at a page boundary and past a
// ratio-128 row; pages taken from a longer state (the prefix of another
// session) rebuild the same state. Damaged payloads are refused.
func TestStorePagesRoundTrip(t *testing.T) {
	ref := loadRef(t)
	toks := ref.Sequences[1].Tokens
	m := openTiny(t, "ds4", "f16")
	V := m.Vocab()
	want := onePassLogits(t, m, toks, len(toks))
	P := infer.PageTokens
	long := m.NewState()
	if err := m.Step([]infer.Seq{{State: long, Tokens: toks[:len(toks)-1]}}); err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, n := range []int{261, 4 * P, 130, P - 3} {
		if n >= len(toks) {
			continue
		}
		tried++
		s := m.NewState()
		if err := m.Step([]infer.Seq{{State: s, Tokens: toks[:n]}}); err != nil {
			t.Fatal(err)
		}
		resume, err := s.Ext().(infer.StorableArchState).Resume(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Pages from the longer state: its first pages are this one's.
		var pages [][]byte
		for i := 0; i < n/P; i++ {
			b, err := long.Ext().(infer.StorableArchState).PageRows(nil, i)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, b)
		}
		r, err := m.StateFromResume(toks, n, pages, resume, s.Logits())
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for p := n; p < min(len(toks), n+40); p++ {
			if err := m.Step([]infer.Seq{{State: r, Tokens: toks[p : p+1]}}); err != nil {
				t.Fatal(err)
			}
			if d := maxAbs(r.Logits(), want[p*V:(p+1)*V]); d != 0 {
				t.Fatalf("n=%d, position %d after restore: logits differ by %.3g", n, p, d)
			}
		}
		r.Release()
		s.Release()
		if n/P > 0 {
			bad := append([][]byte(nil), pages...)
			bad[0] = bad[0][:len(bad[0])-4]
			if _, err := m.StateFromResume(toks, n, bad, resume, nil); err == nil || !strings.Contains(err.Error(), "page 0") {
				t.Errorf("n=%d: a short page: %v", n, err)
			}
		}
		if _, err := m.StateFromResume(toks, n, pages, resume[:len(resume)-1], nil); err == nil {
			t.Errorf("n=%d: a short resume point was accepted", n)
		}
		if _, err := m.StateFromResume(toks, n+1, pages, resume, nil); err == nil {
			t.Errorf("n=%d: a resume point for another length was accepted", n)
		}
	}
	if tried < 4 {
		t.Fatalf("the reference sequence has %d tokens: only %d resume points tried", len(toks), tried)
	}
}

// FuzzRestorePages: any bytes as pages and a resume point are refused or
// restore a state, never a panic, and a refusal leaves the state as it was.
func FuzzRestorePages(f *testing.F) {
	m := &model{cfg: config{Layers: 4, HeadDim: 8, IDim: 4, Window: 4, Ratios: []int{0, 4, 128, 4}}}
	st := fillState(m, 70)
	var pages [][]byte
	for i := 0; i < 70/infer.PageTokens; i++ {
		b, _ := st.PageRows(nil, i)
		pages = append(pages, b)
	}
	resume, _ := st.Resume(nil)
	f.Add(70, pages[0], pages[1], resume)
	f.Add(64, pages[0], pages[1], resume[:40])
	f.Fuzz(func(t *testing.T, n int, p0, p1, resume []byte) {
		s := m.NewArchState().(*state)
		err := s.Restore(n, [][]byte{p0, p1}, resume)
		if err != nil && s.n != 0 {
			t.Fatalf("a refused restore changed the state: n=%d", s.n)
		}
		if err == nil && s.n != n {
			t.Fatalf("restored %d tokens, asked %d", s.n, n)
		}
	})
}
