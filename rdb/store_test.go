package rdb

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sampleLog is one record of every kind, as a store writes them.
func sampleLog() []byte {
	var b []byte
	b = ModelRecord(b, "llama", 0x0123456789abcdef, PageKVF16, 32)
	b = AppendCommand(b, []byte("SELECT"), []byte("0"))
	b = AppendCommand(b, []byte("SET"), []byte("k"), []byte("v\r\n\x00"))
	b = NewRecord(b, []byte("s"))
	b = AppendTokensRecord(b, []byte("s"), []int32{1, 2, 3, 70000})
	b = PagesRecord(b, []byte("s"), 0, []uint64{42, 43})
	b = RNGRecord(b, []byte("s"), 0xfeedface)
	b = LogitsRecord(b, []byte("s"), []float32{0.5, -1, 3})
	b = CkptRecord(b, []byte("s"), []byte("start"), 2, []byte{9, 9})
	b = TruncRecord(b, []byte("s"), 3)
	b = ForkRecord(b, []byte("s"), []byte("t"))
	b = AppendCommand(b, []byte("DEL"), []byte("t"))
	return b
}

func readAll(b []byte) ([]LogRecord, int64, error) {
	lr := NewLogReader(bytes.NewReader(b), "test.aof")
	var out []LogRecord
	for {
		r, err := lr.Next()
		if err == io.EOF {
			return out, lr.Offset(), nil
		}
		if err != nil {
			return out, lr.Offset(), err
		}
		r.Args = slices.Clone(r.Args)
		for i := range r.Args {
			r.Args[i] = slices.Clone(r.Args[i])
		}
		out = append(out, r)
	}
}

func TestLogRoundTrip(t *testing.T) {
	recs, _, err := readAll(sampleLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 12 {
		t.Fatalf("%d records, want 12", len(recs))
	}
	var ops []SessionOp
	for i := range recs {
		if !recs[i].IsSession() {
			continue
		}
		op, err := DecodeSessionOp(&recs[i], "test.aof")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if string(recs[2].Args[2]) != "v\r\n\x00" {
		t.Errorf("SET value %q", recs[2].Args[2])
	}
	m := ops[0]
	if m.Arch != "llama" || m.Fingerprint != 0x0123456789abcdef || m.PageKind != PageKVF16 || m.PageTokens != 32 {
		t.Errorf("model record %+v", m)
	}
	if !slices.Equal(ops[2].Tokens, []int32{1, 2, 3, 70000}) {
		t.Errorf("tokens %v", ops[2].Tokens)
	}
	if ops[3].First != 0 || !slices.Equal(ops[3].Hashes, []uint64{42, 43}) {
		t.Errorf("pages %+v", ops[3])
	}
	if ops[4].RNG != 0xfeedface || !slices.Equal(ops[5].Logits, []float32{0.5, -1, 3}) {
		t.Errorf("rng %x logits %v", ops[4].RNG, ops[5].Logits)
	}
	if string(ops[6].Name) != "start" || ops[6].Pos != 2 || !bytes.Equal(ops[6].Blob, []byte{9, 9}) {
		t.Errorf("ckpt %+v", ops[6])
	}
	if ops[7].Pos != 3 || string(ops[8].Key) != "s" || string(ops[8].Dst) != "t" {
		t.Errorf("trunc %+v fork %+v", ops[7], ops[8])
	}
}

// TestLogTornTail: every cut of the log inside a record is reported as
// torn at that record's start; cuts between records read cleanly.
func TestLogTornTail(t *testing.T) {
	full := sampleLog()
	recs, _, _ := readAll(full)
	bounds := map[int64]bool{0: true}
	for _, r := range recs {
		bounds[r.Offset+r.Size] = true
	}
	for cut := 0; cut < len(full); cut++ {
		got, valid, err := readAll(full[:cut])
		if bounds[int64(cut)] {
			if err != nil || valid != int64(cut) {
				t.Fatalf("cut at record boundary %d: valid %d, %v", cut, valid, err)
			}
			continue
		}
		if !errors.Is(err, ErrTorn) {
			t.Fatalf("cut at %d: %v, want torn", cut, err)
		}
		want := recs[len(got)].Offset
		if valid != want {
			t.Fatalf("cut at %d: valid prefix %d, want %d", cut, valid, want)
		}
	}
	// A zero-filled tail is torn; zeros then data are not.
	if _, valid, err := readAll(append(slices.Clone(full), make([]byte, 5000)...)); !errors.Is(err, ErrTorn) || valid != int64(len(full)) {
		t.Errorf("zero tail: valid %d, %v", valid, err)
	}
	z := append(append(slices.Clone(full), make([]byte, 10)...), '*')
	if _, _, err := readAll(z); !errors.Is(err, ErrCorrupt) {
		t.Errorf("zeros then data: %v, want corrupt", err)
	}
}

// TestLogDamage: a flipped byte in a session record before the tail is
// corruption with the record's offset; in the last record, torn.
func TestLogDamage(t *testing.T) {
	full := sampleLog()
	recs, _, _ := readAll(full)
	rec := recs[4] // RDW.APPEND, not last
	bad := slices.Clone(full)
	bad[rec.Offset+rec.Size-27] ^= 1 // the last token byte
	_, valid, err := readAll(bad)
	if !errors.Is(err, ErrCorrupt) || valid != rec.Offset {
		t.Fatalf("damaged middle record: valid %d, %v", valid, err)
	}
	if !strings.Contains(err.Error(), "test.aof") || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("error %q should name the file and the reason", err)
	}
	last := recs[len(recs)-2] // RDW.FORK; the DEL after it is a Redis command
	cut := slices.Clone(full[:last.Offset+last.Size])
	cut[len(cut)-5] ^= 1 // a checksum digit
	if _, valid, err := readAll(cut); !errors.Is(err, ErrTorn) || valid != last.Offset {
		t.Errorf("damaged last record: valid %d, %v", valid, err)
	}
}

func TestSessionOpRefusals(t *testing.T) {
	for _, rec := range [][]byte{
		AppendSessionRecord(nil, OpAppend, []byte("k"), []byte{1, 2, 3}),
		AppendSessionRecord(nil, OpAppend, []byte("k")),
		AppendSessionRecord(nil, OpPages, []byte("k"), []byte("-1"), make([]byte, 8)),
		AppendSessionRecord(nil, OpTrunc, []byte("k"), []byte("99999999999")),
		AppendSessionRecord(nil, OpModel, []byte("llama"), []byte("xyz"), []byte("1"), []byte("32")),
		AppendSessionRecord(nil, OpModel, []byte("llama"), hex64(1), []byte("1"), []byte("0")),
		AppendSessionRecord(nil, "RDW.NOPE", []byte("k")),
	} {
		recs, _, err := readAll(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSessionOp(&recs[0], "x"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v, want corrupt", rec, err)
		}
	}
}

// FuzzLog: any input gives records, a clean end, torn or corrupt — never
// a panic — and what it accepts re-encodes to the same bytes.
func FuzzLog(f *testing.F) {
	f.Add(sampleLog())
	f.Add([]byte("*1\r\n$4\r\nPING\r\n"))
	f.Add([]byte("#TS:1\r\n*1\r\n$-1\r\n"))
	f.Add([]byte("*2\r\n$9999999999\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr := NewLogReader(bytes.NewReader(b), "fuzz")
		for {
			r, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is neither torn nor corrupt", err)
				}
				if lr.Offset() > int64(len(b)) {
					t.Fatalf("valid prefix %d past the input's %d bytes", lr.Offset(), len(b))
				}
				return
			}
			var again []byte
			if r.IsSession() {
				op, err := DecodeSessionOp(&r, "fuzz")
				if err == nil && op.Op == OpAppend && len(op.Tokens) == 0 {
					t.Fatal("APPEND with no tokens accepted")
				}
				again = AppendSessionRecord(nil, string(r.Args[0]), r.Args[1:]...)
			} else {
				again = AppendCommand(nil, r.Args...)
			}
			if !bytes.Equal(again, b[r.Offset:r.Offset+r.Size]) {
				t.Fatalf("record at %d does not re-encode to its bytes", r.Offset)
			}
		}
	})
}

func samplePage(rng *rand.Rand, parent uint64, depth uint32) *PageRecord {
	toks := make([]int32, 32)
	for i := range toks {
		toks[i] = rng.Int32N(32000)
	}
	payload := make([]byte, 1000+rng.IntN(100))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	return &PageRecord{PageKey: PageKey{Hash: ChainHash(parent, toks), Fingerprint: 7, Kind: PageKVF16}, Parent: parent, Depth: depth, Tokens: toks, Payload: payload}
}

func sampleSegment(n int) ([]byte, []*PageRecord) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := AppendSegmentHeader(nil, 3, 32)
	var pages []*PageRecord
	parent := uint64(0)
	for i := 0; i < n; i++ {
		p := samplePage(rng, parent, uint32(i))
		parent = p.Hash
		pages = append(pages, p)
		b = AppendPageRecord(b, p)
	}
	return b, pages
}

func scan(b []byte, tail bool) ([]int64, int64, error) {
	var offs []int64
	valid, err := ScanSegment(bytes.NewReader(b), int64(len(b)), "pages.3.seg", tail, func(off int64, h *PageHead) error {
		body := b[off+PageHeader : off+h.Size()]
		if _, _, err := DecodePageBody(h, body, "pages.3.seg", off); err != nil {
			return err
		}
		offs = append(offs, off)
		return nil
	})
	return offs, valid, err
}

func TestSegmentRoundTrip(t *testing.T) {
	b, pages := sampleSegment(5)
	if seq, pt, err := ParseSegmentHeader(b, "x"); err != nil || seq != 3 || pt != 32 {
		t.Fatalf("header: seq %d tokens %d %v", seq, pt, err)
	}
	offs, valid, err := scan(b, false)
	if err != nil || valid != int64(len(b)) || len(offs) != 5 {
		t.Fatalf("scan: %d records, valid %d, %v", len(offs), valid, err)
	}
	for i, off := range offs {
		h, _ := ParsePageHead(b[off:], "x", off)
		toks, payload, err := DecodePageBody(&h, b[off+PageHeader:off+h.Size()], "x", off)
		if err != nil || !slices.Equal(toks, pages[i].Tokens) || !bytes.Equal(payload, pages[i].Payload) || h.PageKey != pages[i].PageKey || h.Depth != uint32(i) {
			t.Fatalf("page %d: %v", i, err)
		}
	}
}

// TestSegmentTornTail: every cut of the active segment is torn at the
// start of the cut record; the same cut in a sealed segment is corrupt.
func TestSegmentTornTail(t *testing.T) {
	b, _ := sampleSegment(3)
	offs, _, _ := scan(b, false)
	for cut := SegmentHeader; cut < len(b); cut += 7 {
		if slices.Contains(offs, int64(cut)) {
			continue
		}
		_, valid, err := scan(b[:cut], true)
		if !errors.Is(err, ErrTorn) {
			t.Fatalf("cut %d: %v, want torn", cut, err)
		}
		if valid > int64(cut) || !slices.Contains(offs, valid) {
			t.Fatalf("cut %d: valid %d is not a record start", cut, valid)
		}
		if _, _, err := scan(b[:cut], false); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("sealed segment cut at %d: %v, want corrupt", cut, err)
		}
	}
	// The last record's body damaged: torn in the active segment.
	bad := slices.Clone(b)
	bad[len(bad)-3] ^= 0x40
	if _, valid, err := scan(bad, true); !errors.Is(err, ErrTorn) || valid != offs[2] {
		t.Errorf("damaged last body: valid %d, %v", valid, err)
	}
	// A middle header damaged: corrupt even in the active segment.
	bad = slices.Clone(b)
	bad[offs[1]+10] ^= 1
	if _, valid, err := scan(bad, true); !errors.Is(err, ErrCorrupt) || valid != offs[1] {
		t.Errorf("damaged middle header: valid %d, %v", valid, err)
	}
	// A middle body damaged: the scan (headers only) passes, the read fails.
	bad = slices.Clone(b)
	bad[offs[1]+PageHeader+200] ^= 1
	h, _ := ParsePageHead(bad[offs[1]:], "x", offs[1])
	if _, _, err := DecodePageBody(&h, bad[offs[1]+PageHeader:offs[1]+h.Size()], "x", offs[1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged body read: %v", err)
	}
}

// TestPageChainChecked: a record whose tokens don't chain to its hash is
// refused even with valid checksums (a page filed under the wrong key).
func TestPageChainChecked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := samplePage(rng, 0, 0)
	p.Hash++
	b := AppendPageRecord(nil, p)
	h, err := ParsePageHead(b, "x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodePageBody(&h, b[PageHeader:], "x", 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "chain") {
		t.Errorf("mis-keyed page: %v", err)
	}
}

// FuzzSegment: any bytes scan to records, torn or corrupt, never a panic,
// and a valid prefix that never exceeds the input.
func FuzzSegment(f *testing.F) {
	b, _ := sampleSegment(2)
	f.Add(b)
	f.Add(b[:len(b)-5])
	f.Add(AppendSegmentHeader(nil, 1, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Both readings of the same bytes: as the active segment and as
		// a sealed one.
		for _, tail := range []bool{true, false} {
			fuzzScan(t, b, tail)
		}
	})
}

func fuzzScan(t *testing.T, b []byte, tail bool) {
	_, valid, err := scan(b, tail)
	if err != nil && !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v is neither torn nor corrupt", err)
	}
	if errors.Is(err, ErrTorn) && !tail {
		t.Fatal("torn reported for a sealed segment")
	}
	if valid > int64(len(b)) {
		t.Fatalf("valid %d past %d bytes", valid, len(b))
	}
}

func TestManifest(t *testing.T) {
	m := &Manifest{Files: []ManifestFile{
		{"pages.1.seg", 1, ManifestSegment},
		{"appendonly.aof.2.incr.aof", 2, ManifestIncr},
		{"appendonly.aof.1.base.aof", 1, ManifestBase},
		{"appendonly.aof.3.incr.aof", 3, ManifestIncr},
	}}
	b := m.Bytes()
	want := "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\nfile pages.1.seg seq 1 type s\n"
	if string(b) != want {
		t.Fatalf("manifest:\n%s\nwant\n%s", b, want)
	}
	got, err := ParseManifest(append([]byte("# comment\n\n"), b...), "m")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), b) {
		t.Errorf("round trip:\n%s", got.Bytes())
	}
	for _, bad := range []string{
		"file ../x seq 1 type i\n",
		"file a seq 1 type i\nfile b seq 1 type i\n",
		"file a seq 1 type b\nfile b seq 2 type b\n",
		"file a seq 1 type h\n",
		"file a seq 0 type i\n",
		"file a seq 1\n",
		"file a seq 1 type i\nfile a seq 2 type i\n",
		"file a seq 1 type i color red\n",
	} {
		if _, err := ParseManifest([]byte(bad), "m"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v, want corrupt", bad, err)
		}
	}
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte("file appendonly.aof.1.base.aof seq 1 type b\nfile pages.1.seg seq 1 type s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not corrupt", err)
			}
			return
		}
		again, err := ParseManifest(m.Bytes(), "again")
		if err != nil || len(again.Files) != len(m.Files) {
			t.Fatalf("accepted manifest does not round-trip: %v", err)
		}
		for _, f := range m.Files {
			if !safeName(f.Name) {
				t.Fatalf("unsafe name %q accepted", f.Name)
			}
		}
	})
}
