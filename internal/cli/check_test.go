package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"reddwarf/rdb"
)

// TestCheck: a sound snapshot and state file pass (exit 0); a damaged
// one fails (exit 1); bad usage is exit 2.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "dump.dsv4")
	w, err := rdb.CreateSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	st := &rdb.State{Arch: "llama", Vocab: 3, Ctx: 8, Layers: 1, Tokens: []int32{1, 2}, Logits: []float32{1, 2, 3}}
	w.String(0, "k", -1, []byte("v"))
	w.Session(0, "s", -1, st)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "s.dsv4")
	var buf bytes.Buffer
	rdb.WriteState(&buf, st)
	os.WriteFile(state, buf.Bytes(), 0o644)
	for _, p := range []string{snap, state} {
		var so, se bytes.Buffer
		if code := Check([]string{p}, nil, &so, &se); code != 0 || !strings.HasSuffix(so.String(), "OK\n") {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", p, code, so.String(), se.String())
		}
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0x40
		bad := p + ".bad"
		os.WriteFile(bad, b, 0o644)
		so.Reset()
		se.Reset()
		if code := Check([]string{bad}, nil, &so, &se); code != 1 || !strings.Contains(se.String(), "FAILED") {
			t.Fatalf("%s: exit %d, want 1; stderr %q", bad, code, se.String())
		}
	}
	if code := Check(nil, nil, io.Discard, io.Discard); code != 2 {
		t.Fatalf("no arguments: exit %d", code)
	}
}
