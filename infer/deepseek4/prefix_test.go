package deepseek4

import (
	"testing"

	"reddwarf/infer"
)

// TestPrefixCacheContinuesExactly: a session resumed from the prefix cache
// continues with bit-identical logits to an uncached run of the same
// tokens, whether it resumes at the end of a cached session (inside a
// page), at the page boundary its last prefill chunk crossed (the same
// prompt again) or at one of its restore points (a prompt that diverges
// after it), with ds4 and exact numerics.
func TestPrefixCacheContinuesExactly(t *testing.T) {
	ref := loadRef(t)
	toks := ref.Sequences[1].Tokens
	for _, numerics := range []string{"ds4", "exact"} {
		m := openTinyOpt(t, infer.Options{Threads: 2, KVType: "f16", Numerics: numerics, CheckpointInterval: 64})
		V := m.Vocab()
		c := infer.NewPrefixCache(m)
		// Session a: 261 tokens in chunks of 50; restore points at 100 and 200.
		a := m.NewState()
		for i := 0; i < 261; i += 50 {
			if err := m.Step([]infer.Seq{{State: a, Tokens: toks[i:min(261, i+50)]}}); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.Insert(a); n != 261/infer.PageTokens {
			t.Fatalf("%s: indexed %d pages", numerics, n)
		}

		// Continuing a's tokens resumes at its end.
		want := onePassLogits(t, m, toks, len(toks))
		b, n := c.Lookup(m, toks, len(toks)-1)
		if n != 261 || b.Len() != 261 || b.Logits() != nil {
			t.Fatalf("%s: continuation reused %d tokens, want 261", numerics, n)
		}
		for p := n; p < len(toks); p++ {
			if err := m.Step([]infer.Seq{{State: b, Tokens: toks[p : p+1]}}); err != nil {
				t.Fatal(err)
			}
			if d := maxAbs(b.Logits(), want[p*V:(p+1)*V]); d != 0 {
				t.Fatalf("%s: resumed at 261, position %d: logits differ from the uncached run by %.3g", numerics, p, d)
			}
		}

		// The same 261 tokens again (the last one is always fed) resume at
		// the page boundary a's last prefill chunk crossed.
		same, n := c.Lookup(m, toks[:261], 260)
		if n != 256 {
			t.Fatalf("%s: the same prompt reused %d tokens, want 256", numerics, n)
		}
		if err := m.Step([]infer.Seq{{State: same, Tokens: toks[n:261]}}); err != nil {
			t.Fatal(err)
		}
		if diff := maxAbs(same.Logits(), want[260*V:261*V]); diff != 0 {
			t.Fatalf("%s: resumed at 256: logits differ from the uncached run by %.3g", numerics, diff)
		}
		same.Release()

		// A prompt that leaves a's tokens at 150 resumes at the restore
		// point at 100, and its prefill chunk gives the uncached logits.
		other := append([]int32(nil), toks[:150]...)
		for i := 0; i < 60; i++ {
			other = append(other, int32((i*7)%V))
		}
		wantOther := onePassLogits(t, m, other, len(other))
		d, n := c.Lookup(m, other, len(other)-1)
		if n != 100 {
			t.Fatalf("%s: diverging prompt reused %d tokens, want 100", numerics, n)
		}
		if err := m.Step([]infer.Seq{{State: d, Tokens: other[n:]}}); err != nil {
			t.Fatal(err)
		}
		if diff := maxAbs(d.Logits(), wantOther[(len(other)-1)*V:]); diff != 0 {
			t.Fatalf("%s: resumed at 100: logits differ from the uncached run by %.3g", numerics, diff)
		}

		// Nothing before the first snapshot is reused.
		if e, n := c.Lookup(m, toks[:99], 98); e != nil || n != 0 {
			t.Errorf("%s: a 99-token prompt reused %d tokens", numerics, n)
		}
		// Snapshots count among the idle pages, and Trim drops them.
		if c.IdlePages() < 4 {
			t.Errorf("%s: idle pages %d with four snapshots", numerics, c.IdlePages())
		}
		if c.SnapshotBytes() <= 0 {
			t.Errorf("%s: snapshots of %d bytes", numerics, c.SnapshotBytes())
		}
		c.Trim(0)
		if c.IdlePages() != 0 || c.SnapshotBytes() != 0 {
			t.Errorf("%s: idle pages %d, snapshots of %d bytes after Trim(0)", numerics, c.IdlePages(), c.SnapshotBytes())
		}
		if e, _ := c.Lookup(m, toks, len(toks)-1); e != nil {
			t.Errorf("%s: a lookup resumed after Trim(0)", numerics)
		}
		a.Release()
		b.Release()
		d.Release()
	}
}
