package server

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// sink keeps the allocations of TestHeapFloorIsResident from being
// optimised away.
var sink []byte

// TestHeapFloorIsResident: in a fresh process, once the heap floor is
// raised, the first 32 MiB of garbage the server makes land on pages that
// are already resident; without the prefault each 4 KiB page of it faults
// (8192 faults). It runs in a child process: in this one, earlier tests
// have warmed the heap already.
func TestHeapFloorIsResident(t *testing.T) {
	if os.Getenv("REDDWARF_HEAPFLOOR_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHeapFloorIsResident$", "-test.v")
		cmd.Env = append(os.Environ(), "REDDWARF_HEAPFLOOR_CHILD=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return
	}
	raiseHeapFloor()
	before := minorFaults(t)
	for i := 0; i < (32<<20)/256; i++ {
		sink = make([]byte, 256)
	}
	faults := minorFaults(t) - before
	t.Logf("%d minor faults over 32 MiB of 256-byte allocations", faults)
	if faults > 1024 {
		t.Fatalf("%d minor faults, want at most 1024 (8192 would be every page)", faults)
	}
}

func minorFaults(t *testing.T) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}
