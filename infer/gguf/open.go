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

// Release tells the kernel that t's mapped bytes won't be read again soon
// (madvise MADV_DONTNEED over the whole pages inside the tensor), for a
// tensor the caller has copied elsewhere, such as weights repacked at load:
// its pages leave the process's resident set instead of staying there
// beside the copy. Reading the tensor afterwards still works (the pages
// fault back in from the file). It does nothing for a File from Parse.
func (f *File) Release(t *TensorInfo) {
	if f.unmap == nil {
		return
	}
	page := uint64(os.Getpagesize())
	start := (f.DataOffset + t.Offset + page - 1) / page * page
	end := (f.DataOffset + t.Offset + t.Size) / page * page
	if start < end {
		// Advice only: on failure the pages just stay resident.
		_ = unix.Madvise(f.data[start:end], unix.MADV_DONTNEED)
	}
}
