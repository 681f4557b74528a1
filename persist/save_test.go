package persist

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"reddwarf/rdb"
	"reddwarf/server"
)

// A foreground save (SAVE, SHUTDOWN, FLUSHALL) during a BGSAVE cancels it:
// the older view never renames over the newer snapshot, and no temp file
// is left.
func TestForegroundSaveCancelsBgsave(t *testing.T) {
	cfg := server.NewConfig()
	cfg.Dir = t.TempDir()
	srv := server.New(cfg)
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < 64; i++ {
		srv.DBs[0].Set(fmt.Sprintf("big:%d", i), server.NewString(big), false)
	}
	p := New(srv, nil)
	if err := p.Bgsave(); err != nil {
		t.Fatal(err)
	}
	srv.DBs[0].Set("newer", server.NewString([]byte("1")), false)
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	if p.bg != nil {
		t.Fatal("BGSAVE still marked running")
	}
	snap, err := rdb.OpenSnapshot(filepath.Join(cfg.Dir, "dump.dsv4"))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	found := false
	for _, e := range snap.Entries {
		found = found || e.Key == "newer"
	}
	if !found || len(snap.Entries) != 65 {
		t.Fatalf("snapshot has %d keys, newer=%v", len(snap.Entries), found)
	}
	if m, _ := filepath.Glob(filepath.Join(cfg.Dir, "temp-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}
