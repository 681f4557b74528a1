//go:build !linux

package rdb

import "os"

const directAlign = 4096

func openDirect(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	return f, false, err
}

func clearDirect(f *os.File) error { return nil }
