package rdb

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Files a client names (SAVE key file, LOAD key file) must stay inside a
// directory. Checking a path string first and opening it afterwards is a
// race: between the two, any component may be replaced by a symlink that
// leads out. So nothing here opens a path string. The directory is opened
// once, and every component below it is opened relative to its parent's
// descriptor with the kernel refusing to leave the directory:
//
//   - openat2(2) with RESOLVE_BENEATH (Linux 5.6+): a symlink may be
//     followed only if it resolves beneath the directory it is opened from;
//     absolute symlinks and ".." past it fail with EXDEV.
//   - elsewhere (or where openat2 is refused: old kernels, seccomp), each
//     component is opened with O_NOFOLLOW: no symlink at all is followed.
//
// A file is written as atomic.go says, with every step on the same parent
// descriptor: the temp file is created beside the final name (never in
// another directory, whatever the name), renamed with renameat(2), and the
// descriptor is fsynced. A file is read only if it is a regular file (a
// FIFO would block the server, a directory is no state).

// ErrPathEscapes is returned for a name that is absolute, has a ".."
// element, names the directory itself, or reaches outside it through a
// symlink when opened.
var ErrPathEscapes = errors.New("path escapes the data directory")

// ErrNotRegular is returned by ReadFileIn for a name that is not a
// regular file.
var ErrNotRegular = errors.New("not a regular file")

// CheckName returns the error ReadFileIn and WriteFileAtomicIn give for a
// name that is wrong as written (absolute, "..", the directory itself),
// so a command can refuse it before doing anything.
func CheckName(name string) error {
	_, err := splitName(name)
	return err
}

// splitName checks name lexically and returns its components: relative,
// no NUL, no "." or ".." element, at least one component.
func splitName(name string) ([]string, error) {
	if name == "" || filepath.IsAbs(name) || strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("%q: %w", name, ErrPathEscapes)
	}
	var parts []string
	for _, el := range strings.Split(filepath.ToSlash(name), "/") {
		switch el {
		case "", ".":
			continue // "a//b", "./a": no component
		case "..":
			return nil, fmt.Errorf("%q: %w", name, ErrPathEscapes)
		}
		parts = append(parts, el)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%q names the directory itself: %w", name, ErrPathEscapes)
	}
	return parts, nil
}

// beneath opens name relative to the directory descriptor at, never
// leaving it. name is one component, or several for a read.
func beneath(at int, name string, flags int, mode uint32, useOpenat2 bool) (int, error) {
	flags |= unix.O_CLOEXEC
	if useOpenat2 {
		fd, err := openat2(at, name, flags, mode)
		if err != errNoOpenat2 {
			if err == unix.EXDEV || err == unix.ELOOP {
				return -1, ErrPathEscapes
			}
			return fd, err
		}
	}
	// Component by component, no symlink followed.
	parts := strings.Split(name, "/")
	cur := at
	for i, p := range parts {
		f := unix.O_DIRECTORY | unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW
		}
		fd, err := unix.Openat(cur, p, f, mode)
		if cur != at {
			unix.Close(cur)
		}
		if err == unix.ELOOP || (err == unix.ENOTDIR && i < len(parts)-1) {
			return -1, ErrPathEscapes // a symlink, or a symlink's own name
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// openDir opens dir itself (the configured data directory: trusted).
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("data directory %s: %w", dir, err)
	}
	return fd, nil
}

// ReadFileIn reads the regular file name inside dir (see the file
// comment). Errors name the path, never the file's content.
func ReadFileIn(dir, name string) ([]byte, error) {
	return readFileIn(dir, name, true)
}

func readFileIn(dir, name string, useOpenat2 bool) ([]byte, error) {
	parts, err := splitName(name)
	if err != nil {
		return nil, err
	}
	root, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	fd, err := beneath(root, strings.Join(parts, "/"), unix.O_RDONLY|unix.O_NONBLOCK, 0, useOpenat2)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q: %w", name, ErrNotRegular)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	b := make([]byte, 0, fi.Size())
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
	}
}

// WriteFileAtomicIn writes the file name inside dir through fn, creating
// missing parent directories inside dir, with the steps of atomic.go: the
// temp file (temp-<pid>-<n>.<name>) is created beside the final name and renamed
// over it. An existing directory, or a parent that is not a directory
// inside dir, fails; the final name may be a symlink, which is replaced,
// not followed.
func WriteFileAtomicIn(dir, name string, fn func(w *os.File) error) error {
	return writeFileAtomicIn(dir, name, fn, true)
}

func writeFileAtomicIn(dir, name string, fn func(w *os.File) error, useOpenat2 bool) error {
	parts, err := splitName(name)
	if err != nil {
		return err
	}
	parent, err := openDir(dir)
	if err != nil {
		return err
	}
	defer func() { unix.Close(parent) }()
	for _, p := range parts[:len(parts)-1] {
		fd, err := beneath(parent, p, unix.O_DIRECTORY|unix.O_RDONLY, 0, useOpenat2)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(parent, p, 0o755); err == nil || err == unix.EEXIST {
				fd, err = beneath(parent, p, unix.O_DIRECTORY|unix.O_RDONLY, 0, useOpenat2)
			}
		}
		if err != nil {
			return fmt.Errorf("%q: directory %q: %w", name, p, err)
		}
		unix.Close(parent)
		parent = fd
	}
	base := parts[len(parts)-1]
	tmp := tempName(base)
	fd, err := unix.Openat(parent, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("rdb: create temp file for %q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	fail := func(step string, err error) error {
		f.Close()
		unix.Unlinkat(parent, tmp, 0)
		return fmt.Errorf("rdb: %s %q: %w", step, name, err)
	}
	if err := fn(f); err != nil {
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(parent, tmp, 0)
		return fmt.Errorf("rdb: close %q: %w", name, err)
	}
	if err := unix.Renameat(parent, tmp, parent, base); err != nil {
		unix.Unlinkat(parent, tmp, 0)
		return fmt.Errorf("rdb: rename into %q: %w", name, err)
	}
	if err := unix.Fsync(parent); err != nil {
		return fmt.Errorf("rdb: fsync the directory of %q: %w", name, err)
	}
	return nil
}
