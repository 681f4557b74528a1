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
