package redistests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A damaged record in the snapshot is never lost in silence: `reddwarf
// check` names it, the server keeps the key and answers an error naming it
// to every command that would read it, saves keep its bytes (so the damage
// stays visible), and only a DEL lets it go.
func TestDamagedSessionInTheSnapshotIsKeptAndNamed(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	do(t, c, "GEN", "sess", "A bird", "MAXTOKENS", "10", "TEMPERATURE", "0")
	do(t, c, "SET", "plain", "v")
	do(t, c, "SAVE")
	s.stop()

	// One bit flipped inside the session's record (its payload is most of
	// the file; the key name is where the record starts).
	path := filepath.Join(dir, "dump.dsv4")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte("sess"))
	if at < 0 || at+2000 >= len(b) {
		t.Fatalf("session record not found in %d bytes", len(b))
	}
	b[at+2000] ^= 1
	os.WriteFile(path, b, 0o644)
	out, err := exec.Command(serverBinary, "check", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"sess"`) {
		t.Fatalf("check of the damaged snapshot: %v\n%s", err, out)
	}

	for round := 0; round < 2; round++ {
		s = startIn(t, dir)
		c = cli(t, s)
		want(t, c, "v", "GET", "plain")
		err := c.Do(ctx, "TOKENS", "sess").Err()
		if err == nil || !strings.Contains(err.Error(), "'sess'") {
			t.Fatalf("round %d: TOKENS of the damaged session: %v, want an error naming it", round, err)
		}
		wantErrPrefix(t, c, "ERR key 'sess'", "GEN", "sess", " more", "MAXTOKENS", "2")
		want(t, c, int64(1), "EXISTS", "sess")
		want(t, c, int64(2), "DBSIZE")
		do(t, c, "SAVE") // must not make the loss permanent
		s.stop()
	}
	out, err = exec.Command(serverBinary, "check", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"sess"`) {
		t.Fatalf("check after two saves: %v\n%s", err, out)
	}
	s = startIn(t, dir)
	c = cli(t, s)
	want(t, c, int64(1), "DEL", "sess")
	do(t, c, "SAVE")
	if out, err := exec.Command(serverBinary, "check", path).CombinedOutput(); err != nil {
		t.Fatalf("check after DEL and SAVE: %v\n%s", err, out)
	}
}
