package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"reddwarf/rdb"
)

// TestCheckMain: a sound snapshot and state file pass (exit 0); a damaged
// one fails (exit 1); bad usage is exit 2.
func TestCheckMain(t *testing.T) {
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
		if code := checkMain([]string{p}); code != 0 {
			t.Fatalf("%s: exit %d", p, code)
		}
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0x40
		bad := p + ".bad"
		os.WriteFile(bad, b, 0o644)
		if code := checkMain([]string{bad}); code != 1 {
			t.Fatalf("%s: exit %d, want 1", bad, code)
		}
	}
	if code := checkMain(nil); code != 2 {
		t.Fatalf("no arguments: exit %d", code)
	}
}
