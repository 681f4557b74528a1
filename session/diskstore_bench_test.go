package session

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/persist/store"
	"reddwarf/rdb"
)

// BenchmarkRestartPrefix: time to first token, after a restart, of a
// 4,000-token prompt whose first 3,968 tokens were computed before it
// (their pages in the store, dropped from the page cache so they come
// from the disk), beside the same prompt prefilled cold, in the same run;
// with the store's open time, its page-read bandwidth, and dd's direct
// read bandwidth on the same disk. REDDWARF_BENCH_MODEL picks the model
// (bench_test.go); the default is stories260K.
//
//	go test ./session -run '^$' -bench RestartPrefix -benchtime 3x
func BenchmarkRestartPrefix(b *testing.B) {
	opt := infer.Options{Ctx: 4096}
	var m *infer.Model
	var err error
	if path := os.Getenv("REDDWARF_BENCH_MODEL"); path != "" {
		m, err = infer.Open(path, opt)
	} else {
		m, err = infer.OpenBytes("stories260K", models.Stories260K, opt)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	sm, err := StoreModel(m)
	if err != nil {
		b.Fatal(err)
	}
	prompt := make([]int32, 4000)
	for i := range prompt {
		prompt[i] = int32(1 + (i*7919)%(m.Vocab()-1))
	}
	const stored = 3968
	dir := b.TempDir()
	ds, err := store.Open(store.Options{Dir: dir, Model: sm}, nil)
	if err != nil {
		b.Fatal(err)
	}
	before := m.NewState()
	if err := m.Step([]infer.Seq{{State: before, Tokens: prompt[:stored]}}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := StorePages(ds, sm, nil, []byte("before"), before, 0); err != nil {
		b.Fatal(err)
	}
	before.Release()
	if err := ds.Close(); err != nil {
		b.Fatal(err)
	}

	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			start := time.Now()
			st := m.NewState()
			if err := m.Step([]infer.Seq{{State: st, Tokens: prompt}}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-first-token")
			st.Release()
		}
	})
	b.Run("stored", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dropCache(b, dir)
			start := time.Now()
			ds, err := store.Open(store.Options{Dir: dir, Model: sm}, nil)
			if err != nil {
				b.Fatal(err)
			}
			opened := time.Since(start)
			st, n, err := LookupStored(m, ds, prompt, len(prompt)-1)
			if err != nil || n != stored {
				b.Fatalf("%d tokens from the store, want %d: %v", n, stored, err)
			}
			read := time.Since(start) - opened
			if err := m.Step([]infer.Seq{{State: st, Tokens: prompt[n:]}}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-first-token")
			b.ReportMetric(float64(opened.Microseconds())/1000, "ms-open")
			b.ReportMetric(float64(ds.Stats().PageReadBytes)/1e6/read.Seconds(), "restore-MB/s")
			st.Release()
			ds.Close()
		}
	})
	// The page reads alone, from the disk: what the store's reads cost
	// beside dd's, without the checksums and the copy into the state.
	b.Run("page-reads", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dropCache(b, dir)
			ds, err := store.Open(store.Options{Dir: dir, Model: sm}, nil)
			if err != nil {
				b.Fatal(err)
			}
			keys := ds.PageKeys(prompt[:stored])
			start := time.Now()
			pages, err := ds.ReadRun(keys)
			if err != nil || len(pages) != len(keys) {
				b.Fatalf("%d of %d pages: %v", len(pages), len(keys), err)
			}
			b.ReportMetric(float64(ds.Stats().PageReadBytes)/1e6/time.Since(start).Seconds(), "MB/s")
			ds.Close()
		}
	})
	b.Run("dd-direct-read", func(b *testing.B) {
		f := filepath.Join(b.TempDir(), "dd")
		if out, err := exec.Command("dd", "if=/dev/urandom", "of="+f, "bs=4M", "count=64", "conv=fsync").CombinedOutput(); err != nil {
			b.Skipf("dd: %v: %s", err, out)
		}
		for i := 0; i < b.N; i++ {
			out, err := exec.Command("dd", "if="+f, "of=/dev/null", "bs=4M", "iflag=direct").CombinedOutput()
			if err != nil {
				b.Skipf("dd: %v: %s", err, out)
			}
			m := regexp.MustCompile(`(\d+) bytes .* copied, ([0-9.]+) s`).FindSubmatch(out)
			if m == nil {
				b.Fatalf("dd output %q", out)
			}
			n, _ := strconv.ParseFloat(string(m[1]), 64)
			sec, _ := strconv.ParseFloat(string(m[2]), 64)
			b.ReportMetric(n/1e6/sec, "MB/s")
		}
	})
}

// dropCache asks the kernel to forget the cached pages of the files in
// dir (POSIX_FADV_DONTNEED on clean, fsynced files), so the next reads
// come from the disk without dropping anyone else's cache.
func dropCache(b *testing.B, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	const fadvDontNeed = 4
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
		f.Close()
	}
}

// BenchmarkStoreDecode: 8 sessions decoding together (one batched step
// per token, as the engine runs concurrent GENs), each step's tokens and
// newly full pages logged to the store and flushed, as the server will
// do before its replies leave — with appendfsync everysec and always,
// beside the same decode with no store, in the same run. tokens/s is
// the figure; the store's cost is the ratio to "no-store".
func BenchmarkStoreDecode(b *testing.B) {
	opt := infer.Options{Ctx: 4096}
	var m *infer.Model
	var err error
	if path := os.Getenv("REDDWARF_BENCH_MODEL"); path != "" {
		m, err = infer.Open(path, opt)
	} else {
		m, err = infer.OpenBytes("stories260K", models.Stories260K, opt)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	sm, err := StoreModel(m)
	if err != nil {
		b.Fatal(err)
	}
	const sessions, steps = 8, 256
	// decode runs one round and returns its tokens/s.
	decode := func(b *testing.B, fsync store.Fsync, logged bool) float64 {
		var ds *store.Store
		if logged {
			if ds, err = store.Open(store.Options{Dir: b.TempDir(), Fsync: fsync, Model: sm}, nil); err != nil {
				b.Fatal(err)
			}
			defer ds.Close()
		}
		states := make([]*infer.State, sessions)
		stored := make([]int, sessions)
		batch := make([]infer.Seq, sessions)
		for j := range states {
			states[j] = m.NewState()
			defer states[j].Release()
			batch[j] = infer.Seq{State: states[j], Tokens: []int32{1, int32(10 + j)}}
		}
		start := time.Now()
		for step := 0; step < steps; step++ {
			if err := m.Step(batch); err != nil {
				b.Fatal(err)
			}
			for j, st := range states {
				if logged {
					key := []byte{'s', byte('0' + j)}
					rec := rdb.AppendTokensRecord(nil, key, batch[j].Tokens)
					if rec, stored[j], err = StorePages(ds, sm, rec, key, st, stored[j]); err != nil {
						b.Fatal(err)
					}
					ds.Append(rec)
				}
				batch[j].Tokens = []int32{infer.Argmax(st.Logits())}
			}
			if logged {
				if err := ds.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		return float64(sessions*steps) / time.Since(start).Seconds()
	}
	// The machine is shared: the three variants take turns, round after
	// round, and each reports its median, so a burst of load elsewhere
	// hits all three alike.
	const rounds = 7
	for i := 0; i < b.N; i++ {
		var none, every, always []float64
		for r := 0; r < rounds; r++ {
			none = append(none, decode(b, 0, false))
			every = append(every, decode(b, store.FsyncEverySec, true))
			always = append(always, decode(b, store.FsyncAlways, true))
		}
		n, e, a := median(none), median(every), median(always)
		b.ReportMetric(n, "no-store-tokens/s")
		b.ReportMetric(e, "everysec-tokens/s")
		b.ReportMetric(a, "always-tokens/s")
		b.ReportMetric(e/n, "everysec/no-store")
		b.ReportMetric(a/n, "always/no-store")
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
