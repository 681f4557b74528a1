//go:build !noasm

package metalkit

import "syscall"

// Linux keeps AMX's 8 KiB of tile data out of a process's saved state
// until the process asks for it (arch/x86: ARCH_REQ_XCOMP_PERM); a tile
// instruction before that faults.
const (
	archReqXcompPerm  = 0x1023
	xfeatureXtiledata = 18
)

// requestTileState asks the kernel, once per process (it is process-wide),
// for the tile data state, and reports whether it was granted.
func requestTileState() bool {
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}
