package redistests

import (
	"testing"
)

// Limits of sessions hold exactly: what fits is accepted, one more is
// refused before anything changes.

// ids returns PREFILL key IDS followed by n token ids.
func idsArgs(key string, n int) []any {
	args := []any{"PREFILL", key, "IDS"}
	for i := 0; i < n; i++ {
		args = append(args, 1+i%100)
	}
	return args
}

// PREFILL IDS feeds the ids as they are (no BOS): an empty session takes
// exactly the context size of them.
func TestPrefillIdsTakesExactlyTheContext(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--ctx", "64")
	c := redisClientAt(t, s.Addr())
	want(t, c, int64(64), idsArgs("full", 64)...)
	wantErr(t, c, "ERR context window full", "PREFILL", "full", "IDS", 1)
	wantErr(t, c, "ERR context window full", idsArgs("over", 65)...)
	want(t, c, int64(0), "EXISTS", "over")
	want(t, c, int64(63), idsArgs("almost", 63)...)
	want(t, c, int64(64), "PREFILL", "almost", "IDS", 7)
}
