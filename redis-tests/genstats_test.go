package redistests

import (
	"strconv"
	"strings"
	"testing"
)

// A GEN's time in INFO commandstats and SLOWLOG is the job's, not only the
// parsing of its arguments: as Redis 7.0 counts a blocked command, the work
// done for it is added when it finishes, and SLOWLOG logs it then.
func TestGenTimeCountsInCommandstatsAndSlowlog(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--slowlog-log-slower-than", "0")
	c := redisClientAt(t, s.Addr())
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
	if jobUS < 1000 {
		t.Fatalf("a 64-token GEN took %.0f µs: too short to tell parsing from work", jobUS)
	}
	var usec, calls int64 = -1, -1
	for _, line := range strings.Split(str(t, c, "INFO", "commandstats"), "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_gen:"); ok {
			for _, f := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "usec":
					usec = n
				case "calls":
					calls = n
				}
			}
		}
	}
	if calls != 1 || float64(usec) < jobUS {
		t.Errorf("cmdstat_gen calls=%d usec=%d, want 1 call of at least the job's %.0f µs", calls, usec, jobUS)
	}
	var logged int64 = -1
	entries := 0
	for _, e := range do(t, c, "SLOWLOG", "GET", -1).([]any) {
		e := e.([]any)
		if args := e[3].([]any); args[0] == "GEN" {
			logged = e[2].(int64)
			entries++
		}
	}
	if entries != 1 {
		t.Errorf("SLOWLOG has %d GEN entries, want 1", entries)
	}
	if float64(logged) < jobUS || logged > usec {
		t.Errorf("SLOWLOG logged GEN with %d µs, want the job's %.0f µs and at most commandstats' %d", logged, jobUS, usec)
	}
}
