package rdb

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errNoOpenat2 says openat2 cannot be used here: the caller falls back to
// opening component by component without following symlinks.
var errNoOpenat2 = errors.New("openat2 unavailable")

// openat2 opens name beneath the directory at (RESOLVE_BENEATH), magic
// links (/proc/self/fd/N) refused.
func openat2(at int, name string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(at, name, &how)
		switch err {
		case nil:
			return fd, nil
		case unix.EINTR, unix.EAGAIN:
			continue // EAGAIN: a rename raced the lookup; the kernel asks for a retry
		case unix.ENOSYS, unix.EPERM:
			return -1, errNoOpenat2 // an old kernel, or a seccomp filter
		}
		return -1, err
	}
}
