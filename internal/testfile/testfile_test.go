package testfile

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.gguf")
	if got := Path(t, plain); got != plain {
		t.Fatalf("plain path: got %q", got)
	}
	want := []byte("GGUF and some bytes")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(want)
	zw.Close()
	gz := filepath.Join(dir, "b.gguf.gz")
	if err := os.WriteFile(gz, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Path(t, gz)
	if filepath.Base(got) != "b.gguf" {
		t.Fatalf("unpacked name %q", got)
	}
	data, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("unpacked %q, %v; want %q", data, err, want)
	}
}
