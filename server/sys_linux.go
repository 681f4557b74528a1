package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func totalSystemMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func cpuTimes() (user, sys float64) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6, float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

// nbRead and nbWrite are read(2) and write(2) on a non-blocking socket,
// made without telling the Go scheduler (RawSyscall): they never block, so
// the entersyscall/exitsyscall pair that unix.Read and unix.Write pay
// around every call buys nothing, and the loop makes two per request.
func nbRead(fd int, b []byte) (int, error)  { return rawIO(unix.SYS_READ, fd, b) }
func nbWrite(fd int, b []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, b) }

// rawIO is read(2) or write(2) (trap) of b on fd through RawSyscall.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// prefault makes b's pages resident with one madvise(MADV_POPULATE_WRITE)
// (Linux 5.14) instead of a page fault per page on first write, which on a
// virtual machine is about 15× slower; older kernels fault each page.
func prefault(b []byte) {
	if unix.Madvise(b, unix.MADV_POPULATE_WRITE) != nil {
		touchPages(b)
	}
}
