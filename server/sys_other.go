//go:build !linux

package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// totalSystemMemory is unknown here (INFO total_system_memory reads 0).
func totalSystemMemory() int64 { return 0 }

func cpuTimes() (user, sys float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6, float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

// nbRead and nbWrite are read(2) and write(2) on a non-blocking socket.
func nbRead(fd int, b []byte) (int, error)  { return unix.Read(fd, b) }
func nbWrite(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

// prefault makes b's pages resident.
func prefault(b []byte) { touchPages(b) }
