package redistests

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session commands are reddwarf's own: these tests skip against redis-server.

func onlyReddwarf(t *testing.T) {
	t.Helper()
	if target != "reddwarf" {
		t.Skip("session commands are reddwarf's")
	}
}

func ownClient(t *testing.T, s *Server, protocol int) *redis.Client {
	t.Helper()
	c := redis.NewClient(options(s.Addr(), protocol))
	t.Cleanup(func() { c.Close() })
	return c
}

func str(t *testing.T, c doer, args ...any) string {
	t.Helper()
	v, ok := do(t, c, args...).(string)
	if !ok {
		t.Fatalf("%v: reply is not a string", args)
	}
	return v
}

func num(t *testing.T, c doer, args ...any) int64 {
	t.Helper()
	v, ok := do(t, c, args...).(int64)
	if !ok {
		t.Fatalf("%v: reply is not an integer", args)
	}
	return v
}

// infoField reads one field of an INFO section.
func infoField(t *testing.T, c doer, section, field string) string {
	t.Helper()
	for _, l := range strings.Split(str(t, c, "INFO", section), "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// longPrompt is a prompt of several hundred tokens.
var longPrompt = strings.Repeat(" The little dog ran to the park and played with a big red ball.", 40)

func TestAnAgentForksASystemPromptPicksABranchAndRollsBackABadTurn(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	// A system prompt session, shared by every branch.
	n := num(t, c, "PREFILL", "agent:sys", "Once upon a time there was a little girl named Lily. She loved to play outside.")
	if n < 10 {
		t.Fatalf("PREFILL replied %d tokens", n)
	}
	sysTokens := do(t, c, "TOKENS", "agent:sys")
	// Three branches sampled with different seeds.
	texts := map[string]string{}
	for i, b := range []string{"agent:b1", "agent:b2", "agent:b3"} {
		want(t, c, int64(1), "FORK", "agent:sys", b)
		texts[b] = str(t, c, "GEN", b, " One day", "SEED", i+1, "MAXTOKENS", 30, "TEMPERATURE", 1)
	}
	if texts["agent:b1"] == texts["agent:b2"] && texts["agent:b2"] == texts["agent:b3"] {
		t.Errorf("three seeds gave the same text %q", texts["agent:b1"])
	}
	// The system prompt is untouched by its forks.
	want(t, c, sysTokens, "TOKENS", "agent:sys")
	// The same seed from the same state gives the same tokens.
	want(t, c, int64(1), "FORK", "agent:sys", "agent:check")
	want(t, c, texts["agent:b2"], "GEN", "agent:check", " One day", "SEED", 2, "MAXTOKENS", 30, "TEMPERATURE", 1)
	want(t, c, do(t, c, "TOKENS", "agent:b2"), "TOKENS", "agent:check")
	// Pick branch 2, drop the others.
	want(t, c, "OK", "RENAME", "agent:b2", "agent:main")
	want(t, c, int64(3), "DEL", "agent:b1", "agent:b3", "agent:check")
	// A good turn, remembered; a bad turn, rolled back.
	pos := num(t, c, "CHECKPOINT", "agent:main", "turn1")
	want(t, c, int64(1), "FORK", "agent:main", "agent:ref")
	tokens := do(t, c, "TOKENS", "agent:main")
	logits := do(t, c, "LOGITS", "agent:main", "TOP", 5)
	do(t, c, "GEN", "agent:main", " Then a monster", "SEED", 9, "MAXTOKENS", 15)
	want(t, c, pos, "ROLLBACK", "agent:main", "TO", "turn1")
	want(t, c, tokens, "TOKENS", "agent:main")
	want(t, c, logits, "LOGITS", "agent:main", "TOP", 5)
	// Continuing gives exactly what continuing from the turn would have.
	next := str(t, c, "GEN", "agent:main", " She smiled", "SEED", 4, "MAXTOKENS", 25)
	want(t, c, next, "GEN", "agent:ref", " She smiled", "SEED", 4, "MAXTOKENS", 25)
	want(t, c, do(t, c, "TOKENS", "agent:ref"), "TOKENS", "agent:main")
	// ROLLBACK -k and n.
	l := num(t, c, "ROLLBACK", "agent:main", -3)
	want(t, c, l-2, "ROLLBACK", "agent:main", l-2)
	wantErrPrefix(t, c, "ERR position out of range", "ROLLBACK", "agent:main", l+5)
	wantErr(t, c, "ERR no such checkpoint 'nope'", "ROLLBACK", "agent:main", "TO", "nope")
}

func TestGenStreamsPiecesAndRepliesStats(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	ctx := context.Background()
	ps := c.Subscribe(ctx, "__gen__:story")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	text := str(t, c, "GEN", "story", "Once upon a time", "STREAM", "SEED", 5, "MAXTOKENS", 30)
	var got strings.Builder
	for {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Payload == "" {
			break
		}
		got.WriteString(m.Payload)
	}
	if got.String() != text {
		t.Errorf("streamed %q, replied %q", got.String(), text)
	}
	// WITHSTATS: a flat array in RESP2, a map in RESP3.
	flat, ok := do(t, c, "GEN", "story", " The end", "MAXTOKENS", 5, "WITHSTATS").([]any)
	if !ok || len(flat) != 16 || flat[0] != "text" || flat[6] != "disk_cached_tokens" || flat[8] != "generated_tokens" || flat[9] != int64(5) {
		t.Fatalf("WITHSTATS RESP2: %v", flat)
	}
	c3 := client3(t)
	do(t, c3, "PREFILL", "s3", "Once upon a time")
	m, ok := do(t, c3, "GEN", "s3", "", "MAXTOKENS", 3, "WITHSTATS").(map[any]any)
	if !ok || m["generated_tokens"] != int64(3) || m["stop_reason"] != "length" || m["prompt_tokens"] != int64(0) {
		t.Fatalf("WITHSTATS RESP3: %v", m)
	}
	// RESP3 types: counts are integers, times doubles (RESP2: strings).
	for k, v := range m {
		switch k {
		case "prefill_ms", "decode_ms":
			if f, ok := v.(float64); !ok || f < 0 {
				t.Errorf("WITHSTATS RESP3 %s = %#v, want a double >= 0", k, v)
			}
		case "prompt_tokens", "cached_tokens", "disk_cached_tokens", "generated_tokens":
			if _, ok := v.(int64); !ok {
				t.Errorf("WITHSTATS RESP3 %s = %#v, want an integer", k, v)
			}
		}
	}
	if f, ok := m["decode_ms"].(float64); !ok || f <= 0 {
		t.Errorf("WITHSTATS RESP3 decode_ms of 3 tokens = %#v", m["decode_ms"])
	}
	if s, ok := flat[13].(string); !ok || flat[12] != "prefill_ms" || strings.Count(s, ".") != 1 {
		t.Errorf("WITHSTATS RESP2 prefill_ms = %#v, want a decimal string", flat[13])
	}
	// STOP strings end the text before them.
	full := str(t, c, "GEN", "g1", "Once upon a time", "TEMPERATURE", 0, "MAXTOKENS", 40)
	if i := strings.Index(full, "."); i >= 0 {
		want(t, c, full[:i], "GEN", "g2", "Once upon a time", "TEMPERATURE", 0, "MAXTOKENS", 40, "STOP", ".")
	}
}

func TestSessionsObeyTheKeyspace(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	do(t, c, "GEN", "s", "Once upon a time", "MAXTOKENS", 5)
	want(t, c, "kvstate", "TYPE", "s")
	want(t, c, "paged", "OBJECT", "ENCODING", "s")
	want(t, c, int64(1), "EXISTS", "s")
	if num(t, c, "MEMORY", "USAGE", "s") <= 0 {
		t.Errorf("MEMORY USAGE of a session")
	}
	do(t, c, "SET", "str", "x")
	want(t, c, []any{"0", []any{"s"}}, "SCAN", 0, "TYPE", "kvstate")
	wantErrPrefix(t, c, "WRONGTYPE", "GET", "s")
	wantErrPrefix(t, c, "WRONGTYPE", "GEN", "str", "hi")
	wantErrPrefix(t, c, "WRONGTYPE", "TOKENS", "str")
	// COPY is a fork: independent afterwards.
	want(t, c, int64(1), "COPY", "s", "c")
	before := do(t, c, "TOKENS", "s")
	do(t, c, "GEN", "c", " more", "MAXTOKENS", 5)
	want(t, c, before, "TOKENS", "s")
	want(t, c, int64(0), "FORK", "s", "c")
	want(t, c, int64(1), "FORK", "s", "c", "REPLACE")
	want(t, c, before, "TOKENS", "c")
	wantErr(t, c, "ERR no such key", "FORK", "missing", "x")
	// Expiry and deletion.
	want(t, c, int64(1), "EXPIRE", "c", 100)
	want(t, c, int64(1), "DEL", "c")
	if n := infoField(t, c, "inference", "sessions"); n != "1" {
		t.Errorf("INFO inference sessions:%s, want 1", n)
	}
	// PREFILL IDS out of range appends nothing.
	n := num(t, c, "PREFILL", "s", "IDS", 1, 2, 3)
	wantErrPrefix(t, c, "ERR token id '99999' out of range", "PREFILL", "s", "IDS", 5, 99999)
	want(t, c, n+1, "PREFILL", "s", "IDS", 1)
	want(t, c, n, "ROLLBACK", "s", n)
	// Text and token utilities.
	ids := do(t, c, "TOKENIZE", "Once upon a time").([]any)
	args := []any{"DETOKENIZE"}
	args = append(args, ids...)
	if got := str(t, c, args...); strings.TrimSpace(got) != "Once upon a time" {
		t.Errorf("DETOKENIZE(TOKENIZE) = %q", got)
	}
	do(t, c, "PREFILL", "t", "Once upon a time")
	want(t, c, "Once upon a time", "TEXT", "t")
	// Text appended to a session continues it: no space comes between, and
	// TOKENIZE gives the ids it appends.
	do(t, c, "PREFILL", "u", "The cat sat")
	do(t, c, "PREFILL", "u", " on the mat")
	want(t, c, "The cat sat on the mat", "TEXT", "u")
	do(t, c, "PREFILL", "w", "ti")
	do(t, c, "PREFILL", "w", "me")
	want(t, c, "time", "TEXT", "w")
	me := do(t, c, "TOKENIZE", "me").([]any)
	want(t, c, me, "TOKENS", "w", -len(me), -1)
	do(t, c, "GEN", "w", " and", "MAXTOKENS", 0)
	want(t, c, "time and", "TEXT", "w")
	top := do(t, c, "LOGITS", "t", "TOP", 3).([]any)
	if len(top) != 3 || len(top[0].([]any)) != 3 {
		t.Fatalf("LOGITS TOP 3: %v", top)
	}
	model := do(t, c, "MODEL").([]any)
	if model[0] != "architecture" || model[1] != "llama" {
		t.Errorf("MODEL: %v", model)
	}
	if infoField(t, c, "model", "architecture") != "llama" {
		t.Errorf("INFO model")
	}
	// COMMAND INFO describes the session commands from the table.
	info := fmt.Sprint(do(t, c, "COMMAND", "INFO", "gen", "logits"))
	for _, w := range []string{"gen -3 [write denyoom noscript blocking no_multi]", "logits -2 [readonly"} {
		if !strings.Contains(info, w) {
			t.Errorf("COMMAND INFO lacks %q: %s", w, info)
		}
	}
	// GEN blocks, so it can't run inside MULTI.
	tx := conn(t, c)
	do(t, tx, "MULTI")
	wantErr(t, tx, "ERR Command not allowed inside a transaction", "GEN", "s", "hi")
	wantErrPrefix(t, tx, "EXECABORT", "EXEC")
}

func TestARunningGenMakesItsKeyBusyAndQueuesTheNext(t *testing.T) {
	onlyReddwarf(t)
	// One prompt token per step makes a GEN long enough to watch.
	s := startServer(t, "--prefill-chunk", "1")
	c := ownClient(t, s, 2)
	ctx := context.Background()
	do(t, c, "PREFILL", "k", "Once upon a time")
	tokens := do(t, c, "TOKENS", "k")
	done := make(chan *redis.Cmd, 2)
	go func() { done <- c.Do(ctx, "GEN", "k", longPrompt, "MAXTOKENS", 5) }()
	time.Sleep(20 * time.Millisecond)
	go func() { done <- c.Do(ctx, "GEN", "k", " again", "MAXTOKENS", 5) }()
	deadline := time.Now().Add(5 * time.Second)
	for infoField(t, c, "inference", "active_gens") != "1" || infoField(t, c, "inference", "queued_gens") != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("never saw one active and one queued GEN")
		}
		time.Sleep(time.Millisecond)
	}
	wantErrPrefix(t, c, "BUSY", "DEL", "k")
	wantErrPrefix(t, c, "BUSY", "ROLLBACK", "k", 1)
	wantErrPrefix(t, c, "BUSY", "RENAME", "k", "k2")
	// FLUSHALL is not refused: it ends the jobs (TestFlushWhileGensRunEndsThem).
	wantErrPrefix(t, c, "BUSY", "SET", "k", "x")
	wantErrPrefix(t, c, "BUSY", "EXPIRE", "k", 0)
	wantErrPrefix(t, c, "BUSY", "SWAPDB", 1, 0)
	// CHECKPOINT and FORK of a busy key are fine: they see the state before.
	want(t, c, int64(5), "CHECKPOINT", "k", "before")
	want(t, c, int64(1), "FORK", "k", "k2")
	want(t, c, tokens, "TOKENS", "k2")
	// Reads see the state before the GEN.
	want(t, c, tokens, "TOKENS", "k")
	for i := 0; i < 2; i++ {
		if r := <-done; r.Err() != nil {
			t.Fatal(r.Err())
		}
	}
	want(t, c, int64(1), "DEL", "k")
}

func TestADisconnectedGenLeavesTheKeyAsItWas(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--prefill-chunk", "1")
	c := ownClient(t, s, 2)
	do(t, c, "PREFILL", "k", "Once upon a time")
	tokens := do(t, c, "TOKENS", "k")
	for _, key := range []string{"k", "new"} {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		before, _ := strconv.Atoi(infoField(t, c, "inference", "tokens_prefilled"))
		fmt.Fprintf(nc, "*3\r\n$3\r\nGEN\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(longPrompt), longPrompt)
		deadline := time.Now().Add(20 * time.Second)
		for infoField(t, c, "inference", "active_gens") != "1" {
			if time.Now().After(deadline) {
				t.Fatal("GEN never started")
			}
			time.Sleep(time.Millisecond)
		}
		// Disconnect once a few pages are computed (not after a fixed time:
		// a loaded machine may be slow), well before the prompt's end.
		for {
			n, _ := strconv.Atoi(infoField(t, c, "inference", "tokens_prefilled"))
			if n-before >= 3*32 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("GEN made no progress")
			}
			time.Sleep(time.Millisecond)
		}
		nc.Close()
		for infoField(t, c, "inference", "active_gens") != "0" {
			if time.Now().After(deadline) {
				t.Fatal("GEN never ended")
			}
			time.Sleep(time.Millisecond)
		}
	}
	want(t, c, tokens, "TOKENS", "k")
	want(t, c, int64(0), "EXISTS", "new")
	// The computed pages stayed in the prefix cache: a retry reuses them.
	st := do(t, c, "GEN", "new", longPrompt, "MAXTOKENS", 1, "WITHSTATS").([]any)
	if st[4] != "cached_tokens" || st[5].(int64) < 32 {
		t.Errorf("retry after disconnect: %v", st)
	}
}

// Mistakes in session commands are named: the GEN option, the counts
// behind a full context, a token id that is not a number (as Redis says
// of any integer argument).
func TestSessionErrorsNameTheMistake(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	wantErr(t, c, "ERR syntax error: unknown GEN option 'MAXTOKEN'", "GEN", "k", "hi", "MAXTOKEN", 3)
	wantErr(t, c, "ERR syntax error: GEN option MAXTOKENS needs a value", "GEN", "k", "hi", "MAXTOKENS")
	wantErr(t, c, "ERR syntax error: unknown GEN option 'b'", "GEN", "k", "hi", "STOP", "a", "b")
	wantErr(t, c, "ERR syntax error: GEN option THINK goes after CHAT", "GEN", "k", "hi", "THINK")
	wantErr(t, c, "ERR value is not an integer or out of range", "DETOKENIZE", "abc")
	wantErr(t, c, "ERR value is not an integer or out of range", "PREFILL", "k", "IDS", "1", "x")
	wantErr(t, c, "ERR token id '-1' out of range [0, 512)", "DETOKENIZE", "-1")
	want(t, c, int64(0), "EXISTS", "k")
}

func TestContextAndMemoryLimits(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--ctx", "64")
	c := ownClient(t, s, 2)
	wantErrPrefix(t, c, "ERR context window full: the session has 0 tokens and the prompt needs ", "GEN", "k", longPrompt)
	want(t, c, int64(0), "EXISTS", "k")
	st := do(t, c, "GEN", "k", "Once upon a time", "MAXTOKENS", 500, "TEMPERATURE", 0, "WITHSTATS").([]any)
	if r := st[11]; r != "context" && r != "eos" {
		t.Errorf("stop reason %v", r)
	}
	do(t, c, "CONFIG", "SET", "maxmemory", "1") // below the live heap: what a GEN adds cannot fit
	wantErrPrefix(t, c, "OOM", "GEN", "k2", "hi")
}

func TestAFinishedGenTouchesWatchersAndCountsInInfo(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	do(t, c, "PREFILL", "k", "Once upon a time")
	tx := conn(t, c)
	do(t, tx, "WATCH", "k")
	do(t, c, "GEN", "k", " there", "MAXTOKENS", 3)
	do(t, tx, "MULTI")
	do(t, tx, "SET", "other", "1")
	want(t, tx, nil, "EXEC")
	before := infoField(t, c, "inference", "tokens_generated")
	do(t, c, "GEN", "k", "", "MAXTOKENS", 4, "SEED", 1, "TEMPERATURE", 0)
	after := infoField(t, c, "inference", "tokens_generated")
	if before == after {
		t.Errorf("tokens_generated did not move: %s", after)
	}
	for _, f := range []string{"kv_bytes", "kv_pages", "engine_steps", "last_step_ms", "prefix_cache_hit_tokens", "tokens_prefilled"} {
		infoField(t, c, "inference", f)
	}
	// The default INFO includes both sections.
	all := str(t, c, "INFO")
	if !strings.Contains(all, "# Inference") || !strings.Contains(all, "# Model") {
		t.Errorf("default INFO lacks the inference or model section")
	}
}

func TestReadsOfAMissingSessionAreEmpty(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	want(t, c, []any{}, "TOKENS", "nope")
	want(t, c, "", "TEXT", "nope")
	want(t, c, []any{}, "LOGITS", "nope")
	want(t, c, []any{}, "CHECKPOINTS", "nope")
	wantErr(t, c, "ERR no such key", "ROLLBACK", "nope", 0)
	wantErr(t, c, "ERR no such key", "CHECKPOINT", "nope")
	// Bad options fail before anything runs.
	wantErr(t, c, "ERR syntax error: unknown GEN option 'BOGUS'", "GEN", "k", "hi", "BOGUS")
	wantErr(t, c, "ERR MAXTOKENS must be an integer >= 0", "GEN", "k", "hi", "MAXTOKENS", -1)
	wantErr(t, c, "ERR TOPP must be in (0, 1]", "GEN", "k", "hi", "TOPP", 0)
	wantErr(t, c, "ERR value is not a valid float", "GEN", "k", "hi", "TEMPERATURE", "hot")
	wantErr(t, c, "ERR syntax error: GEN option THINK goes after CHAT", "GEN", "k", "hi", "THINK")
	wantErrPrefix(t, c, "ERR session key too long", "GEN", strings.Repeat("k", 5000), "hi")
	want(t, c, int64(0), "EXISTS", "k")
	// A GEN with MAXTOKENS 0 only prefills.
	want(t, c, "", "GEN", "k", "Once upon a time", "MAXTOKENS", 0)
	if n := len(do(t, c, "TOKENS", "k").([]any)); n < 2 {
		t.Errorf("GEN MAXTOKENS 0 left %d tokens", n)
	}
	// COMMAND GETKEYS knows where FORK's keys are.
	want(t, c, []any{"a", "b"}, "COMMAND", "GETKEYS", "FORK", "a", "b")
}

// MODEL's field names are INFO model's, and OBJECT HELP names the encoding
// OBJECT ENCODING gives a session.
func TestModelAndObjectHelpAgreeWithTheServer(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	info := str(t, c, "INFO", "model")
	fields := do(t, c, "MODEL").([]any)
	for i := 0; i < len(fields); i += 2 {
		if k := fields[i].(string); !strings.Contains(info, "\r\n"+k+":") {
			t.Errorf("MODEL field %q is not in INFO model:\n%s", k, info)
		}
	}
	do(t, c, "GEN", "helpme", "Once", "MAXTOKENS", 1)
	enc := str(t, c, "OBJECT", "ENCODING", "helpme")
	if help := fmt.Sprint(do(t, c, "OBJECT", "HELP")); !strings.Contains(help, enc) {
		t.Errorf("OBJECT HELP does not name the encoding %q:\n%s", enc, help)
	}
}
