package rdb

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// fileWriter buffers writes to a snapshot file in 4 MiB blocks aligned
// for O_DIRECT; Flush writes the aligned part directly and the tail (less
// than one block) after turning O_DIRECT off. Without O_DIRECT it is a
// plain buffered writer.
type fileWriter struct {
	f      *os.File
	direct bool
	buf    []byte // len = capacity in use; aligned start
	n      int
	err    error
}

const fileBufSize = 4 << 20

func newFileWriter(f *os.File, direct bool) *fileWriter {
	raw := make([]byte, fileBufSize+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % directAlign); r != 0 {
		off = directAlign - r
	}
	return &fileWriter{f: f, direct: direct, buf: raw[off : off+fileBufSize]}
}

func (w *fileWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		c := copy(w.buf[w.n:], p)
		w.n += c
		written += c
		p = p[c:]
		if w.n == len(w.buf) {
			w.writeOut(w.buf)
			w.n = 0
		}
	}
	return written, w.err
}

func (w *fileWriter) writeOut(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.f.Write(b)
	if err != nil && n == 0 && w.direct && errors.Is(err, syscall.EINVAL) {
		// The file system took O_DIRECT at open but not on write.
		if w.err = clearDirect(w.f); w.err == nil {
			w.direct = false
			_, err = w.f.Write(b)
		}
	}
	if w.err == nil {
		w.err = err
	}
}

// Flush writes what is buffered. After a Flush with an unaligned tail the
// file is no longer direct; only call it at the end.
func (w *fileWriter) Flush() error {
	if w.err != nil || w.n == 0 {
		return w.err
	}
	b := w.buf[:w.n]
	if w.direct {
		aligned := w.n &^ (directAlign - 1)
		w.writeOut(b[:aligned])
		b = b[aligned:]
		if len(b) > 0 && w.err == nil {
			w.err = clearDirect(w.f)
			w.direct = false
		}
	}
	if len(b) > 0 {
		w.writeOut(b)
	}
	w.n = 0
	return w.err
}

var _ io.Writer = (*fileWriter)(nil)
