package session

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"reddwarf/infer"
	"reddwarf/infer/tokenizer"
	"reddwarf/metalkit"
	"reddwarf/models"
	"reddwarf/server"
)

// newTestEngine serves the embedded stories260K (f32 KV, so recomputed
// logits can be compared tightly) on a server that is never started: the
// test goroutine plays the loop.
func newTestEngine(t testing.TB, ctx int) (*Engine, *server.Server) {
	t.Helper()
	return newTestEngineKV(t, ctx, "f32")
}

func newTestEngineKV(t testing.TB, ctx int, kv string) (*Engine, *server.Server) {
	t.Helper()
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Threads: 2, Ctx: ctx, KVType: kv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv := server.New(server.NewConfig())
	e, err := NewEngine(srv, srv.Config, m)
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(e.Hooks())
	return e, srv
}

// run drives the engine until no job is left.
func run(e *Engine) {
	for e.HasWork() {
		e.Step()
	}
}

func (e *Engine) enc(text string) []int32 {
	return e.Tok.Encode(text, tokenizer.EncodeOptions{})
}

// gen runs one GEN to completion and returns the finished job.
func gen(t testing.TB, e *Engine, db *server.DB, key, prompt string, opt GenOptions) *Job {
	t.Helper()
	j := NewGen(db, key, e.enc(prompt), true, opt)
	e.queue(j)
	run(e)
	if j.Err != nil {
		t.Fatalf("GEN %s %q: %v", key, prompt, j.Err)
	}
	return j
}

func prefill(t testing.TB, e *Engine, db *server.DB, key, text string) *Job {
	t.Helper()
	j := NewPrefill(db, key, e.enc(text), true)
	e.queue(j)
	run(e)
	if j.Err != nil {
		t.Fatalf("PREFILL %s: %v", key, j.Err)
	}
	return j
}

func sess(t testing.TB, db *server.DB, key string) *Session {
	t.Helper()
	o := db.Peek(key)
	if o == nil {
		t.Fatalf("key %s missing", key)
	}
	return o.Val.(*Session)
}

func seeded(seed uint64, n int) GenOptions {
	o := DefaultGenOptions()
	o.MaxTokens = n
	o.Sampler.Seed, o.HasSeed = seed, true
	return o
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestGenSameSeedSameText(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	a := gen(t, e, db, "a", "Once upon a time", seeded(7, 40))
	b := gen(t, e, db, "b", "Once upon a time", seeded(7, 40))
	c := gen(t, e, db, "c", "Once upon a time", seeded(8, 40))
	if string(a.Text) != string(b.Text) {
		t.Fatalf("same seed, different text:\n%q\n%q", a.Text, b.Text)
	}
	if string(a.Text) == string(c.Text) {
		t.Errorf("seeds 7 and 8 gave the same 40 tokens: %q", a.Text)
	}
	if a.GeneratedTokens == 0 || a.PromptTokens != len(e.enc("Once upon a time"))+1 {
		t.Errorf("generated %d, prompt %d", a.GeneratedTokens, a.PromptTokens)
	}
	s := sess(t, db, "a")
	if s.State.Tokens()[0] != e.Tok.BOS() {
		t.Errorf("new session does not start with BOS")
	}
	// The reply is what the session's text gained.
	full := e.Tok.Decode(s.State.Tokens())
	if !strings.HasSuffix(full, string(a.Text)) {
		t.Errorf("session text %q does not end with the reply %q", full, a.Text)
	}
	if cp, ok := s.Checkpoint("gen"); !ok || cp.Pos != 0 {
		t.Errorf("automatic checkpoint: %+v %v", cp, ok)
	}
}

func TestStopStringAndReasons(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	greedy := DefaultGenOptions()
	greedy.Sampler = infer.SamplerConfig{}
	greedy.MaxTokens = 60
	full := gen(t, e, db, "full", "Once upon a time", greedy)
	if full.StopReason != StopLength || full.GeneratedTokens != 60 {
		t.Fatalf("reason %s, %d tokens", full.StopReason, full.GeneratedTokens)
	}
	// Stop at four bytes from the middle of the greedy text, which must
	// occur (at their first occurrence, maybe earlier).
	if len(full.Text) < 8 {
		t.Fatalf("greedy text %q: too short to pick a stop string from", full.Text)
	}
	stop := string(full.Text[len(full.Text)/2:][:4])
	at := strings.Index(string(full.Text), stop)
	o := greedy
	o.Stops = []string{stop, "never appears"}
	j := gen(t, e, db, "stopped", "Once upon a time", o)
	if j.StopReason != StopString || string(j.Text) != string(full.Text[:at]) {
		t.Errorf("STOP: reason %s text %q, want %q", j.StopReason, j.Text, full.Text[:at])
	}
	o = greedy
	o.MaxTokens = 0
	j = gen(t, e, db, "zero", "Once upon a time", o)
	if j.StopReason != StopLength || len(j.Text) != 0 || sess(t, db, "zero").State.Logits() == nil {
		t.Errorf("MAXTOKENS 0: reason %s text %q", j.StopReason, j.Text)
	}
}

func TestContextLimit(t *testing.T) {
	e, srv := newTestEngine(t, 40)
	db := srv.DBs[0]
	o := seeded(1, 1000)
	j := gen(t, e, db, "k", "Once upon a time", o)
	if j.StopReason != StopContext && j.StopReason != StopEOS {
		t.Fatalf("reason %s", j.StopReason)
	}
	if n := sess(t, db, "k").State.Len(); n > 40 {
		t.Fatalf("session holds %d tokens, ctx 40", n)
	}
	// A prompt that can't fit fails and leaves the key as it was.
	before := slices.Clone(sess(t, db, "k").State.Tokens())
	long := NewGen(db, "k", e.enc(strings.Repeat("the cat sat. ", 20)), true, o)
	e.queue(long)
	run(e)
	if !errors.Is(long.Err, ErrContextFull) {
		t.Fatalf("err %v, want context window full", long.Err)
	}
	if !slices.Equal(before, sess(t, db, "k").State.Tokens()) {
		t.Fatalf("failed GEN changed the key")
	}
}

func TestForkIsolation(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	gen(t, e, db, "src", "Once upon a time there was a dog", seeded(1, 50))
	src := sess(t, db, "src")
	toks := slices.Clone(src.State.Tokens())
	logits := slices.Clone(src.State.Logits())
	db.Set("dst", server.NewValue(server.TypeKVState, src.Clone()), false)
	dst := sess(t, db, "dst")
	// Pages are shared, not copied.
	sp, dp := src.State.PageRefs(nil), dst.State.PageRefs(nil)
	for i := range sp {
		if sp[i] != dp[i] {
			t.Fatalf("page %d copied by the fork", i)
		}
	}
	gen(t, e, db, "dst", " The dog ran", seeded(2, 30))
	if !slices.Equal(toks, src.State.Tokens()) || maxDiff(logits, src.State.Logits()) != 0 {
		t.Fatalf("GEN on the fork changed the source")
	}
	// The source continues exactly as it would have without the fork.
	alone, asrv := newTestEngine(t, 0)
	adb := asrv.DBs[0]
	gen(t, alone, adb, "src", "Once upon a time there was a dog", seeded(1, 50))
	want := gen(t, alone, adb, "src", " and", seeded(3, 20))
	got := gen(t, e, db, "src", " and", seeded(3, 20))
	if string(want.Text) != string(got.Text) {
		t.Errorf("source after fork: %q, alone: %q", got.Text, want.Text)
	}
	// Memory is shared fairly: a page two sessions hold counts half to each.
	pb := src.State.Layout().PageBytes()
	a := server.NewValue(server.TypeKVState, src.Clone())
	shared := src.State.PageRefs(nil)
	var fair int64
	for _, r := range shared {
		fair += pb / int64(r.Refs())
	}
	mu := src.MemoryUsage()
	if kv := mu - (4*int64(src.State.Len()) + 4*int64(len(src.State.Logits()))); kv < fair || kv > fair+4096 {
		t.Errorf("MEMORY USAGE counts %d bytes of KV, want about %d (pages %d, each %d bytes)", kv, fair, len(shared), pb)
	}
	a.Val.Release()
}

func TestRollbackExact(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	prefill(t, e, db, "s", "Once upon a time there was a little girl named Lily.")
	n := sess(t, db, "s").State.Len()
	gen(t, e, db, "s", " She liked", seeded(5, 70))
	s := sess(t, db, "s")
	if s.State.Len() <= n+PageTokensForTest {
		t.Fatalf("session too short for a page-crossing rollback: %d", s.State.Len())
	}
	// ROLLBACK to n+5: no checkpoint there, so the logits are recomputed;
	// they match a fresh prefill of the same tokens.
	m := n + 5
	want := slices.Clone(s.State.Tokens()[:m])
	if err := e.Rollback(s, m); err != nil {
		t.Fatal(err)
	}
	fj := NewPrefill(db, "fresh", want, false)
	e.queue(fj)
	run(e)
	f := sess(t, db, "fresh")
	if !slices.Equal(s.State.Tokens(), f.State.Tokens()) {
		t.Fatalf("tokens after rollback differ from a fresh prefill")
	}
	if d := maxDiff(s.State.Logits(), f.State.Logits()); d > 1e-4 {
		t.Fatalf("logits after rollback differ from a fresh prefill by %g", d)
	}
	// Continuing gives the same text as continuing the fresh session.
	a := gen(t, e, db, "s", " She", seeded(9, 30))
	b := gen(t, e, db, "fresh", " She", seeded(9, 30))
	if string(a.Text) != string(b.Text) {
		t.Errorf("after rollback %q, fresh %q", a.Text, b.Text)
	}
	// Out of range leaves the session unchanged.
	l := s.State.Len()
	if err := e.Rollback(s, l+1); err == nil || s.State.Len() != l {
		t.Errorf("rollback past the end: %v, len %d", err, s.State.Len())
	}
}

// PageTokensForTest keeps the test readable.
const PageTokensForTest = infer.PageTokens

func TestCheckpointLogitsAndGenCheckpoint(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	prefill(t, e, db, "s", "Once upon a time")
	s := sess(t, db, "s")
	pos, _ := s.SetCheckpoint("start")
	want := slices.Clone(s.State.Logits())
	first := gen(t, e, db, "s", "", seeded(11, 40))
	// ROLLBACK TO start: bit-exact logits from the checkpoint.
	cp, _ := s.Checkpoint("start")
	if err := e.Rollback(s, cp.Pos); err != nil {
		t.Fatal(err)
	}
	if s.State.Len() != pos || maxDiff(want, s.State.Logits()) != 0 {
		t.Fatalf("rollback to checkpoint: len %d/%d, logits diff %g", s.State.Len(), pos, maxDiff(want, s.State.Logits()))
	}
	again := gen(t, e, db, "s", "", seeded(11, 40))
	if string(first.Text) != string(again.Text) {
		t.Fatalf("regenerating from the checkpoint: %q vs %q", again.Text, first.Text)
	}
	// GEN's automatic checkpoint is where the last GEN started.
	gcp, ok := s.Checkpoint("gen")
	if !ok || gcp.Pos != pos {
		t.Fatalf("gen checkpoint %+v, want pos %d", gcp, pos)
	}
	// Checkpoints past a rollback point are dropped.
	s.SetCheckpoint("end")
	if err := e.Rollback(s, pos-1); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Checkpoint("end"); ok {
		t.Errorf("checkpoint past the rollback point survived")
	}
}

func TestCancelLeavesKeyUntouched(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	prefill(t, e, db, "s", "Once upon a time")
	s := sess(t, db, "s")
	toks := slices.Clone(s.State.Tokens())
	logits := slices.Clone(s.State.Logits())

	long := strings.Repeat(" the little dog ran to the park and played with a ball.", 8)
	j := NewGen(db, "s", e.enc(long), true, seeded(1, 100))
	e.queue(j)
	if !e.KeyBusy(db, "s") || !e.DBBusy(db) {
		t.Fatalf("key not busy with a queued GEN")
	}
	e.Step()
	e.Step()
	e.Cancel(j)
	run(e)
	if e.KeyBusy(db, "s") {
		t.Fatalf("key still busy after cancel")
	}
	if !slices.Equal(toks, s.State.Tokens()) || maxDiff(logits, s.State.Logits()) != 0 {
		t.Fatalf("canceled GEN changed the key")
	}
	// A canceled GEN on a new key leaves it absent.
	k := NewGen(db, "new", e.enc(long), true, seeded(1, 100))
	e.queue(k)
	e.Step()
	e.Step()
	e.Cancel(k)
	run(e)
	if db.Peek("new") != nil {
		t.Fatalf("canceled GEN created its key")
	}
	// The work stays in the prefix cache: a retry reuses it.
	r := gen(t, e, db, "new", long, seeded(1, 5))
	if r.CachedTokens < PageTokensForTest {
		t.Errorf("retry reused %d cached tokens", r.CachedTokens)
	}
}

func TestSecondGenQueues(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	a := NewGen(db, "k", e.enc("Once upon a time"), true, seeded(1, 10))
	b := NewGen(db, "k", e.enc(" The end"), true, seeded(2, 10))
	var order []*Job
	a.OnDone = func(j *Job) { order = append(order, j) }
	b.OnDone = func(j *Job) { order = append(order, j) }
	e.queue(a)
	e.queue(b)
	e.Step()
	if e.Active() != 1 || e.Queued() != 1 {
		t.Fatalf("active %d queued %d, want 1 and 1", e.Active(), e.Queued())
	}
	run(e)
	if len(order) != 2 || order[0] != a || order[1] != b {
		t.Fatalf("jobs finished out of order")
	}
	if a.Err != nil || b.Err != nil {
		t.Fatal(a.Err, b.Err)
	}
	if n := sess(t, db, "k").State.Len(); n != b.Tokens || b.Tokens <= a.Tokens {
		t.Fatalf("second GEN did not extend the first: %d %d %d", a.Tokens, b.Tokens, n)
	}
}

func TestConcurrentGensMatchAlone(t *testing.T) {
	for _, kv := range []string{"f32", "f16"} {
		t.Run(kv, func(t *testing.T) { concurrentGensMatchAlone(t, kv) })
	}
}

// concurrentGensMatchAlone: the same seed gives the same text whether a
// GEN shares its steps with others or runs alone.
func concurrentGensMatchAlone(t *testing.T, kv string) {
	e, srv := newTestEngineKV(t, 0, kv)
	db := srv.DBs[0]
	prompts := []string{"Once upon a time", "The cat", "Lily had a big red ball", "Tom"}
	var jobs []*Job
	for i, p := range prompts {
		j := NewGen(db, string(rune('a'+i)), e.enc(p), true, seeded(uint64(i), 30))
		e.queue(j)
		jobs = append(jobs, j)
	}
	run(e)
	for i, p := range prompts {
		alone := gen(t, e, db, "alone", p, seeded(uint64(i), 30))
		db.Delete("alone")
		if string(alone.Text) != string(jobs[i].Text) {
			t.Errorf("%q batched: %q alone: %q", p, jobs[i].Text, alone.Text)
		}
	}
}

func TestPageRefsReachZero(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	gen(t, e, db, "a", "Once upon a time there was a dog named Max.", seeded(1, 80))
	db.Set("b", server.NewValue(server.TypeKVState, sess(t, db, "a").Clone()), false)
	gen(t, e, db, "b", " Max", seeded(2, 40))
	var refs []infer.PageRef
	refs = sess(t, db, "a").State.PageRefs(refs)
	refs = sess(t, db, "b").State.PageRefs(refs)
	refs = e.Cache().CachedPageRefs(refs)
	if len(refs) == 0 {
		t.Fatal("no pages")
	}
	before := e.Sessions().Len()
	// Distinct pages the two sessions hold that the cache does not.
	inCache := map[infer.PageRef]bool{}
	for _, r := range e.Cache().CachedPageRefs(nil) {
		inCache[r] = true
	}
	own := map[infer.PageRef]bool{}
	for _, r := range refs {
		if !inCache[r] {
			own[r] = true
		}
	}
	pagesBefore, _ := e.KVUsage()
	db.Delete("a")
	srv.DBs[0].Flush()
	if e.Sessions().Len() != before-2 {
		t.Errorf("live sessions %d, want %d", e.Sessions().Len(), before-2)
	}
	// Only the prefix cache holds pages now; dropping it frees them all.
	for _, r := range refs {
		if r.Refs() > 1 {
			t.Fatalf("page still held %d times after DEL and FLUSH", r.Refs())
		}
	}
	if pages, _ := e.KVUsage(); pages != pagesBefore-len(own) {
		t.Errorf("kv pages %d after DEL and FLUSH, want %d - %d", pages, pagesBefore, len(own))
	}
	e.Cache().Clear()
	for _, r := range refs {
		if r.Refs() != 0 {
			t.Fatalf("page refs %d after the cache let go", r.Refs())
		}
	}
}

func TestPrefixReuseAcrossKeys(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	system := "Once upon a time there was a little girl named Lily. She loved to play with her toys. One day she found a big box in the garden."
	greedy := DefaultGenOptions()
	greedy.Sampler = infer.SamplerConfig{}
	greedy.MaxTokens = 20
	cold := gen(t, e, db, "one", system+" She opened it", greedy)
	if cold.CachedTokens != 0 {
		t.Fatalf("cold GEN reused %d tokens", cold.CachedTokens)
	}
	warm := gen(t, e, db, "two", system+" She opened it", greedy)
	full := (cold.PromptTokens - 1) / PageTokensForTest * PageTokensForTest
	if warm.CachedTokens != full || full == 0 {
		t.Fatalf("warm GEN reused %d tokens, want %d", warm.CachedTokens, full)
	}
	if string(warm.Text) != string(cold.Text) {
		t.Errorf("warm %q cold %q", warm.Text, cold.Text)
	}
	if e.Stats().PrefixHitTokens != int64(full) {
		t.Errorf("prefix hit stat %d", e.Stats().PrefixHitTokens)
	}
	// Same prefix, different ending: the shared pages are reused too.
	other := gen(t, e, db, "three", system+" It was a", greedy)
	if other.CachedTokens == 0 {
		t.Errorf("different ending reused nothing")
	}
}

func TestEmptyPromptSamplesStoredLogits(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	prefill(t, e, db, "s", "Once upon a time")
	steps := e.Stats().Steps
	o := seeded(3, 1)
	j := gen(t, e, db, "s", "", o)
	if j.GeneratedTokens != 1 || j.PromptTokens != 0 {
		t.Fatalf("generated %d prompt %d", j.GeneratedTokens, j.PromptTokens)
	}
	// One step: feeding the sampled token; sampling itself needed no pass.
	if e.Stats().Steps != steps+1 {
		t.Errorf("%d steps for GEN \"\" MAXTOKENS 1", e.Stats().Steps-steps)
	}
}

func TestWrongTypeAtStart(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	db := srv.DBs[0]
	db.Set("str", server.NewString([]byte("x")), false)
	j := NewGen(db, "str", e.enc("hi"), true, seeded(1, 3))
	e.queue(j)
	run(e)
	if j.Err != server.ErrWrongType {
		t.Fatalf("err %v", j.Err)
	}
}

func TestStepBoundsPromptTokens(t *testing.T) {
	e, srv := newTestEngine(t, 0)
	srv.Config.Set("prefill-chunk", "8")
	db := srv.DBs[0]
	long := strings.Repeat(" the dog ran.", 20)
	var jobs []*Job
	for i := 0; i < 6; i++ {
		j := NewGen(db, string(rune('a'+i)), e.enc(long), true, seeded(1, 2))
		e.queue(j)
		jobs = append(jobs, j)
	}
	before := e.Stats().TokensPrefilled
	e.Step()
	if n := e.Stats().TokensPrefilled - before; n != StepPrefillChunks*8 {
		t.Fatalf("one step fed %d prompt tokens, want %d", n, StepPrefillChunks*8)
	}
	run(e)
	for i, j := range jobs {
		if j.Err != nil || j.GeneratedTokens != 2 {
			t.Fatalf("job %d: %v, %d tokens", i, j.Err, j.GeneratedTokens)
		}
		if i > 0 && string(j.Text) != string(jobs[0].Text) {
			t.Errorf("job %d: %q, job 0: %q", i, j.Text, jobs[0].Text)
		}
	}
}

// Submit refuses at once, queueing nothing, what would fail when the job
// starts (the type, the context with BOS counted, a chat format); a job on
// a busy key is admitted and checked when it starts, against the session
// the job before it leaves.
func TestSubmitAdmission(t *testing.T) {
	e, srv := newTestEngine(t, 40)
	db := srv.DBs[0]
	db.Set("str", server.NewString([]byte("x")), false)
	if err := e.Submit(NewGen(db, "str", e.enc("hi"), true, seeded(1, 3))); err != server.ErrWrongType || e.HasWork() {
		t.Fatalf("GEN on a string: %v, work queued %v", err, e.HasWork())
	}
	if e.Chat() == nil {
		if err := e.Submit(NewChatGen(db, "c", "hello", seeded(1, 3))); err != ErrNoChatFormat || e.HasWork() {
			t.Fatalf("GEN CHAT without a chat format: %v", err)
		}
	}
	toks := e.enc(strings.Repeat(" the cat sat on the mat.", 10))
	if len(toks) < 40 {
		t.Fatalf("only %d tokens", len(toks))
	}
	none := seeded(1, 0) // MAXTOKENS 0: only the prompt counts
	if !e.Tok.WantsBOS() {
		t.Fatal("stories260K wants no BOS: the cases below count one")
	}
	// PREFILL IDS adds no BOS: an empty session takes exactly 40 ids.
	ids := NewPrefill(db, "ids", toks[:40], false)
	if err := e.Submit(ids); err != nil {
		t.Fatalf("40 ids in a context of 40: %v", err)
	}
	run(e)
	if ids.Err != nil || ids.Tokens != 40 {
		t.Fatalf("PREFILL IDS of 40: %v, %d tokens", ids.Err, ids.Tokens)
	}
	// 40 tokens and the BOS of an empty session overflow a context of 40.
	if err := e.Submit(NewGen(db, "k", toks[:40], true, none)); !errors.Is(err, ErrContextFull) || e.HasWork() || db.Peek("k") != nil {
		t.Fatalf("40 tokens + BOS in a context of 40: %v, work queued %v", err, e.HasWork())
	}
	a := NewGen(db, "k", toks[:39], true, none)
	if err := e.Submit(a); err != nil {
		t.Fatalf("39 tokens + BOS in a context of 40: %v", err)
	}
	// The key is busy: the next job is admitted unchecked, and fails when
	// it starts on the full session a leaves.
	b := NewGen(db, "k", toks[:10], true, none)
	if err := e.Submit(b); err != nil {
		t.Fatalf("job on a busy key: %v", err)
	}
	run(e)
	if a.Err != nil || !errors.Is(b.Err, ErrContextFull) {
		t.Fatalf("a: %v, b: %v (want nil, %v)", a.Err, b.Err, ErrContextFull)
	}
	// Once the key is free, the same job is refused at once.
	if err := e.Submit(NewGen(db, "k", toks[:10], true, none)); !errors.Is(err, ErrContextFull) || e.HasWork() {
		t.Fatalf("job on the full session: %v", err)
	}
}

// TestDeviceKVFullTrimsPrefixCache: on a device whose KV pool is full
// (stories260K through metalkit.DeviceOnly, a pool of 6 pages), the idle
// pages the prefix cache keeps of a deleted session are dropped to make
// room for a new one's GEN, which generates what it does on a fresh
// engine; a GEN that needs more than the whole pool fails with
// infer.ErrKVFull and the session is left as it was.
func TestDeviceKVFullTrimsPrefixCache(t *testing.T) {
	ref, refSrv := newTestEngineKV(t, 512, "f16")
	m, err := infer.OpenBytes("stories260K", models.Stories260K, infer.Options{Ctx: 512, DeviceKVBytes: 6 * ref.pageBytes(),
		Device: metalkit.DeviceOnly(metalkit.NewCPUDevice(nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv := server.New(server.NewConfig())
	e, err := NewEngine(srv, srv.Config, m)
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(e.Hooks())
	db := srv.DBs[0]
	greedy := DefaultGenOptions()
	greedy.Sampler = infer.SamplerConfig{}
	greedy.MaxTokens = 8
	long := strings.Repeat("The cat sat on the mat. ", 14) // about 100 tokens: 4 pages
	gen(t, e, db, "one", long, greedy)
	db.Delete("one")
	if e.Cache().IdlePages() == 0 {
		t.Fatal("the prefix cache keeps no page of the deleted session")
	}
	other := strings.Repeat("A dog ran in the park. ", 14)
	got := gen(t, e, db, "two", other, greedy)
	if got.CachedTokens != 0 {
		t.Fatalf("reused %d tokens of another prompt", got.CachedTokens)
	}
	if want := gen(t, ref, refSrv.DBs[0], "two", other, greedy); string(got.Text) != string(want.Text) {
		t.Errorf("after the trim: %q, on the host %q", got.Text, want.Text)
	}
	before := sess(t, db, "two").State.Len()
	j := NewGen(db, "two", e.enc(strings.Repeat(" and then a bird sang", 10)), true, greedy)
	e.queue(j)
	run(e)
	if !errors.Is(j.Err, infer.ErrKVFull) {
		t.Fatalf("a GEN past the whole pool: err %v, want ErrKVFull", j.Err)
	}
	if n := sess(t, db, "two").State.Len(); n != before {
		t.Errorf("after the failed GEN the session has %d tokens, before it %d", n, before)
	}
}
