package infer

import (
	"bytes"
	"errors"
	"testing"
)

// TestPagePayloadRoundTrip: full pages written out and read back give a
// state with the same rows, which continues with the same logits.
func TestPagePayloadRoundTrip(t *testing.T) {
	for _, kv := range []string{"f16", "f32"} {
		m := openStories(t, kv, 2)
		p := longPrompt()
		s := m.NewState()
		if err := m.Step([]Seq{{s, p}}); err != nil {
			t.Fatal(err)
		}
		var payloads [][]byte
		for i := 0; i < s.FullPages(); i++ {
			b, err := s.AppendPagePayload(nil, i)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != s.Layout().PagePayloadSize() {
				t.Fatalf("payload of %d bytes, layout says %d", len(b), s.Layout().PagePayloadSize())
			}
			payloads = append(payloads, b)
		}
		if _, err := s.AppendPagePayload(nil, s.FullPages()); !errors.Is(err, ErrRange) {
			t.Errorf("partial page: %v", err)
		}
		r, err := m.StateFromPages(p, payloads)
		if err != nil {
			t.Fatal(err)
		}
		if r.Len() != len(payloads)*PageTokens || r.Logits() != nil {
			t.Fatalf("rebuilt %d tokens, logits %v", r.Len(), r.Logits() != nil)
		}
		for layer := 0; layer < s.Layout().Layers; layer++ {
			a, _ := s.AppendKVRows(nil, layer, 1, 0, r.Len())
			b, _ := r.AppendKVRows(nil, layer, 1, 0, r.Len())
			if !bytes.Equal(a, b) {
				t.Fatalf("kv %s layer %d: rows differ", kv, layer)
			}
		}
		if err := m.Step([]Seq{{r, p[r.Len():]}}); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(r.Logits(), s.Logits()); d != 0 {
			t.Errorf("kv %s: continued logits differ by %g", kv, d)
		}
		if _, err := m.StateFromPages(p[:10], payloads); !errors.Is(err, ErrRange) {
			t.Errorf("more pages than tokens: %v", err)
		}
		if _, err := m.StateFromPages(p, [][]byte{payloads[0][1:]}); !errors.Is(err, ErrRange) {
			t.Errorf("short payload: %v", err)
		}
	}
}
