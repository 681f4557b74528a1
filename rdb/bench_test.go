package rdb

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSnapshotWrite writes 256 MiB of 1 MiB strings through the
// snapshot writer (temp file, fsync, rename, fsync dir).
func BenchmarkSnapshotWrite(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("RDB_BENCH_DIR"); d != "" {
		dir = d
	}
	val := make([]byte, 1<<20)
	for i := range val {
		val[i] = byte(i * 7)
	}
	b.SetBytes(256 << 20)
	for b.Loop() {
		w, err := CreateSnapshot(filepath.Join(dir, "bench.dsv4"))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 256; i++ {
			if err := w.String(0, "k", -1, val); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotRead opens the file BenchmarkSnapshotWrite's layout
// makes and reads every value (checksums verified).
func BenchmarkSnapshotRead(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("RDB_BENCH_DIR"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, "bench.dsv4")
	w, _ := CreateSnapshot(path)
	val := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		w.String(0, "k", -1, val)
	}
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(256 << 20)
	for b.Loop() {
		s, err := OpenSnapshot(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range s.Entries {
			if _, err := s.ReadRecord(e); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
}
