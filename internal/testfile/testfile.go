// Package testfile gives tests the path of a test data file that the
// repository keeps gzipped. Large vocabulary GGUFs compress to a third of
// their size; the whole checkout travels to a lent GPU machine under a
// size limit, so the biggest ones are stored as FILE.gz and unpacked into
// the test's temporary directory when a test opens them.
package testfile

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Path returns path itself, or for a path ending in ".gz" the path of its
// unpacked copy in tb's temporary directory (removed with it).
func Path(tb testing.TB, path string) string {
	tb.Helper()
	if !strings.HasSuffix(path, ".gz") {
		return path
	}
	in, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	dst := filepath.Join(tb.TempDir(), strings.TrimSuffix(filepath.Base(path), ".gz"))
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		tb.Fatalf("%s: %v", path, err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return dst
}
