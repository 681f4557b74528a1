package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"reddwarf/persist/store"
	"reddwarf/rdb"
)

// TestCheckStore: `reddwarf check DIR` passes a sound store and names the
// file and offset of a damaged record.
func TestCheckStore(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(store.Options{Dir: dir, Fsync: store.FsyncAlways, Model: store.Model{Arch: "llama", Fingerprint: 3, PageKind: rdb.PageKVF16, PageTokens: 4}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	toks := []int32{1, 2, 3, 4, 5}
	h := rdb.ChainHash(0, toks[:4])
	if _, err := s.PutPage(&rdb.PageRecord{PageKey: rdb.PageKey{Hash: h, Fingerprint: 3, Kind: rdb.PageKVF16}, Tokens: toks[:4], Payload: make([]byte, 64)}); err != nil {
		t.Fatal(err)
	}
	rec := rdb.AppendTokensRecord(nil, []byte("s"), toks)
	rec = rdb.PagesRecord(rec, []byte("s"), 0, []uint64{h})
	s.Append(rdb.AppendCommand(rec, []byte("SET"), []byte("k"), []byte("v")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Check([]string{dir}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "1 sessions, 1 pages") {
		t.Fatalf("sound store: exit %d\n%s%s", code, out.String(), errb.String())
	}
	incr := filepath.Join(dir, "appendonly.aof.1.incr.aof")
	b, _ := os.ReadFile(incr)
	b[len(b)-60] ^= 1 // inside the RDW.PAGES record, which the SET follows
	os.WriteFile(incr, b, 0o644)
	out.Reset()
	errb.Reset()
	if code := Check([]string{dir}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "appendonly.aof.1.incr.aof at offset") {
		t.Fatalf("damaged store: exit %d\n%s%s", code, out.String(), errb.String())
	}
}
