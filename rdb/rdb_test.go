package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// testState is a small state with every part present: logits, sections
// written both ways (Data and WriteTo), checkpoints with and without
// logits and extra.
func testState() *State {
	st := &State{
		Arch: "llama", Fingerprint: 0xfeedface, Ctx: 64, Layers: 2, Vocab: 5, RNG: 99,
		Tokens: []int32{1, 4, 3, 2},
		Logits: []float32{0.5, -1, 2, 3, 4},
	}
	for l := 0; l < 2; l++ {
		data := bytes.Repeat([]byte{byte(l + 1)}, 4*3*2)
		st.Sections = append(st.Sections, Section{Kind: SectionKVKeys, DType: DTypeF16, Layer: uint32(l), Size: int64(len(data)), Data: data})
		d2 := bytes.Repeat([]byte{byte(l + 7)}, 4*3*2)
		st.Sections = append(st.Sections, Section{Kind: SectionKVValues, DType: DTypeF16, Layer: uint32(l), Size: int64(len(d2)),
			WriteTo: func(w io.Writer) error { _, err := w.Write(d2); return err }})
	}
	st.Checkpoints = []Checkpoint{{Name: "gen", Pos: 0}, {Name: "c1", Pos: 3, Logits: []float32{1, 2, 3, 4, 5}}, {Name: "x", Pos: 4, Extra: []byte("blob")}}
	return st
}

func encodeState(t testing.TB, st *State) []byte {
	var buf bytes.Buffer
	n, err := WriteState(&buf, st)
	if err != nil {
		t.Fatal(err)
	}
	if n != StateSize(st) || int64(buf.Len()) != n {
		t.Fatalf("wrote %d (buffer %d), StateSize %d", n, buf.Len(), StateSize(st))
	}
	return buf.Bytes()
}

func TestStateRoundTrip(t *testing.T) {
	st := testState()
	b := encodeState(t, st)
	got, err := DecodeState(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != st.Arch || got.Fingerprint != st.Fingerprint || got.RNG != st.RNG || got.Ctx != st.Ctx ||
		!reflect.DeepEqual(got.Tokens, st.Tokens) || !reflect.DeepEqual(got.Logits, st.Logits) {
		t.Fatalf("header/tokens/logits differ: %+v", got)
	}
	for i, s := range got.Sections {
		want := st.Sections[i]
		var data []byte
		if want.Data != nil {
			data = want.Data
		} else {
			var buf bytes.Buffer
			want.WriteTo(&buf)
			data = buf.Bytes()
		}
		if s.Kind != want.Kind || s.Layer != want.Layer || s.DType != want.DType || !bytes.Equal(s.Data, data) {
			t.Fatalf("section %d differs", i)
		}
	}
	if !reflect.DeepEqual(got.Checkpoints, st.Checkpoints) {
		t.Fatalf("checkpoints %+v, want %+v", got.Checkpoints, st.Checkpoints)
	}
	// An empty state (no logits, no sections, no checkpoints).
	empty := &State{Arch: "llama", Vocab: 5, Ctx: 8}
	if _, err := DecodeState(encodeState(t, empty), 0); err != nil {
		t.Fatal(err)
	}
}

// A section writer that writes the wrong number of bytes is an error,
// not a corrupt payload.
func TestStateSectionSizeMismatch(t *testing.T) {
	st := testState()
	st.Sections[0].Size++
	if _, err := WriteState(&bytes.Buffer{}, st); err == nil {
		t.Fatal("want an error")
	}
}

// reseal recomputes the trailing checksum after a deliberate change, so
// the decoder's field checks (not the checksum) must catch it.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint64(b[len(b)-8:], xxhash.Sum64(b[:len(b)-8]))
	return b
}

// TestStateCorruptions: 1,000 random corruptions and truncations of a
// state, with the checksum left alone and with it recomputed; every one is
// refused (or, resealed, decodes to something valid) without a panic.
func TestStateCorruptions(t *testing.T) {
	good := encodeState(t, testState())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		b := mutate(rng, good)
		if _, err := DecodeState(b, 0); err == nil && !bytes.Equal(b, good) {
			t.Fatalf("case %d: corrupted state accepted", i)
		} else if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("case %d: error not ErrCorrupt: %v", i, err)
		}
		if len(b) >= 8 {
			DecodeState(reseal(b), 0) // must not panic; may succeed
		}
	}
}

// mutate returns a corrupted copy of b: flipped bytes, a truncation, an
// extension or a overwritten run.
func mutate(rng *rand.Rand, b []byte) []byte {
	c := append([]byte(nil), b...)
	switch rng.IntN(4) {
	case 0:
		for n := 1 + rng.IntN(4); n > 0; n-- {
			c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		}
	case 1:
		c = c[:rng.IntN(len(c))]
	case 2:
		c = append(c, byte(rng.IntN(256)))
	case 3:
		at := rng.IntN(len(c))
		for j := at; j < len(c) && j < at+8; j++ {
			c[j] = 0xff
		}
	}
	if bytes.Equal(c, b) {
		c = c[:len(c)-1]
	}
	return c
}

func FuzzDecodeState(f *testing.F) {
	good := encodeState(f, testState())
	f.Add(good)
	f.Add(good[:40])
	f.Add(encodeState(f, &State{Arch: "x", Vocab: 1, Ctx: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b, 0)
		if err == nil {
			// A decoded state re-encodes to the same bytes.
			if got := encodeState(t, st); !bytes.Equal(got, b) {
				t.Fatalf("re-encoding differs")
			}
		}
		if len(b) >= 8 {
			if st, err := DecodeState(reseal(append([]byte(nil), b...)), 0); err == nil {
				encodeState(t, st)
			}
		}
	})
}

// writeTestSnapshot writes a snapshot of strings and sessions to dir.
func writeTestSnapshot(t testing.TB, dir string) string {
	path := filepath.Join(dir, "dump.dsv4")
	w, err := CreateSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Aux(AuxVersion, "test")
	w.Aux("unknown-field", "readers skip it")
	if err := w.String(0, "a", -1, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	w.String(3, "", 12345, nil)
	if err := w.Session(1, "s", -1, testState()); err != nil {
		t.Fatal(err)
	}
	sb := encodeState(t, testState())
	if err := w.SessionPayload(0, "copied", -1, int64(len(sb)), bytes.NewReader(sb)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := writeTestSnapshot(t, dir)
	s, err := OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Aux[AuxVersion] != "test" || s.Aux["unknown-field"] == "" {
		t.Fatalf("aux %v", s.Aux)
	}
	want := []struct {
		typ uint8
		db  int
		key string
		exp int64
	}{{TypeString, 0, "a", -1}, {TypeString, 3, "", 12345}, {TypeSession, 1, "s", -1}, {TypeSession, 0, "copied", -1}}
	if len(s.Entries) != len(want) {
		t.Fatalf("%d entries", len(s.Entries))
	}
	for i, w := range want {
		e := s.Entries[i]
		if e.Type != w.typ || e.DB != w.db || e.Key != w.key || e.ExpireMS != w.exp {
			t.Fatalf("entry %d = %+v", i, e)
		}
		v, err := s.ReadRecord(e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == TypeSession {
			if _, err := DecodeState(v, e.Off); err != nil {
				t.Fatal(err)
			}
		} else if i == 0 && string(v) != "hello" {
			t.Fatalf("value %q", v)
		}
	}
	if err := s.Verify(nil); err != nil {
		t.Fatal(err)
	}
	// No temp file is left behind.
	if m, _ := filepath.Glob(filepath.Join(dir, "temp-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

// An aborted snapshot leaves the previous file as it was.
func TestSnapshotAbortKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := writeTestSnapshot(t, dir)
	before, _ := os.ReadFile(path)
	w, err := CreateSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	w.String(0, "new", -1, []byte("x"))
	w.Abort()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("abort changed the snapshot")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "temp-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

// checkSnapshotBytes opens and fully verifies b as a snapshot file.
type bytesFile struct{ *bytes.Reader }

func (bytesFile) Close() error { return nil }

func checkSnapshotBytes(b []byte) error {
	s, err := openSnapshotAt(bytesFile{bytes.NewReader(b)}, int64(len(b)), "test")
	if err != nil {
		return err
	}
	defer s.Close()
	for _, e := range s.Entries {
		if v, err := s.ReadRecord(e); err == nil && e.Type == TypeSession {
			DecodeState(v, e.Off)
		}
	}
	return s.Verify(func(e Entry, v []byte) error {
		if e.Type == TypeSession {
			_, err := DecodeState(v, e.Off)
			return err
		}
		return nil
	})
}

// TestSnapshotCorruptions: 1,000 corrupted or truncated snapshots all
// fail Verify with ErrCorrupt, without a panic.
func TestSnapshotCorruptions(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(writeTestSnapshot(t, dir))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		b := mutate(rng, good)
		err := checkSnapshotBytes(b)
		if err == nil {
			t.Fatalf("case %d: corrupted snapshot verified", i)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("case %d: %v is not ErrCorrupt", i, err)
		}
	}
}

// FuzzSnapshot: any bytes either verify (the intact snapshot must) or fail
// with ErrCorrupt, never with another error or a panic.
func FuzzSnapshot(f *testing.F) {
	dir := f.TempDir()
	good, err := os.ReadFile(writeTestSnapshot(f, dir))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkSnapshotBytes(b)
		switch {
		case bytes.Equal(b, good) && err != nil:
			t.Fatalf("the intact snapshot fails: %v", err)
		case err != nil && !errors.Is(err, ErrCorrupt):
			t.Fatalf("%v is not ErrCorrupt", err)
		}
	})
}

func TestDumpPayload(t *testing.T) {
	p := DumpString([]byte("v"))
	typ, v, err := ParseDump(p)
	if err != nil || typ != TypeString || string(v) != "v" {
		t.Fatalf("%d %q %v", typ, v, err)
	}
	sp, err := DumpState(testState())
	if err != nil {
		t.Fatal(err)
	}
	typ, v, err = ParseDump(sp)
	if err != nil || typ != TypeSession {
		t.Fatal(err)
	}
	if _, err := DecodeState(v, 1); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		b := mutate(rng, sp)
		if _, _, err := ParseDump(b); !errors.Is(err, ErrDumpPayload) {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	// Another version is refused like a bad checksum.
	old := append([]byte(nil), p...)
	binary.LittleEndian.PutUint16(old[len(old)-10:], DumpVersion+1)
	if _, _, err := ParseDump(reseal(old)); !errors.Is(err, ErrDumpPayload) {
		t.Fatalf("other version: %v", err)
	}
}

// Both ways of staying inside dir: openat2 RESOLVE_BENEATH, and the
// component-by-component O_NOFOLLOW fallback.
var beneathModes = []struct {
	name       string
	useOpenat2 bool
}{{"openat2", true}, {"nofollow", false}}

func TestFilesInDirStayInside(t *testing.T) {
	for _, m := range beneathModes {
		t.Run(m.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(out, "secret"), []byte("outside"), 0o644)
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			os.Symlink(out, filepath.Join(dir, "escape"))
			os.Symlink("../"+filepath.Base(out), filepath.Join(dir, "sub", "up"))
			os.Symlink("sub", filepath.Join(dir, "inside"))
			for name, ok := range map[string]bool{
				"a.dsv4": true, "sub/a.dsv4": true, "new/dir/a": true, "./b": true,
				"../a": false, "sub/../../a": false, "/etc/passwd": false, "escape/a": false,
				"sub/up/a": false, "": false, ".": false, "sub/..": false, "a\x00b": false,
			} {
				err := writeFileAtomicIn(dir, name, func(f *os.File) error { _, err := f.WriteString("v"); return err }, m.useOpenat2)
				if (err == nil) != ok {
					t.Errorf("write %q: err %v, want ok=%v", name, err, ok)
				}
				b, err := readFileIn(dir, name, m.useOpenat2)
				if ok && (err != nil || string(b) != "v") {
					t.Errorf("read %q: %q, %v", name, b, err)
				}
				if !ok && err == nil {
					t.Errorf("read %q: read %q, want an error", name, b)
				}
			}
			for _, name := range []string{"escape/secret", "escape"} {
				if b, err := readFileIn(dir, name, m.useOpenat2); err == nil {
					t.Errorf("read %q: read %q outside dir", name, b)
				}
			}
			// A symlink inside dir to a file inside dir may be read where
			// openat2 checks where it leads; the fallback follows none.
			if b, err := readFileIn(dir, "inside/a.dsv4", m.useOpenat2); m.useOpenat2 && (err != nil || string(b) != "v") {
				t.Errorf("read inside/a.dsv4: %q, %v", b, err)
			}
			ents, _ := os.ReadDir(out)
			if len(ents) != 1 {
				t.Errorf("files appeared outside dir: %v", ents)
			}
		})
	}
}

func TestReadFileInRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	for _, name := range []string{"fifo", "d"} {
		done := make(chan error, 1)
		go func() { _, err := ReadFileIn(dir, name); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: reading blocked", name)
		}
	}
	// Saving over a directory fails and leaves no temp file.
	if err := WriteFileAtomicIn(dir, "d", func(f *os.File) error { return nil }); err == nil {
		t.Error("a file replaced the directory d")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "temp-*")); len(m) != 0 {
		t.Errorf("temp files left: %v", m)
	}
}

// The issue-13 attack: one goroutine flips dir/race between a directory
// inside dir and a symlink to one outside while files are written and read
// through it. Nothing may appear outside and nothing outside may be read.
func TestFilesInDirSymlinkRace(t *testing.T) {
	for _, m := range beneathModes {
		t.Run(m.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(out, "x"), []byte("outside"), 0o644)
			race := filepath.Join(dir, "race")
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
						os.WriteFile(filepath.Join(race, "x"), []byte("inside"), 0o644)
					}
				}
			}()
			for i := 0; i < 2000; i++ {
				writeFileAtomicIn(dir, "race/y", func(f *os.File) error { _, err := f.WriteString("v"); return err }, m.useOpenat2)
				if b, err := readFileIn(dir, "race/x", m.useOpenat2); err == nil && string(b) == "outside" {
					t.Fatalf("read a file outside dir through the symlink")
				}
			}
			close(stop)
			wg.Wait()
			ents, _ := os.ReadDir(out)
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Fatalf("%d files appeared outside dir: %v", len(ents)-1, names)
			}
		})
	}
}
