package server

import "testing"

// One sample a second, the largest; 160 seconds kept; the maximum
// outlives the samples that made it.
func TestLatencyAddKeepsOneSampleASecond(t *testing.T) {
	s := &Server{}
	s.LatencyAdd("command", 5, 100)
	s.LatencyAdd("command", 9, 100)
	s.LatencyAdd("command", 3, 100)
	if h := s.LatencyHistory("command"); len(h) != 1 || h[0] != (LatencySample{100, 9}) {
		t.Fatalf("history = %v, want [{100 9}]", h)
	}
	for sec := int64(101); sec < 101+latencyHistoryLen; sec++ {
		s.LatencyAdd("command", 1, sec)
	}
	h := s.LatencyHistory("command")
	if len(h) != latencyHistoryLen || h[0].Time != 101 || h[len(h)-1].Time != 100+latencyHistoryLen {
		t.Fatalf("history holds %d samples from %v to %v, want the last %d seconds", len(h), h[0], h[len(h)-1], latencyHistoryLen)
	}
	l := s.LatencyLatestAll()
	if len(l) != 1 || l[0] != (LatencyLatest{"command", 100 + latencyHistoryLen, 1, 9}) {
		t.Errorf("latest = %v", l)
	}
	if n := s.LatencyReset([]string{"fast-command", "command"}); n != 1 || s.LatencyHistory("command") != nil {
		t.Errorf("reset = %d, history after = %v", n, s.LatencyHistory("command"))
	}
}

// Buckets as redis-server 7.0.15 reported them for these durations (the
// last two clamped to 1024 ns and 1 s, as Redis clamps them).
func TestHistBucketMatchesRedis(t *testing.T) {
	for _, c := range []struct{ usec, top int64 }{{15, 16}, {33, 33}, {229, 264}, {3100, 4227}, {20300, 33816}, {0, 1}, {5e6, 1082130}} {
		st := &CmdStat{}
		st.Hist[histBucket(c.usec*1000)]++
		if b, n := st.LatencyHistogram(); n != 1 || b[0].USec != c.top {
			t.Errorf("%d µs: buckets %v, want %d", c.usec, b, c.top)
		}
	}
}
