package script

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"time"
)

// A script's memory. gopher-lua allocates from the Go heap like the rest
// of the server, so what a script takes is read from the heap as a
// whole: the watchdog (run.go) samples it every memEvery while a script
// runs, and once it has grown past script-max-memory since the script
// began, a full collection tells garbage (a script churning strings) from
// what is kept. Kept growth past the limit stops the script as a kill
// does, with Lua's own words for a failed allocation; churn only moves
// the mark, so forced collections come at most once per limit's worth of
// allocation. What the script's commands write counts too: the heap can't
// tell the two apart, and keys have maxmemory besides. A script that has
// written is stopped too (SCRIPT KILL would refuse it): its writes so far
// stay, logged as made, which beats the process dying of the allocation.

// memEvery is how often the heap is sampled while a script runs.
const memEvery = 10 * time.Millisecond

var errScriptOOM = errors.New("not enough memory: the script grew the heap past script-max-memory")

// memGuard is the heap as the running script found it.
type memGuard struct {
	base int64 // heap bytes (live and garbage) at the first sample
	mark int64 // heap bytes past which the next sample collects
}

var heapMetrics = [2]string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

func readHeap() (heap, live int64) {
	var s [2]metrics.Sample
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	metrics.Read(s[:])
	var v [2]int64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = int64(s[i].Value.Uint64())
		}
	}
	return v[0], v[1]
}

// checkMemory samples the heap for the running script and stops it once
// it keeps more than limit bytes (limit 0: no limit). It reports whether
// it stopped the script.
func (e *Engine) checkMemory(g *memGuard, limit int64) bool {
	if limit <= 0 {
		return false
	}
	heap, _ := readHeap()
	if g.base == 0 {
		g.base, g.mark = heap, heap+limit
		return false
	}
	if heap < g.mark {
		return false
	}
	runtime.GC()
	heap, live := readHeap()
	// base counted the garbage of the start as kept, so the growth is
	// never overstated.
	if live-g.base > limit {
		e.oom.Store(true)
		e.stop.Store(true)
		e.s.Logf("warning", "Script stopped: it kept %d bytes more than when it began, past script-max-memory (%d).", live-g.base, limit)
		return true
	}
	g.mark = heap + limit
	return false
}
