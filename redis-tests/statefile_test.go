package redistests

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// State files (SAVE key file, LOAD key file) are confined to dir, even
// while the names they go through are being swapped for symlinks, and an
// error about a file never shows what the file holds.

// TestStateFilesStayInDirUnderASymlinkRace flips dir/race between a real
// directory holding a state file and a symlink to a directory outside
// holding another session's state, while SAVE and LOAD go through it.
func TestStateFilesStayInDirUnderASymlinkRace(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	do(t, c, "GEN", "inside", "A bird", "MAXTOKENS", "4", "TEMPERATURE", "0")
	do(t, c, "GEN", "outside", "The cat sat", "MAXTOKENS", "4", "TEMPERATURE", "0")
	do(t, c, "SAVE", "inside", "inside.dsv4")
	do(t, c, "SAVE", "outside", "outside.dsv4")
	insideState, err := os.ReadFile(filepath.Join(dir, "states", "inside.dsv4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "states", "outside.dsv4"), filepath.Join(out, "x")); err != nil {
		t.Fatal(err)
	}
	insideTokens := pstr(t, c, "TOKENS", "inside")

	race := filepath.Join(dir, "states", "race")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.RemoveAll(race)
			if i%2 == 0 {
				os.Symlink(out, race)
			} else if os.Mkdir(race, 0o755) == nil {
				os.WriteFile(filepath.Join(race, "x"), insideState, 0o644)
			}
		}
	}()
	loaded := 0
	for i := 0; i < 400; i++ {
		c.Do(ctx, "SAVE", "inside", "race/y")
		if err := c.Do(ctx, "LOAD", "k", "race/x", "REPLACE").Err(); err == nil {
			loaded++
			if got := pstr(t, c, "TOKENS", "k"); got != insideTokens {
				close(stop)
				wg.Wait()
				t.Fatalf("LOAD read the state file outside dir (tokens %s)", got)
			}
		}
	}
	close(stop)
	wg.Wait()
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 {
		t.Errorf("files appeared outside dir: %v", names)
	}
	t.Logf("%d of 400 LOADs found the inside file", loaded)
}

// SAVE of a name that is the directory itself fails without writing
// anything beside dir: before, its temp file was created in dir's parent
// (and removed when the rename failed), so the test watches the parent
// while SAVEs run.
func TestSaveOfTheDirectoryItselfWritesNothingOutside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	os.Mkdir(dir, 0o755)
	s := startIn(t, dir)
	c := cli(t, s)
	do(t, c, "GEN", "s", "A bird", "MAXTOKENS", "2", "TEMPERATURE", "0")
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		defer close(seen)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir(parent)
			for _, e := range ents {
				if e.Name() != "data" {
					seen <- e.Name()
					return
				}
			}
		}
	}()
	for i := 0; i < 300; i++ {
		for _, name := range []string{".", "./", "sub/..", "a/../."} {
			wantErrPrefix(t, c, "ERR", "SAVE", "s", name)
		}
	}
	close(stop)
	if name, ok := <-seen; ok {
		t.Errorf("%s appeared beside dir", name)
	}
}

// LOAD of a file that is not a state file answers an error that names the
// file but shows none of its bytes: not its text, not its last 8 bytes
// read as a stored checksum, not its hash.
func TestLoadErrorsNeverShowTheFilesContent(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	secret := "TOPSECRET password=hunter2 0123456789abcdef"
	os.MkdirAll(filepath.Join(dir, "states"), 0o755)
	os.WriteFile(filepath.Join(dir, "states", "notes.txt"), []byte(secret), 0o644)
	err := c.Do(ctx, "LOAD", "k", "notes.txt").Err()
	if err == nil {
		t.Fatal("LOAD of a text file succeeded")
	}
	tail := []byte(secret[len(secret)-8:])
	for _, leak := range []string{"TOPS", "hunter2", "89abcdef",
		fmt.Sprintf("%016x", binary.LittleEndian.Uint64(tail)), fmt.Sprintf("%016x", binary.BigEndian.Uint64(tail))} {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(leak)) {
			t.Errorf("LOAD error %q shows %q of the file", err, leak)
		}
	}
}

// State files live in dir/states/: SAVE key file can never replace the
// snapshot or any other file the server owns (SAVE anykey dump.dsv4 used
// to overwrite the snapshot); temp files of a SAVE killed midway are
// removed at the next start.
func TestStateFilesCannotReplaceTheServersFiles(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	do(t, c, "SET", "plain", "v")
	do(t, c, "GEN", "s", "A bird", "MAXTOKENS", "2", "TEMPERATURE", "0")
	want(t, c, "OK", "SAVE")
	snap, err := os.ReadFile(filepath.Join(dir, "dump.dsv4"))
	if err != nil {
		t.Fatal(err)
	}
	do(t, c, "SAVE", "s", "dump.dsv4")
	if b, _ := os.ReadFile(filepath.Join(dir, "dump.dsv4")); string(b) != string(snap) {
		t.Fatal("SAVE key dump.dsv4 replaced the snapshot")
	}
	if _, err := os.Stat(filepath.Join(dir, "states", "dump.dsv4")); err != nil {
		t.Fatalf("the state file is not in states/: %v", err)
	}
	// check tells a state file from a snapshot: one copied where the
	// snapshot goes is sound, and no snapshot the server starts from.
	out, err := exec.Command(serverBinary, "check", filepath.Join(dir, "states", "dump.dsv4")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "not a snapshot the server starts from") {
		t.Errorf("check of a state file: %v\n%s", err, out)
	}
	wantErrPrefix(t, c, "ERR", "SAVE", "s", "../dump.dsv4")
	s.stop()

	// Temp files of killed SAVEs, at any depth of states/, go at start-up;
	// other files stay.
	os.MkdirAll(filepath.Join(dir, "states", "sub"), 0o755)
	stale := []string{filepath.Join(dir, "states", "temp-999999-1.a.dsv4"), filepath.Join(dir, "states", "sub", "temp-1-7.b")}
	for _, p := range stale {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	keep := filepath.Join(dir, "states", "temp-notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	s = startIn(t, dir)
	c = cli(t, s)
	want(t, c, "v", "GET", "plain")
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was not removed at start-up", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("%s was removed: %v", keep, err)
	}
	want(t, c, int64(len(strings.Fields(pstr(t, c, "TOKENS", "s")))), "LOAD", "copy", "dump.dsv4")
}
