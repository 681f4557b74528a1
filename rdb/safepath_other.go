//go:build !linux

package rdb

import "errors"

var errNoOpenat2 = errors.New("openat2 unavailable")

// openat2 is Linux's; elsewhere files are opened component by component.
func openat2(at int, name string, flags int, mode uint32) (int, error) {
	return -1, errNoOpenat2
}
