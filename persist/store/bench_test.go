package store

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"reddwarf/rdb"
)

// BenchmarkWriteAmplification: one 20,000-token session grown as a
// server grows it — GENs of 200 tokens, one RDW.APPEND per decode step,
// each page stored once when it fills, RDW.RNG at each GEN's end,
// appendfsync everysec — on real files. Reported beside it, in the same
// run: what rewriting the whole prefix every 10,000 tokens (a snapshot
// per 10,000 tokens) would write, and the disk's direct-I/O write
// bandwidth measured by dd.
//
//	write-amp          bytes the store wrote (its files' growth) ÷ KV bytes of the session
//	disk-amp           the same with the bytes the kernel sent to the disk (/proc/self/io write_bytes)
//	prefix-rewrite-amp the whole-prefix-rewrite figure
//
// KV bytes per token by shape (f16 cache, 32-token pages): 1b (Llama
// 3.2 1B: 16 layers × 2 × 8 KV heads × 64) 32 KiB; tiny (4 × 2 × 4 × 32)
// 2 KiB; stories260K (5 × 2 × 4 × 8) 640 B, the worst case for the
// per-token log records.
func BenchmarkWriteAmplification(b *testing.B) {
	for _, shape := range []struct {
		name       string
		kvPerToken int
	}{{"1b", 32 << 10}, {"tiny", 2 << 10}, {"stories260K", 640}} {
		b.Run(shape.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				writeAmp(b, shape.kvPerToken)
			}
		})
	}
	b.Run("dd-direct", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.ReportMetric(ddWrite(b, b.TempDir()), "MB/s")
		}
	})
}

func writeAmp(b *testing.B, kvPerToken int) {
	const tokens, gen, pageTokens = 20000, 200, 32
	dir := b.TempDir()
	model := Model{Arch: "llama", Fingerprint: 1, PageKind: rdb.PageKVF16, PageTokens: pageTokens}
	s, err := Open(Options{Dir: dir, Fsync: FsyncEverySec, Model: model}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sizeBefore := dirSize(b, dir)
	ioBefore := procWriteBytes(b)
	rng := rand.New(rand.NewPCG(1, 2))
	key := []byte("session")
	toks := make([]int32, 0, tokens)
	payload := make([]byte, kvPerToken*pageTokens)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	start := time.Now()
	parent, stored := uint64(0), 0
	for len(toks) < tokens {
		for g := 0; g < gen && len(toks) < tokens; g++ {
			t := rng.Int32N(32000)
			toks = append(toks, t)
			rec := rdb.AppendTokensRecord(nil, key, []int32{t})
			if len(toks)%pageTokens == 0 {
				page := toks[len(toks)-pageTokens:]
				h := rdb.ChainHash(parent, page)
				payload[0], payload[1] = byte(stored), byte(stored>>8) // each page distinct
				if _, err := s.PutPage(&rdb.PageRecord{PageKey: rdb.PageKey{Hash: h, Fingerprint: 1, Kind: rdb.PageKVF16}, Parent: parent, Depth: uint32(stored), Tokens: page, Payload: payload}); err != nil {
					b.Fatal(err)
				}
				rec = rdb.PagesRecord(rec, key, stored, []uint64{h})
				parent = h
				stored++
			}
			s.Append(rec)
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		s.Append(rdb.RNGRecord(nil, key, uint64(len(toks))))
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	written := dirSize(b, dir) - sizeBefore
	disk := procWriteBytes(b) - ioBefore
	kv := float64(kvPerToken) * tokens
	// A DSV4 state of n tokens is about n × (KV per token + 4 bytes of id).
	prefix := float64(kvPerToken+4) * (10000 + 20000)
	b.ReportMetric(float64(written)/kv, "write-amp")
	b.ReportMetric(float64(disk)/kv, "disk-amp")
	b.ReportMetric(prefix/kv, "prefix-rewrite-amp")
	b.ReportMetric(float64(written)/1e6/elapsed.Seconds(), "MB/s")
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err == nil {
			n += fi.Size()
		}
	}
	return n
}

// procWriteBytes is the bytes this process has caused to be sent to the
// storage layer (Linux; 0 elsewhere).
func procWriteBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// ddWrite measures the disk's direct-I/O write bandwidth in dir (MB/s).
func ddWrite(b *testing.B, dir string) float64 {
	out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "dd"), "bs=4M", "count=128", "oflag=direct", "conv=fsync").CombinedOutput()
	if err != nil {
		b.Skipf("dd: %v: %s", err, out)
	}
	m := regexp.MustCompile(`(\d+) bytes .* copied, ([0-9.]+) s`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("dd output %q", out)
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	sec, _ := strconv.ParseFloat(string(m[2]), 64)
	return n / 1e6 / sec
}
