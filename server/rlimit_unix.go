//go:build unix

package server

import "syscall"

// reservedFDs is Redis's CONFIG_MIN_RESERVED_FDS: descriptors kept for
// listeners, files and logs beyond one per client.
const reservedFDs = 32

// fitOpenFilesLimit raises the open files limit to fit maxclients clients,
// as Redis's adjustOpenFilesLimit does, and returns the maxclients that
// fits: maxclients itself, or what the best limit allowed leaves. Redis
// adds the reserve in unsigned int, so a maxclients near UINT_MAX wraps to
// a small need and is accepted; so it is here.
func fitOpenFilesLimit(maxclients int) int {
	need := uint64(uint32(maxclients) + reservedFDs)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024 - reservedFDs
	}
	if lim.Cur >= need {
		return maxclients
	}
	// Redis tries need, need-16, need-32... down to the current limit; an
	// unprivileged process gets the first one at or below the hard limit.
	best := need
	if best > lim.Max {
		best -= (best - lim.Max + 15) / 16 * 16
	}
	if best <= lim.Cur {
		return int(lim.Cur) - reservedFDs
	}
	raised := syscall.Rlimit{Cur: best, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return int(lim.Cur) - reservedFDs
	}
	if best < need {
		return int(best) - reservedFDs
	}
	return maxclients
}
