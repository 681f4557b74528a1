package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"reddwarf/rdb"
)

const testPageTokens = 8

var testModel = Model{Arch: "llama", Fingerprint: 0xfeed, PageKind: rdb.PageKVF16, PageTokens: testPageTokens}

func open(t *testing.T, dir string, fsync Fsync) (*Store, *Keyspace) {
	t.Helper()
	ks := NewKeyspace(testPageTokens)
	s, err := Open(Options{Dir: dir, Fsync: fsync, Model: testModel, SegmentMax: 8 << 10, Logf: t.Logf}, ks.Apply)
	if err != nil {
		t.Fatal(err)
	}
	return s, ks
}

// page makes the page record for tokens[i*P:(i+1)*P] of a session: its
// payload is derived from the tokens, as KV rows are.
func page(tokens []int32, i int) *rdb.PageRecord {
	hs := ChainHashes(tokens[:(i+1)*testPageTokens], testPageTokens)
	parent := uint64(0)
	if i > 0 {
		parent = hs[i-1]
	}
	toks := tokens[i*testPageTokens : (i+1)*testPageTokens]
	payload := make([]byte, 512)
	for j := range payload {
		payload[j] = byte(int(toks[j%len(toks)]) * (j + 1))
	}
	return &rdb.PageRecord{PageKey: rdb.PageKey{Hash: hs[i], Fingerprint: testModel.Fingerprint, Kind: testModel.PageKind}, Parent: parent, Depth: uint32(i), Tokens: toks, Payload: payload}
}

// writer plays a session's life the way the server will log it: tokens
// appended, full pages stored then referenced, RNG after each step.
type writer struct {
	t      *testing.T
	s      *Store
	tokens map[string][]int32
	stored map[string]int
}

func newWriter(t *testing.T, s *Store) *writer {
	return &writer{t: t, s: s, tokens: map[string][]int32{}, stored: map[string]int{}}
}

func (w *writer) gen(key string, toks []int32) {
	w.t.Helper()
	w.tokens[key] = append(w.tokens[key], toks...)
	all := w.tokens[key]
	rec := rdb.AppendTokensRecord(nil, []byte(key), toks)
	full := len(all) / testPageTokens
	if full > w.stored[key] {
		var hs []uint64
		for i := w.stored[key]; i < full; i++ {
			if _, err := w.s.PutPage(page(all, i)); err != nil {
				w.t.Fatal(err)
			}
			hs = append(hs, page(all, i).Hash)
		}
		rec = rdb.PagesRecord(rec, []byte(key), w.stored[key], hs)
		w.stored[key] = full
	}
	rec = rdb.RNGRecord(rec, []byte(key), uint64(len(all)))
	w.s.Append(rec)
}

func randTokens(rng *rand.Rand, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = rng.Int32N(1000)
	}
	return out
}

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncAlways)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(1, 1))
	s.Append(rdb.AppendCommand(nil, []byte("SET"), []byte("str"), []byte("v")))
	for i := 0; i < 40; i++ {
		w.gen(fmt.Sprintf("s%d", i%3), randTokens(rng, 1+rng.IntN(13)))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A fork shares every page: putting them again writes nothing.
	s.Append(rdb.ForkRecord(nil, []byte("s0"), []byte("f")))
	w.tokens["f"], w.stored["f"] = slices.Clone(w.tokens["s0"]), w.stored["s0"]
	before := s.Stats().PagesWritten
	w.gen("f", randTokens(rng, 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, ks := open(t, dir, FsyncAlways)
	defer s.Close()
	st := s.Stats()
	if st.Segments < 2 {
		t.Errorf("%d segments: SegmentMax should have rolled them", st.Segments)
	}
	for key, toks := range w.tokens {
		got := ks.DBs[0][key]
		if got == nil || !slices.Equal(got.Tokens, toks) || got.Stored != len(toks)/testPageTokens || got.RNG != uint64(len(toks)) {
			t.Fatalf("session %s: replayed %+v, want %d tokens", key, got, len(toks))
		}
		for i, k := range s.PageKeys(toks) {
			p, err := s.ReadPage(k)
			if err != nil {
				t.Fatalf("session %s page %d: %v", key, i, err)
			}
			if !bytes.Equal(p.Payload, page(toks, i).Payload) {
				t.Fatalf("session %s page %d: payload differs", key, i)
			}
		}
	}
	if w.stored["f"] > w.stored["s0"] && before == 0 {
		t.Error("no pages written")
	}
	var out bytes.Buffer
	if err := Check(dir, "", &out); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
}

// TestForkWritesNoPages: the pages a fork shares with its source are
// stored once.
func TestForkWritesNoPages(t *testing.T) {
	s, _ := open(t, t.TempDir(), FsyncNo)
	defer s.Close()
	w := newWriter(t, s)
	toks := randTokens(rand.New(rand.NewPCG(2, 2)), 5*testPageTokens)
	w.gen("a", toks)
	n := s.Stats().PagesWritten
	w.gen("b", toks)
	if st := s.Stats(); st.PagesWritten != n || st.DedupHits != 5 || st.DedupRatio() != 2 {
		t.Errorf("second session with the same tokens wrote %d pages, %d dedup hits, ratio %g", st.PagesWritten-n, st.DedupHits, st.DedupRatio())
	}
	if info := strings.Join(s.Stats().Info(), "\n"); !strings.Contains(info, "store_dedup_ratio:2.00") || !strings.Contains(info, "store_pages:5") {
		t.Errorf("INFO lines:\n%s", info)
	}
}

func lastIncr(t *testing.T, dir string) string {
	m, err := os.ReadFile(filepath.Join(dir, "appendonly.aof.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	man, err := rdb.ParseManifest(m, "m")
	if err != nil {
		t.Fatal(err)
	}
	incrs := man.Of(rdb.ManifestIncr)
	return filepath.Join(dir, incrs[len(incrs)-1].Name)
}

func lastSegment(t *testing.T, dir string) string {
	m, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof.manifest"))
	man, _ := rdb.ParseManifest(m, "m")
	segs := man.Of(rdb.ManifestSegment)
	return filepath.Join(dir, segs[len(segs)-1].Name)
}

func appendFile(t *testing.T, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
}

// TestTornTailsRepaired: half a record at the end of the log and half a
// page at the end of the last segment are cut off at Open, logged, and
// everything before them is kept.
func TestTornTailsRepaired(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncAlways)
	w := newWriter(t, s)
	toks := randTokens(rand.New(rand.NewPCG(3, 3)), 3*testPageTokens+2)
	w.gen("k", toks)
	s.Flush()
	s.Close()

	half := rdb.AppendTokensRecord(nil, []byte("k"), []int32{1, 2, 3})
	appendFile(t, lastIncr(t, dir), half[:len(half)/2])
	pg := rdb.AppendPageRecord(nil, page(append(slices.Clone(toks), randTokens(rand.New(rand.NewPCG(4, 4)), 8)...), 3))
	appendFile(t, lastSegment(t, dir), pg[:100])

	s, ks := open(t, dir, FsyncAlways)
	if got := ks.DBs[0]["k"]; got == nil || !slices.Equal(got.Tokens, toks) {
		t.Fatalf("after repair: %+v", got)
	}
	if st := s.Stats(); st.TornRepairs != 2 {
		t.Errorf("%d torn tails repaired, want 2", st.TornRepairs)
	}
	// The store goes on after the repair.
	w = newWriter(t, s)
	w.tokens["k"], w.stored["k"] = toks, 3
	w.gen("k", []int32{5, 6, 7, 8, 9, 10})
	s.Close()
	s, ks = open(t, dir, FsyncAlways)
	defer s.Close()
	if got := ks.DBs[0]["k"]; len(got.Tokens) != len(toks)+6 || got.Stored != 4 {
		t.Fatalf("after appending past the repair: %d tokens, %d stored", len(got.Tokens), got.Stored)
	}
}

// TestDamageRefused: a flipped byte before the tail refuses to open,
// naming the file, the offset and the reason; Check says the same.
func TestDamageRefused(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncAlways)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 5; i++ {
		w.gen("k", randTokens(rng, 10))
		s.Flush()
	}
	s.Close()
	path := lastIncr(t, dir)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x20
	os.WriteFile(path, b, 0o644)
	_, err := Open(Options{Dir: dir, Model: testModel}, nil)
	if !errors.Is(err, rdb.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("open of a damaged log: %v", err)
	}
	if err := Check(dir, "", &bytes.Buffer{}); !errors.Is(err, rdb.ErrCorrupt) {
		t.Fatalf("check of a damaged log: %v", err)
	}
}

// TestPageDamage: a page that fails its checksum is refused on read and
// leaves the index (it will be recomputed); Check finds it first.
func TestPageDamage(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncAlways)
	w := newWriter(t, s)
	toks := randTokens(rand.New(rand.NewPCG(6, 6)), 4*testPageTokens)
	w.gen("k", toks)
	s.Close()
	seg := lastSegment(t, dir)
	b, _ := os.ReadFile(seg)
	b[rdb.SegmentHeader+rdb.PageHeader+40] ^= 1 // the first page's tokens
	os.WriteFile(seg, b, 0o644)
	if err := Check(dir, "", &bytes.Buffer{}); !errors.Is(err, rdb.ErrCorrupt) {
		t.Fatalf("check: %v", err)
	}
	s, _ = open(t, dir, FsyncAlways)
	defer s.Close()
	k := s.PageKeys(toks)[0]
	if _, err := s.ReadPage(k); !errors.Is(err, ErrPageCorrupt) {
		t.Fatalf("read of a damaged page: %v", err)
	}
	if s.HasPage(k) {
		t.Error("a damaged page stays indexed")
	}
	if _, err := s.ReadPage(s.PageKeys(toks)[1]); err != nil {
		t.Errorf("the next page: %v", err)
	}
}

func TestModelMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncNo)
	s.Close()
	other := testModel
	other.Fingerprint++
	if _, err := Open(Options{Dir: dir, Model: other}, nil); !errors.Is(err, rdb.ErrIncompatible) {
		t.Fatalf("open with another model: %v", err)
	}
}

func TestFilesWithoutManifestRefused(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncNo)
	s.Close()
	os.Remove(filepath.Join(dir, "appendonly.aof.manifest"))
	if _, err := Open(Options{Dir: dir, Model: testModel}, nil); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Fatalf("open without a manifest: %v", err)
	}
}

// TestEverySecFsyncs: with everysec, written records are fsynced within
// about a second, by the background goroutine.
func TestEverySecFsyncs(t *testing.T) {
	s, _ := open(t, t.TempDir(), FsyncEverySec)
	defer s.Close()
	s.Append(rdb.AppendCommand(nil, []byte("SET"), []byte("a"), []byte("b")))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Fsyncs != 0 {
		t.Fatal("everysec fsynced in Flush")
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Stats().Fsyncs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fsync within 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRewrite: a rewrite's base holds the sessions as records (no KV
// bytes), appends during it land in the new log, the old files go, and
// Reclaim drops segments whose pages no session holds.
func TestRewrite(t *testing.T) {
	dir := t.TempDir()
	s, ks := open(t, dir, FsyncEverySec)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(7, 7))
	// A session alone in its segments, deleted before the rewrite: its
	// segments are the ones Reclaim can drop.
	w.gen("dead", randTokens(rng, 40*testPageTokens))
	s.Append(rdb.AppendCommand(nil, []byte("DEL"), []byte("dead")))
	deadKeys := s.PageKeys(w.tokens["dead"])
	delete(w.tokens, "dead")
	for i := 0; i < 30; i++ {
		w.gen(fmt.Sprintf("k%d", i%4), randTokens(rng, 20))
	}
	s.Append(rdb.AppendCommand(nil, []byte("DEL"), []byte("k3")))
	delete(w.tokens, "k3")
	s.Flush()
	segsBefore := s.Stats().Segments

	// The view is taken at BeginRewrite: replay what was logged so far.
	s.Close()
	s, ks = open(t, dir, FsyncEverySec)
	w.s = s
	rw, err := s.BeginRewrite()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginRewrite(); !errors.Is(err, ErrRewriteRunning) {
		t.Fatalf("second rewrite: %v", err)
	}
	w.gen("k0", randTokens(rng, 9)) // during the rewrite
	s.Flush()
	for key, sess := range ks.DBs[0] {
		rw.Append(sess.Records(nil, []byte(key), testPageTokens))
	}
	if err := rw.Commit(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.BaseSize > 4000 {
		t.Errorf("base of %d bytes: it should hold tokens and hashes only", st.BaseSize)
	}
	live := map[rdb.PageKey]bool{}
	for _, toks := range w.tokens {
		for _, k := range s.PageKeys(toks) {
			live[k] = true
		}
	}
	n, err := s.Reclaim(func(k rdb.PageKey) bool { return live[k] })
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 || s.HasPage(deadKeys[0]) {
		t.Errorf("of %d segments, Reclaim dropped %d; the deleted session's first page still stored: %v", segsBefore, n, s.HasPage(deadKeys[0]))
	}
	s.Close()

	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if slices.Contains(names, "appendonly.aof.1.base.aof") || slices.Contains(names, "appendonly.aof.1.incr.aof") {
		t.Errorf("old base or log left: %v", names)
	}
	s, ks = open(t, dir, FsyncEverySec)
	defer s.Close()
	if len(ks.DBs[0]) != len(w.tokens) {
		t.Fatalf("%d sessions after rewrite, want %d", len(ks.DBs[0]), len(w.tokens))
	}
	for key, toks := range w.tokens {
		got := ks.DBs[0][key]
		if !slices.Equal(got.Tokens, toks) {
			t.Fatalf("session %s after rewrite: %d tokens, want %d", key, len(got.Tokens), len(toks))
		}
		for _, k := range s.PageKeys(toks) {
			if _, err := s.ReadPage(k); err != nil {
				t.Fatalf("session %s: %v", key, err)
			}
		}
	}
	if err := Check(dir, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

// TestRewriteCrash: a rewrite that never committed (the process died)
// leaves the old base and both logs listed; Open replays them all and
// removes the temp base.
func TestRewriteCrash(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncAlways)
	w := newWriter(t, s)
	w.gen("a", []int32{1, 2, 3})
	s.Flush()
	rw, err := s.BeginRewrite()
	if err != nil {
		t.Fatal(err)
	}
	rw.Append([]byte("*1\r\n$4\r\nPI")) // half written
	w.gen("a", []int32{4, 5})
	s.Flush()
	tmp := rw.tmp
	rw.w.Flush()
	// No Commit, no Close: as after kill -9.
	s2, ks := open(t, dir, FsyncAlways)
	defer s2.Close()
	if got := ks.DBs[0]["a"]; !slices.Equal(got.Tokens, []int32{1, 2, 3, 4, 5}) {
		t.Fatalf("after a crashed rewrite: %v", got.Tokens)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp base %s left: %v", tmp, err)
	}
}

// TestRewriteRateLimited: a rewrite paces its base writes.
func TestRewriteRateLimited(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Model: testModel, RewriteRate: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rw, err := s.BeginRewrite()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	chunk := rdb.AppendCommand(nil, []byte("SET"), []byte("k"), make([]byte, 64<<10))
	for i := 0; i < 8; i++ {
		rw.Append(chunk)
	}
	if err := rw.Commit(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("512 KiB at 1 MiB/s took %v", d)
	}
}

// TestCorruptFilesNeverWrong: 1,000 random corruptions of a store's
// files (bytes flipped, files cut): Open refuses with a corrupt error or
// opens; a session it opens is never different from the one written
// (a prefix of its appends, where a torn tail was cut). Never a panic.
func TestCorruptFilesNeverWrong(t *testing.T) {
	src := t.TempDir()
	s, _ := open(t, src, FsyncNo)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(8, 8))
	for i := 0; i < 40; i++ {
		w.gen(fmt.Sprintf("k%d", i%5), randTokens(rng, 1+rng.IntN(12)))
		s.Flush()
	}
	s.Close()
	ents, _ := os.ReadDir(src)
	files := map[string][]byte{}
	for _, e := range ents {
		files[e.Name()], _ = os.ReadFile(filepath.Join(src, e.Name()))
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	opened, refused := 0, 0
	for r := 0; r < rounds; r++ {
		dir := filepath.Join(t.TempDir(), "s")
		os.Mkdir(dir, 0o755)
		for n, b := range files {
			os.WriteFile(filepath.Join(dir, n), b, 0o644)
		}
		victim := names[rng.IntN(len(names))]
		b := slices.Clone(files[victim])
		switch rng.IntN(3) {
		case 0:
			for k := 0; k < 1+rng.IntN(3); k++ {
				if len(b) > 0 {
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
			}
		case 1:
			b = b[:rng.IntN(len(b)+1)]
		case 2:
			if len(b) > 0 {
				at := rng.IntN(len(b))
				b = append(b[:at:at], append(make([]byte, 1+rng.IntN(64)), b[at:]...)...)
			}
		}
		os.WriteFile(filepath.Join(dir, victim), b, 0o644)
		ks := NewKeyspace(testPageTokens)
		st, err := Open(Options{Dir: dir, Model: testModel, Fsync: FsyncNo}, ks.Apply)
		if err != nil {
			if !errors.Is(err, rdb.ErrCorrupt) && !errors.Is(err, rdb.ErrIncompatible) && !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no manifest") {
				t.Fatalf("round %d (%s): error of no known kind: %v", r, victim, err)
			}
			refused++
			continue
		}
		opened++
		for key, sess := range ks.DBs[0] {
			want := w.tokens[key]
			if len(sess.Tokens) > len(want) || !slices.Equal(sess.Tokens, want[:len(sess.Tokens)]) {
				t.Fatalf("round %d (%s): session %s replayed wrong tokens", r, victim, key)
			}
			for _, k := range st.PageKeys(sess.Tokens) {
				p, err := st.ReadPage(k)
				if err != nil {
					continue // missing or damaged: recomputed from tokens
				}
				i := int(p.Depth)
				if !bytes.Equal(p.Payload, page(sess.Tokens, i).Payload) {
					t.Fatalf("round %d (%s): session %s page %d: wrong bytes accepted", r, victim, key, i)
				}
			}
		}
		st.Close()
	}
	t.Logf("%d opened (repaired or untouched), %d refused", opened, refused)
}

// TestDiskFull: on a small tmpfs, writes fail with ENOSPC once it is
// full; the error is reported, nothing acknowledged is lost, and the
// store recovers by itself when space returns.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	// Most of the space goes to a filler, freed later.
	filler := filepath.Join(mnt, "filler")
	os.WriteFile(filler, make([]byte, 1<<20), 0o644)
	dir := filepath.Join(mnt, "store")
	s, _ := open(t, dir, FsyncAlways)
	defer func() { s.Close() }()
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(9, 9))
	acked := map[string]int{}
	var failed error
	for i := 0; i < 5000 && failed == nil; i++ {
		key := fmt.Sprintf("k%d", i%3)
		toks := randTokens(rng, 64)
		w.tokens[key] = append(w.tokens[key], toks...)
		// Pages may fail to be written: the tokens are logged anyway (the
		// pages are recomputed), so only the log decides what is acked.
		s.Append(rdb.AppendTokensRecord(nil, []byte(key), toks))
		if err := s.Flush(); err != nil {
			failed = err
			break
		}
		acked[key] = len(w.tokens[key])
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", failed)
	}
	if s.LastWriteError() == nil || !slices.Contains(s.Stats().Info(), "store_last_write_status:err") {
		t.Errorf("write status not err: %v %v", s.LastWriteError(), s.Stats().Info())
	}
	// Space returns: the buffered records go out with the next Flush.
	os.Remove(filler)
	if err := s.Flush(); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if s.LastWriteError() != nil {
		t.Errorf("write status still err: %v", s.LastWriteError())
	}
	s.Close()
	s, ks := open(t, dir, FsyncAlways)
	for key, n := range acked {
		got := ks.DBs[0][key]
		if got == nil || len(got.Tokens) < n || !slices.Equal(got.Tokens, w.tokens[key][:len(got.Tokens)]) {
			t.Fatalf("session %s: acknowledged %d tokens, replayed %v", key, n, got)
		}
	}
}

// TestReadRun: a session's pages come back in one run; the run ends at a
// page that is missing or damaged, and the damaged one leaves the index.
func TestReadRun(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncNo)
	w := newWriter(t, s)
	toks := randTokens(rand.New(rand.NewPCG(31, 31)), 10*testPageTokens)
	w.gen("k", toks)
	keys := s.PageKeys(toks)
	got, err := s.ReadRun(keys)
	if err != nil || len(got) != 10 {
		t.Fatalf("%d pages, %v", len(got), err)
	}
	for i, p := range got {
		if !bytes.Equal(p.Payload, page(toks, i).Payload) || p.Depth != uint32(i) {
			t.Fatalf("page %d differs", i)
		}
	}
	other := append(slices.Clone(toks[:4*testPageTokens]), randTokens(rand.New(rand.NewPCG(32, 32)), 2*testPageTokens)...)
	if got, _ := s.ReadRun(s.PageKeys(other)); len(got) != 4 {
		t.Errorf("a prompt sharing 4 pages: %d pages", len(got))
	}
	s.Close()
	// Damage page 6 (segments hold 8 KiB: find its record by scanning).
	man, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof.manifest"))
	mf, _ := rdb.ParseManifest(man, "m")
	damaged := false
	for _, seg := range mf.Of(rdb.ManifestSegment) {
		path := filepath.Join(dir, seg.Name)
		b, _ := os.ReadFile(path)
		rdb.ScanSegment(bytes.NewReader(b), int64(len(b)), seg.Name, false, func(off int64, h *rdb.PageHead) error {
			if h.PageKey == keys[6] {
				b[off+h.Size()-1] ^= 1
				damaged = true
			}
			return nil
		})
		os.WriteFile(path, b, 0o644)
	}
	if !damaged {
		t.Fatal("page 6 not found")
	}
	s, _ = open(t, dir, FsyncNo)
	defer s.Close()
	if got, err := s.ReadRun(keys); err != nil || len(got) != 6 {
		t.Fatalf("with page 6 damaged: %d pages, %v", len(got), err)
	}
	if s.HasPage(keys[6]) || s.Stats().PagesCorrupt != 1 {
		t.Error("the damaged page stays indexed")
	}
}

// TestRewriteReclaimKeepsPagesWrittenDuringIt: a page stored while a
// rewrite runs is named by the new log, not the base; Rewrite.Reclaim
// must keep its segment even when the base names none of its pages,
// and drop the sealed segments only dead keys' pages are in.
func TestRewriteReclaimKeepsPagesWrittenDuringIt(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncNo)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(3, 4))
	w.gen("dead", randTokens(rng, 40*testPageTokens)) // fills several 8 KiB segments
	deadKeys := s.PageKeys(w.tokens["dead"])
	s.Append(rdb.AppendCommand(nil, []byte("DEL"), []byte("dead")))
	s.Flush()
	rw, err := s.BeginRewrite()
	if err != nil {
		t.Fatal(err)
	}
	// Written while the rewrite runs: enough pages to seal segments.
	w.gen("during", randTokens(rng, 40*testPageTokens))
	duringKeys := s.PageKeys(w.tokens["during"])
	s.Flush()
	if err := rw.Commit(); err != nil {
		t.Fatal(err)
	}
	n, err := rw.Reclaim(func(rdb.PageKey) bool { return false }) // the base names no page
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no segment reclaimed: the dead key's sealed segments should go")
	}
	for _, k := range duringKeys {
		if _, err := s.ReadPage(k); err != nil {
			t.Fatalf("a page stored during the rewrite was reclaimed: %v", err)
		}
	}
	gone := 0
	for _, k := range deadKeys {
		if !s.HasPage(k) {
			gone++
		}
	}
	if gone == 0 {
		t.Error("every page of the deleted key is still stored")
	}
	s.Close()
}

// TestSegmentIndexes: a sealed segment gets an index file, and a reopen
// reads the indexes instead of every page header, finding every page; a
// damaged or stale index is not an error: that segment is scanned.
func TestSegmentIndexes(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, FsyncNo)
	w := newWriter(t, s)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 6; i++ {
		w.gen(fmt.Sprintf("k%d", i), randTokens(rng, 20*testPageTokens)) // several 8 KiB segments
	}
	var keys []rdb.PageKey
	for _, toks := range w.tokens {
		keys = append(keys, s.PageKeys(toks)...)
	}
	segs := s.Stats().Segments
	s.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "*.seg.idx"))
	if len(idx) != segs-1 || segs < 3 {
		t.Fatalf("%d index files for %d segments (the active one has none)", len(idx), segs)
	}
	check := func(what string, indexed, scanned int64) {
		t.Helper()
		s, _ := open(t, dir, FsyncNo)
		defer s.Close()
		st := s.Stats()
		if st.SegsIndexed != indexed || st.SegsScanned != scanned {
			t.Errorf("%s: %d segments indexed, %d scanned; want %d and %d", what, st.SegsIndexed, st.SegsScanned, indexed, scanned)
		}
		for _, k := range keys {
			if _, err := s.ReadPage(k); err != nil {
				t.Fatalf("%s: page %016x: %v", what, k.Hash, err)
			}
		}
	}
	check("indexed", int64(segs-1), 1)
	b, _ := os.ReadFile(idx[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(idx[0], b, 0o644)
	os.Remove(idx[1])
	check("one damaged, one missing", int64(segs-3), 3)
}

// FuzzParseSegIndex: any bytes are refused or give entries inside the
// segment, in order, never a panic.
func FuzzParseSegIndex(f *testing.F) {
	good := rdb.AppendSegIndex(nil, 7, 4096, []rdb.SegIndexEntryLoc{{PageKey: rdb.PageKey{Hash: 1, Fingerprint: 2, Kind: 1}, Off: 32, Size: 100}, {Off: 132, Size: 64}})
	f.Add(good)
	f.Add(good[:50])
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := rdb.ParseSegIndex(b, "f", 7, 4096)
		if err != nil {
			return
		}
		next := int64(rdb.SegmentHeader)
		for _, e := range es {
			if e.Off < next || e.Off+e.Size > 4096 {
				t.Fatalf("entry %+v outside the segment", e)
			}
			next = e.Off + e.Size
		}
	})
}
