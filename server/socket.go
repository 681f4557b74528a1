package server

import (
	"io"

	"golang.org/x/sys/unix"
)

// Non-blocking socket I/O on a raw descriptor, shared by the loop's own
// poller (poller_linux.go) and the RawConn callbacks of the goroutine path.

// readSocket is one non-blocking read: the bytes read, or an error (io.EOF
// at the end of the stream); 0, nil when the socket had nothing (EAGAIN).
func readSocket(fd int, b []byte) (int, error) {
	for {
		n, err := nbRead(fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// writeSocket writes as much of b as the socket takes without blocking.
func writeSocket(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nbWrite(fd, b[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}
