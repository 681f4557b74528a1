package server

import (
	"runtime"
	"sync"
)

// The GC's heap floor.
//
// With a small live heap (a server of short strings) Go would collect
// every 4 MB allocated, which at hundreds of thousands of commands a second
// costs a quarter of the CPU. A ballast, a 64 MiB allocation that holds no
// pointers and is never written, raises the heap size the collector aims
// for to twice live plus 128 MiB: it costs address space, not memory, and
// UsedMemory leaves it out (evict.go's readMemSample).
//
// The heap then grows by about 64 MiB of garbage before the first cycle,
// all of it on pages the process never touched, and each such page costs a
// page fault on first use: 16k faults, 11-14 µs each on our 2-core virtual
// machine, paid by a fresh server's first ~450k commands (about 0.2 s of
// CPU). So the floor is also made resident at the start: a warm-up
// allocation of the same size is populated by one madvise (prefault, 0.8
// µs a page) and freed by a collection, and its pages, free but resident,
// are the ones the first 64 MiB of garbage are allocated from. After that
// cycle the swept pages are reused, so a server faults only as its live
// heap grows. The background scavenger keeps them: it returns pages only
// beyond 10% over the heap goal, which the ballast holds above them.
//
// The heap is the process's, so the floor is raised once per process,
// however many servers it makes (tests make many).
var heapFloor struct {
	once    sync.Once
	ballast []byte
}

const gcBallastSize = 64 << 20

// raiseHeapFloor makes the ballast and pre-faults the garbage space it
// leaves (once per process).
func raiseHeapFloor() {
	heapFloor.once.Do(func() {
		heapFloor.ballast = make([]byte, gcBallastSize)
		warm := make([]byte, gcBallastSize)
		prefault(warm)
		runtime.KeepAlive(warm)
		runtime.GC() // frees warm; its pages stay resident
	})
}
