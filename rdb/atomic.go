package rdb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Atomic replacement of a file, in the order that makes a crash at any
// instant leave either the old file or the new one, never a mix:
//
//  1. write everything to a temp file in the same directory
//  2. flush and fsync the temp file (its data is on disk)
//  3. close it
//  4. rename it over the target (atomic on POSIX file systems)
//  5. fsync the directory (the rename itself is on disk)
//
// Each failure names its step and path. Until step 4 the target is
// untouched; a temp file left by a crash is never read (its name starts
// with "temp-") and is removed by the next save in that directory.

var tempSeq atomic.Int64

// tempName is the name of a fresh temp file for the file named base.
func tempName(base string) string {
	return fmt.Sprintf("temp-%d-%d.%s", os.Getpid(), tempSeq.Add(1), base)
}

// createTemp creates a fresh temp file beside path.
func createTemp(path string) (*os.File, string, error) {
	tmp := filepath.Join(filepath.Dir(path), tempName(filepath.Base(path)))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("rdb: create temp file %s: %w", tmp, err)
	}
	return f, tmp, nil
}

// createTempDirect is createTemp with O_DIRECT where possible.
func createTempDirect(path string) (*os.File, string, bool, error) {
	tmp := filepath.Join(filepath.Dir(path), tempName(filepath.Base(path)))
	f, direct, err := openDirect(tmp)
	if err != nil {
		return nil, "", false, fmt.Errorf("rdb: create temp file %s: %w", tmp, err)
	}
	return f, tmp, direct, nil
}

// commitTemp is steps 2-5 for a temp file whose buffered data is flushed.
func commitTemp(f *os.File, tmp, path string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("rdb: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rdb: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rdb: rename %s to %s: %w", tmp, path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("rdb: fsync directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveStaleTemps deletes temp files a crashed save left in dir for base
// (temp-<pid>-<n>.<base>), except those of the running process.
func RemoveStaleTemps(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "temp-*-*."+base))
	mine := fmt.Sprintf("temp-%d-", os.Getpid())
	for _, m := range matches {
		if len(filepath.Base(m)) > len(mine) && filepath.Base(m)[:len(mine)] == mine {
			continue
		}
		os.Remove(m)
	}
}

// RemoveStaleTempsUnder deletes, in root and every folder below it, the
// temp files (temp-<pid>-<n>.<name>) a killed save left, except those of
// the running process. Symlinks are not followed.
func RemoveStaleTempsUnder(root string) {
	mine := fmt.Sprintf("temp-%d-", os.Getpid())
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		var pid, n int
		var rest string
		name := d.Name()
		if k, _ := fmt.Sscanf(name, "temp-%d-%d.%s", &pid, &n, &rest); k == 3 && !strings.HasPrefix(name, mine) {
			os.Remove(path)
		}
		return nil
	})
}

// WriteFileAtomic writes a file through fn with the steps above.
func WriteFileAtomic(path string, fn func(w *os.File) error) error {
	f, tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("rdb: write %s: %w", tmp, err)
	}
	return commitTemp(f, tmp, path)
}
