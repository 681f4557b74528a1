package gguf

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open maps the file read-only and parses it. Tensor data is not read until
// used; the mapping lives until Close.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size < 24 {
		return nil, fmt.Errorf("gguf: %s: %d bytes is too small for a GGUF header: %w", path, size, ErrTruncated)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("gguf: %s: %d bytes: %w", path, size, ErrTooLarge)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: mmap %s: %w", path, err)
	}
	f := &File{data: data, Size: uint64(size)}
	if err := f.parse(); err != nil {
		unix.Munmap(data)
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f.unmap = func() error { return unix.Munmap(data) }
	return f, nil
}
