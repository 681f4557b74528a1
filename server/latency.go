package server

import (
	"sort"
	"time"
)

// Latency monitor (LATENCY LATEST / HISTORY / RESET), as Redis 7.0's:
// a command taking latency-monitor-threshold milliseconds or more adds a
// sample to the event "fast-command" (its spec has the fast flag) or
// "command". Each event keeps its last latencyHistoryLen seconds that had
// a sample, one sample a second (the largest), and its all-time maximum.

// latencyHistoryLen is how many samples an event keeps (Redis's
// LATENCY_TS_LEN).
const latencyHistoryLen = 160

// LatencySample is one second's largest latency of an event.
type LatencySample struct {
	Time int64 // unix seconds
	MS   int64 // milliseconds
}

// latencyEvent is one event's ring of samples.
type latencyEvent struct {
	ring [latencyHistoryLen]LatencySample
	next int   // where the next second's sample goes
	max  int64 // largest sample since the event was created or reset
}

// LatencyLatest is what LATENCY LATEST shows of an event.
type LatencyLatest struct {
	Event string
	Time  int64 // unix seconds of the newest sample
	MS    int64 // the newest sample
	MaxMS int64 // the largest since the event's creation or reset
}

// latencySample records a command's duration under its event when the
// monitor is on and the duration reaches the threshold.
func (s *Server) latencySample(spec *Spec, dur time.Duration) {
	th := s.Config.LatencyMonitorThreshold
	ms := dur.Milliseconds()
	if th <= 0 || ms < th {
		return
	}
	event := "command"
	if spec.Flags&FlagFast != 0 {
		event = "fast-command"
	}
	s.LatencyAdd(event, ms, time.Now().Unix())
}

// LatencyAdd adds a sample of ms milliseconds at unix second now to
// event: within the same second as the newest sample, only the larger
// of the two stays.
func (s *Server) LatencyAdd(event string, ms, now int64) {
	if s.latency == nil {
		s.latency = map[string]*latencyEvent{}
	}
	e := s.latency[event]
	if e == nil {
		e = &latencyEvent{}
		s.latency[event] = e
	}
	if ms > e.max {
		e.max = ms
	}
	prev := &e.ring[(e.next+latencyHistoryLen-1)%latencyHistoryLen]
	if prev.Time == now {
		if ms > prev.MS {
			prev.MS = ms
		}
		return
	}
	e.ring[e.next] = LatencySample{Time: now, MS: ms}
	e.next = (e.next + 1) % latencyHistoryLen
}

// LatencyHistory returns event's samples, oldest first (nil when it has none).
func (s *Server) LatencyHistory(event string) []LatencySample {
	e := s.latency[event]
	if e == nil {
		return nil
	}
	var out []LatencySample
	for i := 0; i < latencyHistoryLen; i++ {
		smp := e.ring[(e.next+i)%latencyHistoryLen]
		if smp.Time != 0 {
			out = append(out, smp)
		}
	}
	return out
}

// LatencyLatestAll returns every event's newest sample, by event name.
func (s *Server) LatencyLatestAll() []LatencyLatest {
	var out []LatencyLatest
	for name, e := range s.latency {
		last := e.ring[(e.next+latencyHistoryLen-1)%latencyHistoryLen]
		out = append(out, LatencyLatest{Event: name, Time: last.Time, MS: last.MS, MaxMS: e.max})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Event < out[j].Event })
	return out
}

// LatencyReset forgets the named events (all of them when none is
// named) and returns how many it forgot.
func (s *Server) LatencyReset(events []string) int {
	if len(events) == 0 {
		n := len(s.latency)
		s.latency = nil
		return n
	}
	n := 0
	for _, ev := range events {
		if _, ok := s.latency[ev]; ok {
			delete(s.latency, ev)
			n++
		}
	}
	return n
}

// Per-command latency histograms (LATENCY HISTOGRAM), as Redis 7.0's with
// latency-tracking on: a command's duration, in nanoseconds clamped to
// [1024, 1e9], falls in the first power-of-two bucket 2^k (k from 10)
// whose range holds it. Redis keeps an HDR histogram of two significant
// digits and reports it at those powers of two; a bucket's range ends at
// 2^k + 2^(k-7) - 1 (its highest equivalent value there), so counting per
// bucket gives the same report.
const (
	histFirstPow = 10
	histBuckets  = 21 // 2^10 .. 2^30 ns: 2^30 + 2^23 holds 1e9
)

func histBucket(ns int64) int {
	if ns < 1<<histFirstPow {
		ns = 1 << histFirstPow
	}
	if ns > 1e9 {
		ns = 1e9
	}
	for k := histFirstPow; ; k++ {
		if ns <= 1<<k+1<<(k-7)-1 {
			return k - histFirstPow
		}
	}
}

// recordLatency adds a duration of usec microseconds to st's histogram.
func (s *Server) recordLatency(st *CmdStat, usec int64) {
	if s.Config.LatencyTracking {
		st.Hist[histBucket(usec*1000)]++
	}
}

// HistogramBucket is one line of LATENCY HISTOGRAM's histogram_usec: how
// many durations were at most USec microseconds.
type HistogramBucket struct{ USec, Count int64 }

// LatencyHistogram returns st's cumulative buckets, those where the count
// grew, and the number of durations recorded.
func (st *CmdStat) LatencyHistogram() (buckets []HistogramBucket, total int64) {
	for i, n := range st.Hist {
		if n == 0 {
			continue
		}
		total += n
		k := histFirstPow + i
		buckets = append(buckets, HistogramBucket{USec: (1<<k + 1<<(k-7) - 1) / 1000, Count: total})
	}
	return buckets, total
}
