package redistests

import (
	"testing"
	"time"
)

// A TTL logged in the append-only file may pass before the log is
// replayed; the records after it still use the key (a ROLLBACK's
// RDW.TRUNC, a FORK's RDW.FORK, an APPEND). Replay keeps the key until
// loading ends, as Redis does (checkAlreadyExpired is false while
// loading): the server used to delete it at the replayed PEXPIREAT, then
// refuse to start ("RDW.TRUNC on "s", which is not a session"), lose the
// FORK's acknowledged copy, or bring a string back without its TTL. Found
// by tools/torture after a kill -9.
func TestReplayKeepsKeysWhoseTTLPassedUntilLoadingEnds(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir, "--appendonly", "yes")
	c := cli(t, s)
	do(t, c, "GEN", "s", "Once upon a time", "MAXTOKENS", "3", "TEMPERATURE", "0")
	tokens := do(t, c, "TOKENS", "s")
	do(t, c, "SET", "str", "v")
	for _, k := range []string{"s", "str"} {
		want(t, c, int64(1), "PEXPIRE", k, 400)
	}
	want(t, c, int64(1), "FORK", "s", "copy")
	want(t, c, int64(4), "ROLLBACK", "s", 4)
	want(t, c, int64(2), "APPEND", "str", "x")
	time.Sleep(600 * time.Millisecond) // both TTLs pass before the restart
	s.stop()                           // SIGKILL: the log is what is left

	s = startIn(t, dir, "--appendonly", "yes")
	c = cli(t, s)
	want(t, c, tokens, "TOKENS", "copy") // acknowledged before s expired
	want(t, c, int64(-1), "TTL", "copy")
	want(t, c, int64(0), "EXISTS", "s")
	want(t, c, int64(0), "EXISTS", "str") // expired, not "x" without a TTL
	want(t, c, "PONG", "PING")
}
