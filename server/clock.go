package server

import "time"

// loopClock times commands with one clock read each.
//
// A time.Now costs two clock reads (wall and monotonic), and on this kind
// of VM a read is not cheap: timing every command with time.Now at its
// start and time.Since at its end was 12% of the loop's time in a
// pipelined SET benchmark. So commands are timed on the monotonic clock
// alone, and within one client's batch each command's end is the next
// one's start. Wall-clock milliseconds (expiry, OBJECT IDLETIME, CLIENT
// LIST idle) are derived from the monotonic reading and an anchor that
// the cron moves to the wall clock ten times a second, so a step of the
// wall clock shows within one cron tick.
type loopClock struct {
	base   time.Time // anchor: a wall and monotonic reading taken together
	baseNS int64     // base in unix ns
	last   int64     // end of the previous command of this batch, ns since base
	chain  bool      // last may stand for "now" (inside one batch)
}

// anchor resets the clock's base (never while a batch runs).
func (k *loopClock) anchor() {
	k.base = time.Now()
	k.baseNS = k.base.UnixNano()
	k.chain = false
}

// now is one monotonic read, in ns since the anchor.
func (k *loopClock) now() int64 { return int64(time.Since(k.base)) }

// commandStart is when the next command starts: the previous command's end
// inside a batch, else a fresh read.
func (k *loopClock) commandStart() int64 {
	if k.chain {
		return k.last
	}
	return k.now()
}

// commandEnd records t as the end of a top-level command.
func (k *loopClock) commandEnd(t int64) { k.last, k.chain = t, true }

// wallMS converts a reading of now to unix milliseconds. It rounds once,
// at the end: rounding the base and the offset apart could put "now" up to
// 2 ms behind the wall clock (a TTL set from the client's clock then reads
// longer than it was set to).
func (k *loopClock) wallMS(t int64) int64 { return (k.baseNS + t) / int64(time.Millisecond) }
