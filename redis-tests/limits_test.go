package redistests

import (
	"strconv"
	"strings"
	"testing"
	"time"
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
	wantErr(t, c, "ERR context window full: the session has 64 tokens and the prompt needs 1 more, past the context of 64", "PREFILL", "full", "IDS", 1)
	wantErr(t, c, "ERR context window full: the session has 0 tokens and the prompt needs 65 more, past the context of 64", idsArgs("over", 65)...)
	want(t, c, int64(0), "EXISTS", "over")
	want(t, c, int64(63), idsArgs("almost", 63)...)
	want(t, c, int64(64), "PREFILL", "almost", "IDS", 7)
}

// CHECKPOINT refuses, changing nothing, a checkpoint the snapshot format
// could not hold (a name over 64 KiB, a 65,537th checkpoint), so the
// session stays saveable; at the limits it is accepted and saved.
func TestCheckpointLimitsAreTheSnapshotFormats(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	do(t, c, "GEN", "s", "A bird", "MAXTOKENS", "2", "TEMPERATURE", "0")
	wantErr(t, c, "ERR checkpoint name longer than 65536 bytes", "CHECKPOINT", "s", strings.Repeat("n", 64<<10+1))
	do(t, c, "CHECKPOINT", "s", strings.Repeat("n", 64<<10))
	have := len(do(t, c, "CHECKPOINTS", "s").([]any)) / 2 // GEN may have made some
	p := c.Pipeline()
	for i := have; i < 1<<16; i++ {
		p.Do(ctx, "CHECKPOINT", "s", "c"+strconv.Itoa(i))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatalf("checkpoints up to 65,536: %v", err)
	}
	wantErr(t, c, "ERR session has 65536 checkpoints, the most a snapshot can hold", "CHECKPOINT", "s", "one-more")
	do(t, c, "CHECKPOINT", "s", "c7") // replacing one is fine
	if n := len(do(t, c, "CHECKPOINTS", "s").([]any)); n != 2<<16 {
		t.Errorf("CHECKPOINTS has %d entries, want 65536 pairs", n/2)
	}
	want(t, c, "OK", "SAVE")
	want(t, c, "OK", "SET", "after", "v") // no MISCONF
}

// A session whose TTL ends while a GEN runs on it stays expired: the GEN
// gets an error saying its result was dropped, and the key does not come
// back (it used to, with its old content plus the GEN and no TTL).
func TestSessionExpiringDuringAGenStaysExpired(t *testing.T) {
	onlyReddwarf(t)
	// One prompt token per engine step: the GEN takes ~480 steps.
	s := startServer(t, "--prefill-chunk", "1")
	c := redisClientAt(t, s.Addr())
	do(t, c, "GEN", "s", "A bird", "MAXTOKENS", "2", "TEMPERATURE", "0")
	prompt := strings.Repeat(" The little dog ran to the park.", 40)
	start := time.Now()
	p := c.Pipeline() // one batch: the GEN starts at once, the TTL ends during it
	p.Do(ctx, "PEXPIRE", "s", "5")
	gen := p.Do(ctx, "GEN", "s", prompt, "MAXTOKENS", "1")
	p.Exec(ctx)
	took := time.Since(start)
	if took < 20*time.Millisecond {
		t.Skipf("the GEN took %v: too fast for its 5 ms TTL to end during it", took)
	}
	if err := gen.Err(); err == nil || !strings.Contains(err.Error(), "expired or was removed") {
		t.Errorf("GEN over an expiring session (%v): %v, want the expired error", took, err)
	}
	want(t, c, int64(0), "EXISTS", "s")
	want(t, c, int64(-2), "TTL", "s")
}

// FLUSHALL and FLUSHDB succeed while GENs run, as Redis's always do: the
// jobs on the flushed keys end with an error saying so, and nothing they
// computed comes back into the empty keyspace. They used to be refused
// with -BUSY for as long as any GEN ran.
func TestFlushWhileGensRunEndsThem(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--prefill-chunk", "1")
	c := redisClientAt(t, s.Addr())
	prompt := strings.Repeat(" The little dog ran to the park.", 40)
	for _, flush := range [][]any{{"FLUSHALL"}, {"FLUSHDB"}} {
		do(t, c, "GEN", "old", "A bird", "MAXTOKENS", "2")
		errs := make(chan error, 2)
		for _, key := range []string{"old", "new"} {
			g := redisClientAt(t, s.Addr())
			go func() { errs <- g.Do(ctx, "GEN", key, prompt, "MAXTOKENS", "1").Err() }()
		}
		deadline := time.Now().Add(5 * time.Second)
		for infoField(t, c, "inference", "active_gens") != "2" && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		want(t, c, "OK", flush...)
		for i := 0; i < 2; i++ {
			if err := <-errs; err == nil || !strings.Contains(err.Error(), "flushed") {
				t.Errorf("%v: a GEN it ended replied %v, want the flushed error", flush[0], err)
			}
		}
		want(t, c, int64(0), "DBSIZE")
	}
}

// CHECKPOINT allocates (a copy of the logits, the name), so it is a
// DENYOOM command: over maxmemory, with nothing to evict, it is refused
// with -OOM like SET. It used to take used memory far past maxmemory.
func TestCheckpointRespectsMaxmemory(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--maxmemory-policy", "noeviction")
	c := redisClientAt(t, s.Addr())
	do(t, c, "GEN", "s", "A bird", "MAXTOKENS", "2")
	used, _ := strconv.ParseInt(infoField(t, c, "memory", "used_memory"), 10, 64)
	limit := used + 8<<20
	do(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(limit, 10))
	name := strings.Repeat("n", 60<<10)
	refused := false
	for i := 0; i < 2000 && !refused; i++ {
		err := c.Do(ctx, "CHECKPOINT", "s", name+strconv.Itoa(i)).Err()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "OOM ") {
				t.Fatalf("CHECKPOINT %d: %v, want OOM", i, err)
			}
			refused = true
		}
	}
	if !refused {
		t.Fatalf("2,000 CHECKPOINTs of 60 KB names (120 MB) against maxmemory %d: none refused", limit)
	}
	do(t, c, "CONFIG", "SET", "maxmemory", "0")
}
