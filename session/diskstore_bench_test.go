package session

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"reddwarf/infer"
	"reddwarf/models"
	"reddwarf/persist/store"
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
