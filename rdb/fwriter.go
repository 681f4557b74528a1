package rdb

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// fileWriter buffers writes to a snapshot file in 4 MiB blocks aligned
// for O_DIRECT and hands full blocks to a goroutine that writes them, so
// encoding the next block overlaps writing the last (two blocks in
// flight at most). Flush writes the aligned part of the last block
// directly and the tail (less than 4 KiB) after turning O_DIRECT off.
// Without O_DIRECT it is a plain double-buffered writer.
type fileWriter struct {
	f      *os.File
	direct bool
	buf    []byte // the block being filled
	n      int
	free   chan []byte // empty blocks
	full   chan []byte // blocks to write
	done   chan error  // the writer goroutine's first error, at exit
	err    error
}

const fileBufSize = 4 << 20

func alignedBlock() []byte {
	raw := make([]byte, fileBufSize+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % directAlign); r != 0 {
		off = directAlign - r
	}
	return raw[off : off+fileBufSize]
}

func newFileWriter(f *os.File, direct bool) *fileWriter {
	w := &fileWriter{f: f, direct: direct, free: make(chan []byte, 2), full: make(chan []byte, 2), done: make(chan error, 1)}
	w.free <- alignedBlock()
	w.buf = alignedBlock()
	go w.writeLoop()
	return w
}

// writeLoop writes full blocks in order until full is closed.
func (w *fileWriter) writeLoop() {
	var err error
	for b := range w.full {
		if err == nil {
			err = w.writeOut(b)
		}
		w.free <- b[:cap(b)]
	}
	w.done <- err
}

func (w *fileWriter) writeOut(b []byte) error {
	n, err := w.f.Write(b)
	if err != nil && n == 0 && w.direct && errors.Is(err, syscall.EINVAL) {
		// The file system took O_DIRECT at open but not on write.
		if err = clearDirect(w.f); err == nil {
			w.direct = false
			_, err = w.f.Write(b)
		}
	}
	return err
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
			w.full <- w.buf
			w.buf = <-w.free
			w.n = 0
		}
	}
	return written, w.err
}

// Flush writes everything and stops the writer goroutine; the writer
// cannot be used afterwards.
func (w *fileWriter) Flush() error {
	close(w.full)
	if err := <-w.done; err != nil && w.err == nil {
		w.err = err
	}
	if w.err != nil || w.n == 0 {
		return w.err
	}
	b := w.buf[:w.n]
	if w.direct {
		aligned := w.n &^ (directAlign - 1)
		if aligned > 0 {
			w.err = w.writeOut(b[:aligned])
		}
		b = b[aligned:]
		if len(b) > 0 && w.err == nil && w.direct {
			w.err = clearDirect(w.f)
			w.direct = false
		}
	}
	if len(b) > 0 && w.err == nil {
		w.err = w.writeOut(b)
	}
	w.n = 0
	return w.err
}

// Close stops the writer goroutine without writing the rest (abort).
func (w *fileWriter) Close() {
	defer func() { recover() }() // already flushed: full is closed
	close(w.full)
	<-w.done
}

var _ io.Writer = (*fileWriter)(nil)
