package infer

import (
	"slices"
	"testing"
)

// TestPrefixCacheReuse: pages indexed from one state give another state the
// same K/V rows and, after the remaining tokens, the same logits.
func TestPrefixCacheReuse(t *testing.T) {
	m := openStories(t, "f32", 2)
	c := NewPrefixCache(m)
	p := longPrompt() // 3 full pages + 7
	a := m.NewState()
	if err := m.Step([]Seq{{a, p}}); err != nil {
		t.Fatal(err)
	}
	if n := c.Insert(a); n != 3 {
		t.Fatalf("indexed %d pages, want 3", n)
	}
	if n := c.Insert(a); n != 0 {
		t.Fatalf("indexed %d pages again", n)
	}
	// The limit keeps at least one token to feed.
	b, n := c.Lookup(m, p[:3*PageTokens], 3*PageTokens-1)
	if n != 2*PageTokens || b.Len() != n || b.Logits() != nil {
		t.Fatalf("lookup of 96 tokens limited to 95: %d tokens", n)
	}
	b.Release()
	b, n = c.Lookup(m, p, len(p)-1)
	if n != 3*PageTokens {
		t.Fatalf("reused %d tokens, want %d", n, 3*PageTokens)
	}
	if err := m.Step([]Seq{{b, p[n:]}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Logits(), b.Logits()) {
		t.Errorf("logits after reuse differ by %g", maxDiff(a.Logits(), b.Logits()))
	}
	// A different token in page 2 stops the chain after page 1.
	q := slices.Clone(p)
	q[PageTokens+3]++
	d, n := c.Lookup(m, q, len(q))
	if n != PageTokens {
		t.Errorf("diverging prompt reused %d tokens, want %d", n, PageTokens)
	}
	d.Release()
	// Refs: a, b and the cache hold the three pages.
	for _, r := range a.PageRefs(nil)[:3] {
		if r.Refs() != 3 {
			t.Fatalf("page refs %d, want 3", r.Refs())
		}
	}
	a.Release()
	b.Release()
	if c.IdlePages() != 3 {
		t.Fatalf("idle pages %d, want 3", c.IdlePages())
	}
	refs := c.CachedPageRefs(nil)
	if c.Trim(1) != 2 || c.Pages() != 1 {
		t.Fatalf("trim to 1 left %d pages", c.Pages())
	}
	c.Clear()
	for _, r := range refs {
		if r.Refs() != 0 {
			t.Fatalf("page refs %d after Clear", r.Refs())
		}
	}
}
