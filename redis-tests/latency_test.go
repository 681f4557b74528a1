package redistests

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The latency monitor, as Redis 7.0's: off at threshold 0; on, a command
// taking the threshold or more is a sample of the event "command"
// (DEBUG SLEEP is not a fast command), LATEST shows [event, time, latest,
// max], HISTORY [time, ms] pairs, RESET forgets events and counts them.
func TestLatencyMonitorRecordsSlowCommands(t *testing.T) {
	c := redisClientAt(t, startServer(t, "--enable-debug-command", "local").Addr())
	want(t, c, []any{"latency-monitor-threshold", "0"}, "CONFIG", "GET", "latency-monitor-threshold")
	want(t, c, "OK", "DEBUG", "SLEEP", "0.03")
	want(t, c, []any{}, "LATENCY", "LATEST") // off: nothing recorded

	want(t, c, "OK", "CONFIG", "SET", "latency-monitor-threshold", "20")
	want(t, c, []any{"latency-monitor-threshold", "20"}, "CONFIG", "GET", "latency-monitor-threshold")
	before := time.Now().Unix()
	want(t, c, "OK", "DEBUG", "SLEEP", "0.05")
	want(t, c, "OK", "DEBUG", "SLEEP", "0.001") // under the threshold
	want(t, c, "PONG", "PING")
	after := time.Now().Unix()

	latest := do(t, c, "LATENCY", "LATEST").([]any)
	if len(latest) != 1 {
		t.Fatalf("LATENCY LATEST = %v, want only the event command", latest)
	}
	l := latest[0].([]any)
	if len(l) != 4 || l[0] != "command" {
		t.Fatalf("LATENCY LATEST entry = %v, want [command time latest max]", l)
	}
	at, ms, max := l[1].(int64), l[2].(int64), l[3].(int64)
	if at < before || at > after || ms < 50 || ms > 1000 || max != ms {
		t.Errorf("LATENCY LATEST entry = %v, want a time in [%d, %d] and 50 ms or a bit more, twice", l, before, after)
	}
	hist := do(t, c, "LATENCY", "HISTORY", "command").([]any)
	if len(hist) != 1 {
		t.Fatalf("LATENCY HISTORY command = %v, want one sample", hist)
	}
	if h := hist[0].([]any); len(h) != 2 || h[0] != at || h[1] != ms {
		t.Errorf("LATENCY HISTORY command = %v, want [[%d %d]]", hist, at, ms)
	}
	want(t, c, []any{}, "LATENCY", "HISTORY", "fast-command")
	want(t, c, []any{}, "LATENCY", "HISTORY", "no-such-event")

	want(t, c, int64(1), "LATENCY", "RESET", "command", "no-such-event")
	want(t, c, []any{}, "LATENCY", "LATEST")
	want(t, c, []any{}, "LATENCY", "HISTORY", "command")
	want(t, c, "OK", "DEBUG", "SLEEP", "0.03")
	want(t, c, int64(1), "LATENCY", "RESET")
	want(t, c, int64(0), "LATENCY", "RESET")
	wantErrPrefix(t, c, "ERR", "CONFIG", "SET", "latency-monitor-threshold", "-1")
}

// A GEN's latency sample is its real duration, model steps included (the
// microseconds INFO commandstats counts for it), recorded when it ends.
func TestGenLatencyIsItsJobsDuration(t *testing.T) {
	onlyReddwarf(t)
	c := redisClientAt(t, startServer(t, "--latency-monitor-threshold", "1").Addr())
	st := do(t, c, "GEN", "k", "Once upon a time", "MAXTOKENS", 64, "TEMPERATURE", 0, "WITHSTATS").([]any)
	var jobUS float64
	for i := 0; i+1 < len(st); i += 2 {
		if st[i] == "prefill_ms" || st[i] == "decode_ms" {
			ms, err := strconv.ParseFloat(st[i+1].(string), 64)
			if err != nil {
				t.Fatal(err)
			}
			jobUS += ms * 1000
		}
	}
	if jobUS < 2000 {
		t.Fatalf("a 64-token GEN took %.0f µs: too short to tell parsing from work", jobUS)
	}
	var usec int64 = -1
	for _, line := range strings.Split(str(t, c, "INFO", "commandstats"), "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_gen:"); ok {
			for _, f := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec="); ok {
					usec, _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
	}
	hist := do(t, c, "LATENCY", "HISTORY", "command").([]any)
	if len(hist) != 1 {
		t.Fatalf("LATENCY HISTORY command = %v, want the GEN's one sample", hist)
	}
	ms := hist[0].([]any)[1].(int64)
	if ms != usec/1000 || float64(ms+1)*1000 < jobUS {
		t.Errorf("GEN's latency sample is %d ms; want commandstats' %d µs in ms, the job's %.0f µs", ms, usec, jobUS)
	}
	// Its histogram bucket is the whole duration's too.
	h := do(t, c, "LATENCY", "HISTOGRAM", "gen").([]any)
	if len(h) != 2 {
		t.Fatalf("LATENCY HISTOGRAM gen = %v", h)
	}
	b := h[1].([]any)[3].([]any)
	if len(b) != 2 || b[1] != int64(1) {
		t.Fatalf("GEN's buckets = %v, want one bucket of 1", b)
	}
	if top := b[0].(int64); !powerOfTwoBucket(top) || top < usec || top > 2*usec+2 {
		t.Errorf("GEN's bucket is %d µs, want the one holding its %d µs", top, usec)
	}
}

// LATENCY HISTOGRAM, as Redis 7.0's with latency-tracking on: per command,
// the durations recorded and cumulative counts at power-of-two buckets
// (keys in µs: the top of each bucket Redis's histogram reports).
func TestLatencyHistogram(t *testing.T) {
	c := redisClientAt(t, startServer(t, "--enable-debug-command", "local").Addr())
	want(t, c, []any{"latency-tracking", "yes"}, "CONFIG", "GET", "latency-tracking")
	want(t, c, "OK", "CONFIG", "RESETSTAT")
	want(t, c, "OK", "DEBUG", "SLEEP", "0.02")
	want(t, c, "OK", "SET", "a", "b")
	h := do(t, c, "LATENCY", "HISTOGRAM", "debug", "nosuch", "set").([]any)
	if len(h) != 4 || h[0] != "debug" || h[2] != "set" {
		t.Fatalf("LATENCY HISTOGRAM debug nosuch set = %v, want debug's and set's", h)
	}
	for i := 1; i < 4; i += 2 {
		e := h[i].([]any)
		if len(e) != 4 || e[0] != "calls" || e[1] != int64(1) || e[2] != "histogram_usec" {
			t.Fatalf("%v's entry = %v, want [calls 1 histogram_usec [...]]", h[i-1], e)
		}
		b := e[3].([]any)
		if len(b) != 2 || b[1] != int64(1) {
			t.Fatalf("%v's buckets = %v, want one bucket of 1", h[i-1], b)
		}
		top := b[0].(int64)
		if !powerOfTwoBucket(top) {
			t.Errorf("%v's bucket %d µs is no power-of-two bucket", h[i-1], top)
		}
		if h[i-1] == "debug" && (top < 20000 || top > 2_000_000) {
			t.Errorf("DEBUG SLEEP 0.02's bucket is %d µs", top)
		}
	}
	want(t, c, "OK", "CONFIG", "SET", "latency-tracking", "no")
	want(t, c, "OK", "SET", "a", "b")
	if e := do(t, c, "LATENCY", "HISTOGRAM", "set").([]any); len(e) != 2 || e[1].([]any)[1] != int64(1) {
		t.Errorf("with latency-tracking no, SET's histogram = %v, want its one earlier call", e)
	}
	want(t, c, "OK", "CONFIG", "RESETSTAT")
	want(t, c, []any{}, "LATENCY", "HISTOGRAM", "set", "debug")
}

// powerOfTwoBucket reports whether µs is a bucket's key: the top of the
// range 2^k ns (k ≥ 10) stands for, 2^k + 2^(k-7) - 1 ns, in µs.
func powerOfTwoBucket(us int64) bool {
	for k := 10; k <= 30; k++ {
		if (int64(1)<<k+int64(1)<<(k-7)-1)/1000 == us {
			return true
		}
	}
	return false
}
