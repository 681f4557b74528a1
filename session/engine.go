package session

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/infer"
	"reddwarf/infer/tokenizer"
	"reddwarf/persist/store"
	"reddwarf/server"
	"reddwarf/session/jsonmask"
)

// DefaultCacheBytes bounds the memory of idle prefix-cache pages (pages no
// session holds any more) kept for reuse.
const DefaultCacheBytes = 256 << 20

// StepPrefillChunks bounds the prompt tokens of one engine step to this
// many prefill-chunks (all jobs together), which bounds the step's scratch
// memory and how long other commands wait.
const StepPrefillChunks = 4

// Errors jobs and commands reply with.
var (
	ErrContextFull = server.Errorf("context window full")
	ErrOOM         = server.CodeError("OOM", "command not allowed when used memory > 'maxmemory'.")
	ErrNoLogits    = server.Errorf("session is empty: give a prompt")
	// ErrStoreFull: the session store reached session-disk-max holding
	// only keys' pages; a GEN would add pages it cannot store.
	ErrStoreFull = server.CodeError("OOM", "session-disk-max reached: the session store holds only keys' pages (DEL sessions, or raise session-disk-max; a rewrite then frees their pages)")
	// ErrFlushed: FLUSHALL or FLUSHDB emptied the job's database.
	ErrFlushed = server.Errorf("the session was flushed (FLUSHALL/FLUSHDB) while the job ran")
	// ErrSessionGone: the key's session expired or was flushed while the
	// job ran; the job's result is dropped (an expired key stays expired).
	ErrSessionGone = server.Errorf("the session expired or was removed while the job ran: its result was discarded")
)

// Engine runs GEN and PREFILL jobs for one model. Everything is called on
// the server's loop goroutine.
type Engine struct {
	Model *infer.Model
	Tok   *tokenizer.Tokenizer
	// CacheBytes bounds the idle pages the prefix cache keeps.
	CacheBytes int64

	ks       Keyspace
	cfg      *server.Config // read live: CONFIG SET applies at once
	chat     *ChatFormat    // nil: the vocabulary has no known chat format
	tmpl     *chatTemplate  // the model's own chat template, preferred; nil: none
	hasThink bool           // the vocabulary has "<think>"
	cache    *infer.PrefixCache
	running  []*Job
	queued   []*Job
	busy     map[keyRef]int // jobs queued or running per key
	rr       int            // rotates which job's prompt goes first in a step
	seeds    uint64         // splitmix64 sequence for new sessions' RNG
	live     *Sessions      // every session of this engine's model
	stats    Stats
	journal  Journal     // the session store's owner (SetJournal), nil: none
	sm       store.Model // what the store's pages are filed under
	// mask is structured output's token masker (format.go), nil until
	// used; built off the loop, read by FreeMemory and INFO on it.
	mask     atomic.Pointer[jsonmask.Masker]
	maskOnce sync.Once
	storable bool // the store can hold the model's sessions as pages (storable)
	paged    bool // the model's sessions are K/V pages only (pagedArch)

	// encodeSlots holds a token per prompt being encoded off the loop
	// (OffLoop); its capacity bounds them.
	encodeSlots chan struct{}
}

type keyRef struct {
	db  int
	key string
}

// Stats are the counters INFO inference reports.
type Stats struct {
	TokensPrefilled int64 // prompt tokens pushed through the model
	TokensGenerated int64
	PrefixHitTokens int64 // prompt tokens reused from the prefix cache
	DiskHitTokens   int64 // of those, read from the session store's pages
	Steps           int64
	LastStep        time.Duration
	StepTime        time.Duration // all steps together
	ForwardTime     time.Duration // of which in Model.Step
}

// Keyspace is what the engine needs of the server beyond the databases
// its jobs name: ending a write as a command does, publishing STREAM
// pieces, and room under maxmemory. *server.Server implements it.
type Keyspace interface {
	// KeyModified ends a job's write to key (WATCH, save points);
	// Notify sends its keyspace event.
	KeyModified(db *server.DB, key string)
	Notify(db *server.DB, event, key string)
	// Publish sends msg to channel's subscribers.
	Publish(channel string, msg []byte) int
	// MemoryFits reports whether need more bytes fit under maxmemory,
	// evicting as maxmemory-policy allows.
	MemoryFits(need int64) bool
	// PropagateRaw logs a committed job's session records (journal.go).
	PropagateRaw(c *server.Client, db *server.DB, rec []byte)
	Logf(level, format string, args ...any)
	// Post runs fn on the loop goroutine (from any goroutine): a prompt
	// encoded again off the loop comes back through it (reencodeLater).
	Post(fn func())
	// ScriptBusy reports a script running past busy-reply-threshold. The
	// server steps the engine meanwhile, but a finished job's result
	// (its key's new session, its client's reply) waits for the script's
	// end, and so do queued jobs (starting one may evict): a script sees
	// no key change under it, as in Redis.
	ScriptBusy() bool
}

// NewEngine makes an engine for m serving ks, configured by cfg
// (prefill-chunk, maxmemory).
func NewEngine(ks Keyspace, cfg *server.Config, m *infer.Model) (*Engine, error) {
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	has := func(text string) bool { _, ok := tok.Lookup(text); return ok }
	return &Engine{
		Model: m, Tok: tok, CacheBytes: DefaultCacheBytes,
		ks: ks, cfg: cfg, cache: infer.NewPrefixCache(m), busy: map[keyRef]int{}, live: NewSessions(),
		seeds: uint64(time.Now().UnixNano()), encodeSlots: make(chan struct{}, encodeSlotsFor(runtime.GOMAXPROCS(0))),
		chat: chatFormat(has), hasThink: has("<think>"), tmpl: newChatTemplate(chatTemplateSource(m), tok),
	}, nil
}

// chatTemplateSource is the model's tokenizer.chat_template, or "".
func chatTemplateSource(m *infer.Model) string {
	src, _ := m.File().String("tokenizer.chat_template")
	return src
}

// Sessions is the set of this engine's sessions not yet released.
func (e *Engine) Sessions() *Sessions { return e.live }

// Codec is the persistence codec of the engine's model; the sessions it
// decodes join Sessions.
func (e *Engine) Codec() (*Codec, error) { return NewCodec(e.Model, e.live) }

// Chat is the model's chat format, or nil.
func (e *Engine) Chat() *ChatFormat { return e.chat }

// Hooks are what the engine plugs into the server (server.Register):
// the loop's step, which keys are busy (the server refuses other writes to
// them, server/doc.go), disconnect handling, INFO inference and model, the
// cron's cache trim, dropping idle cached pages and token masks under
// maxmemory, and that a model is served (commands flagged
// server.FlagModel may run).
func (e *Engine) Hooks() server.Hooks {
	return server.Hooks{
		Name:    "inference",
		HasWork: e.HasWork,
		Step:    e.Step,
		KeyBusy: e.KeyBusy,
		DBBusy:  e.DBBusy,
		EndJobs: e.EndJobs,
		FreeMemory: func() int64 {
			return int64(e.cache.Trim(0))*e.pageBytes() + e.dropMasks()
		},
		ClientGone: func(c *server.Client) {
			if b := c.BlockedOf(); b != nil {
				if j, ok := b.Data.(*Job); ok {
					e.Cancel(j)
				}
			}
		},
		Info: func(name string) []string {
			switch name {
			case "inference", "model":
				return e.Info(name)
			}
			return nil
		},
		InfoNames: []string{"inference", "model"},
		Cron:      e.trimCache,
		Model:     true,
	}
}

// Stats returns the counters.
func (e *Engine) Stats() Stats { return e.stats }

// Cache is the prefix cache.
func (e *Engine) Cache() *infer.PrefixCache { return e.cache }

// HasWork reports whether jobs are queued or running.
func (e *Engine) HasWork() bool { return len(e.running)+len(e.queued) > 0 }

// Active and Queued count running and waiting jobs.
func (e *Engine) Active() int { return len(e.running) }
func (e *Engine) Queued() int { return len(e.queued) }

// KeyBusy reports whether a job is queued or running on key.
func (e *Engine) KeyBusy(db *server.DB, key string) bool {
	return e.busy[keyRef{db.ID, key}] > 0
}

// DBBusy reports whether a job is queued or running on a key of db.
func (e *Engine) DBBusy(db *server.DB) bool {
	for r := range e.busy {
		if r.db == db.ID {
			return true
		}
	}
	return false
}

// Submit admits j and queues it: it starts at the next step once no
// earlier job on its key is left. Every front end (GEN and PREFILL, an
// HTTP request) goes through it; the caller sets OnDone and Owner first,
// and on success waits for OnDone (a RESP client blocks).
//
// Admission refuses at once, queueing nothing, what would fail when the
// job starts: GEN CHAT on a model without a chat format
// (ErrNoChatFormat), a key holding another type (WRONGTYPE), a prompt
// that (with the BOS token the job adds to an empty session) overflows the context
// (ErrContextFull), or one that with the tokens it may generate needs
// memory past maxmemory (ErrOOM). A job on a busy key is admitted unchecked: it is
// checked when it starts, against the session the jobs before it leave.
func (e *Engine) Submit(j *Job) error {
	if j.Opt.Chat && e.chat == nil && e.tmpl == nil {
		return ErrNoChatFormat
	}
	cur := 0
	if o := j.DB.Lookup(j.Key); o != nil {
		if o.Type != server.TypeKVState {
			return server.ErrWrongType
		}
		cur = o.Val.(*Session).State.Len()
	}
	if ds := e.store(); ds != nil && ds.DiskFull() {
		return ErrStoreFull
	}
	if !e.KeyBusy(j.DB, j.Key) {
		n := len(j.prompt)
		if j.Opt.Chat && !j.encoded {
			// Not rendered yet (no Encoder): the user's text, and room
			// for the turn's markers. A turn that failed to render
			// counts nothing: it fails with that error at start.
			n = len(e.Tok.Encode(j.chat, tokenizer.EncodeOptions{ParseSpecial: true})) + chatTurnOverhead
			for _, m := range j.conv {
				n += len(e.Tok.Encode(m.Content, tokenizer.EncodeOptions{ParseSpecial: true})) + chatTurnOverhead
			}
		}
		if cur == 0 && j.addBOS && e.Tok.WantsBOS() {
			n++ // BOS (PREFILL IDS feeds the ids as they are)
		}
		if err := e.CheckAppend(cur, n, j.Opt.MaxTokens); err != nil {
			return err
		}
	}
	e.queue(j)
	return nil
}

// chatTurnOverhead is what admission counts for the markers around a GEN
// CHAT turn (the exact count is known only when the job starts).
const chatTurnOverhead = 8

// queue adds j to the queue without admission.
func (e *Engine) queue(j *Job) {
	e.queued = append(e.queued, j)
	e.busy[keyRef{j.DB.ID, j.Key}]++
}

// Cancel drops a job whose client went away: the key is left as it was;
// the pages computed so far go to the prefix cache. OnDone is not called.
func (e *Engine) Cancel(j *Job) {
	if j.done {
		return
	}
	if j.encodeStop != nil {
		close(j.encodeStop) // its prompt need not be encoded (OffLoop)
	}
	for i, q := range e.queued {
		if q == j {
			e.queued = append(e.queued[:i], e.queued[i+1:]...)
			j.done, j.canceled = true, true
			e.unbusy(j)
			return
		}
	}
	// Running: the next step's reap drops it.
	j.done, j.canceled = true, true
}

// EndJobs ends every job on a key of db (every job, db nil) with
// ErrFlushed, as FLUSHDB/FLUSHALL empties it next: queued jobs join the
// running ones, done, and the next step's reap tells every client and
// drops every result (so no flushed key comes back).
func (e *Engine) EndJobs(db *server.DB) {
	keep := e.queued[:0]
	for _, j := range e.queued {
		if db != nil && j.DB != db {
			keep = append(keep, j)
			continue
		}
		e.fail(j, ErrFlushed)
		e.running = append(e.running, j)
	}
	clear(e.queued[len(keep):])
	e.queued = keep
	for _, j := range e.running {
		if !j.done && (db == nil || j.DB == db) {
			e.fail(j, ErrFlushed)
		}
	}
}

func (e *Engine) unbusy(j *Job) {
	r := keyRef{j.DB.ID, j.Key}
	if e.busy[r]--; e.busy[r] <= 0 {
		delete(e.busy, r)
	}
}

// Step is one engine step: start the jobs whose key is free, run one
// batched forward pass (a prefill chunk per prompt-reading job, one token
// per generating job), sample, and finish the jobs that are done.
func (e *Engine) Step() {
	t0 := time.Now()
	if !e.ks.ScriptBusy() {
		// Starting a job may evict keys to make room (checkMemory): not
		// under a busy script, which must see no key change.
		e.startJobs()
	}
	chunk := int(e.cfg.Int("prefill-chunk"))
	if chunk <= 0 {
		chunk = 256
	}
	// Every generating job feeds its one token; prompt-reading jobs share
	// a budget of StepPrefillChunks chunks, starting at a rotating job so
	// none starves when many prompts arrive at once.
	var batch []infer.Seq
	var fed []*Job
	budget := StepPrefillChunks * chunk
	e.rr++
	for k := range e.running {
		j := e.running[(k+e.rr)%len(e.running)]
		if j.done || len(j.feed) == 0 {
			continue
		}
		n := 1
		if !j.decoding {
			if budget <= 0 {
				continue
			}
			n = min(len(j.feed), chunk, budget)
			budget -= n
		}
		j.feeding = n
		batch = append(batch, infer.Seq{State: j.st, Tokens: j.feed[:n]})
		fed = append(fed, j)
	}
	if len(batch) > 0 {
		tf := time.Now()
		err := e.Model.Step(batch)
		if errors.Is(err, infer.ErrKVFull) && e.cache.Trim(0) > 0 {
			// A device's KV pool is full, and the prefix cache's idle
			// pages hold some of it: drop them and try once more.
			err = e.Model.Step(batch)
		}
		e.stats.ForwardTime += time.Since(tf)
		if err != nil {
			for _, j := range fed {
				e.fail(j, err)
			}
		} else {
			var ready []*Job
			for _, j := range fed {
				if !j.decoding {
					e.stats.TokensPrefilled += int64(j.feeding)
				}
				j.feed = j.feed[j.feeding:]
				if len(j.feed) == 0 {
					ready = append(ready, j)
				}
			}
			presample(ready)
			for _, j := range ready {
				e.afterLogits(j)
			}
		}
		e.stats.Steps++
	}
	e.reap()
	if len(batch) > 0 {
		e.stats.LastStep = time.Since(t0)
		e.stats.StepTime += e.stats.LastStep
	}
}

// startJobs moves queued jobs whose key has no running job to running.
func (e *Engine) startJobs() {
	for i := 0; i < len(e.queued); {
		j := e.queued[i]
		if e.runningOn(j) {
			i++
			continue
		}
		e.queued = append(e.queued[:i], e.queued[i+1:]...)
		if e.reencodeLater(j) {
			continue
		}
		e.running = append(e.running, j)
		if err := e.start(j); err != nil {
			e.fail(j, err)
		}
	}
}

func (e *Engine) runningOn(j *Job) bool {
	for _, r := range e.running {
		if r.DB == j.DB && r.Key == j.Key {
			return true
		}
	}
	return false
}

// start prepares a job: its private clone of the session, the tokens to
// feed, reuse of cached pages, the sampler. An empty GEN prompt samples at
// once from the stored logits.
func (e *Engine) start(j *Job) error {
	j.started = time.Now()
	var base *Session
	if o := j.DB.Peek(j.Key); o != nil {
		if o.Type != server.TypeKVState {
			return server.ErrWrongType
		}
		base = o.Val.(*Session)
		j.obj = o
	}
	rng := e.newSeed()
	if base != nil {
		j.st = base.State.Clone()
		rng = base.RNG
	} else {
		j.st = e.Model.NewState()
	}
	j.startPos = j.st.Len()
	if !j.Prefill {
		j.st.MarkCheckpoint() // the "gen" checkpoint, for architectures with their own state
	}
	if l := j.st.Logits(); l != nil {
		j.startLogits = append([]float32(nil), l...)
	}
	// A text or CHAT prompt encoded for another session than this one
	// (the key changed after the front end encoded it) is encoded again.
	if err := e.promptFor(j, j.st); err != nil {
		return err
	}
	// The tokens to feed.
	feed := make([]int32, 0, len(j.prompt)+1)
	if j.addBOS && j.st.Len() == 0 && e.Tok.WantsBOS() {
		feed = append(feed, e.Tok.BOS())
	}
	feed = append(feed, j.prompt...)
	if len(feed) == 0 && j.st.Logits() == nil && !j.Prefill {
		switch {
		case j.st.Len() > 0: // logits unknown: recompute them from the last token
			last := j.st.Tokens()[j.st.Len()-1]
			if err := j.st.Truncate(j.st.Len() - 1); err != nil {
				return err
			}
			feed = append(feed, last)
		case e.Tok.WantsBOS():
			feed = append(feed, e.Tok.BOS())
		default:
			return ErrNoLogits
		}
	}
	if j.st.Len()+len(feed) > j.st.Cap() {
		return contextFull(j.st.Len(), len(feed), j.st.Cap())
	}
	if err := e.checkMemory(j.st.Len(), len(feed)+min(j.Opt.MaxTokens, j.st.Cap()-j.st.Len()-len(feed))); err != nil {
		return err
	}
	j.PromptTokens = len(feed)
	// Reuse cached pages for a prefix of session + prompt, keeping at least
	// one token to feed so the logits get computed.
	if len(feed) > 0 {
		all := append(append(make([]int32, 0, j.st.Len()+len(feed)), j.st.Tokens()...), feed...)
		if cached, n := e.cache.Lookup(e.Model, all, len(all)-1); cached != nil {
			if n > j.st.Len() {
				j.CachedTokens = n - j.st.Len()
				e.stats.PrefixHitTokens += int64(j.CachedTokens)
				j.st.Release()
				j.st = cached
				feed = all[n:]
			} else {
				cached.Release()
			}
		}
	}
	if len(feed) > 0 {
		feed = e.reuseStored(j, feed)
	}
	j.feed = feed
	if !j.Prefill {
		cfg := j.Opt.Sampler
		j.sampler = infer.NewSampler(cfg)
		if !j.Opt.HasSeed {
			j.sampler.SetRNGState(rng)
		}
		j.dec = e.Tok.NewStreamDecoder()
		if j.Opt.Markers {
			j.dec.KeepMarkers()
		}
		if j.Opt.Format != nil {
			j.matcher, j.masker = jsonmask.NewMatcher(j.Opt.Format), e.masker()
		}
	}
	if len(j.feed) == 0 {
		e.afterLogits(j)
	}
	return nil
}

// afterLogits runs when a job's state has current logits and nothing left
// to feed: PREFILL is done; GEN samples the next token, or finishes.
func (e *Engine) afterLogits(j *Job) {
	if j.Prefill || j.lastFeed {
		j.done = true
		return
	}
	if !j.decoding {
		j.decoding = true
		j.firstSample = time.Now()
	}
	if j.GeneratedTokens >= j.Opt.MaxTokens {
		j.StopReason, j.done = StopLength, true
		return
	}
	t := j.next
	if !j.hasNext {
		t = j.draw()
	}
	j.hasNext = false
	if t < 0 || e.Tok.IsEOG(t) {
		j.StopReason = StopEOS
		if j.Opt.Chat && t >= 0 && j.st.Len() < j.st.Cap() {
			// Keep the end of the assistant's turn in the session, so the
			// next turn follows a closed one.
			j.lastFeed = true
			j.feed = append(j.feed[:0], t)
			return
		}
		j.done = true
		return
	}
	if j.st.Len() >= j.st.Cap() {
		j.StopReason, j.done = StopContext, true
		return
	}
	if j.matcher != nil {
		j.matcher.Feed(j.masker.Piece(t)) // draw allowed it
	}
	if j.Opt.LogProbs {
		j.LogProbs = append(j.LogProbs, tokenLogProb(j.st.Logits(), t, j.Opt.TopLogProbs))
	}
	e.stats.TokensGenerated++
	j.GeneratedTokens++
	piece := j.dec.Push(t)
	j.Text = append(j.Text, piece...)
	if at := j.findStop(len(piece)); at >= 0 {
		j.Text = j.Text[:at]
		j.StopReason, j.lastFeed = StopString, true
	} else if j.GeneratedTokens >= j.Opt.MaxTokens {
		j.StopReason, j.lastFeed = StopLength, true
	}
	e.stream(j, false)
	j.feed = append(j.feed[:0], t)
}

// presample draws the next token of every job in ready that will sample
// one, in parallel: each has its own sampler and logits, and drawing from a
// large vocabulary costs as much as a small model's forward pass.
func presample(ready []*Job) {
	var need []*Job
	for _, j := range ready {
		if !j.Prefill && !j.lastFeed && j.sampler != nil && j.GeneratedTokens < j.Opt.MaxTokens {
			need = append(need, j)
		}
	}
	if len(need) < 2 {
		return
	}
	var wg sync.WaitGroup
	for _, j := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.next, j.hasNext = j.draw(), true
		}()
	}
	wg.Wait()
}

// stream publishes the text not yet published on __gen__:<key>, holding
// back a tail that could still turn into a STOP string; final publishes
// everything and the empty end message.
func (e *Engine) stream(j *Job, final bool) {
	if !j.Opt.Stream && j.OnPiece == nil {
		return
	}
	end := len(j.Text)
	if n := j.maxStop(); !final && !j.lastFeed && n > 1 {
		end = max(j.published, end-(n-1)) // the tail may start a STOP string
	}
	if j.OnPiece != nil {
		if end > j.published {
			j.OnPiece(j, append([]byte(nil), j.Text[j.published:end]...))
			j.published = end
		}
		return
	}
	ch := "__gen__:" + j.Key
	if end > j.published {
		e.ks.Publish(ch, append([]byte(nil), j.Text[j.published:end]...))
		j.published = end
	}
	if final {
		e.ks.Publish(ch, []byte{})
	}
}

// fail ends a job with err; the key is left as it was.
func (e *Engine) fail(j *Job, err error) {
	j.Err = err
	j.done = true
}

// reap removes finished jobs from running: commits or drops each, then
// tells its owner. Owners are told last, so what they run (a client's next
// pipelined GEN) sees a consistent engine.
func (e *Engine) reap() {
	if e.ks.ScriptBusy() {
		return // finished jobs stay in running, done, until the script ends
	}
	var finished []*Job
	keep := e.running[:0]
	for _, j := range e.running {
		if j.done {
			finished = append(finished, j)
		} else {
			keep = append(keep, j)
		}
	}
	for i := len(keep); i < len(e.running); i++ {
		e.running[i] = nil
	}
	e.running = keep
	if len(finished) == 0 {
		return
	}
	for _, j := range finished {
		e.unbusy(j)
		if !j.started.IsZero() {
			j.RunTime = time.Since(j.started)
		}
		if j.st != nil {
			e.cache.Insert(j.st)
		}
		if !j.canceled && j.Err == nil && j.obj != nil && j.DB.Peek(j.Key) != j.obj {
			// The session the job started from expired, or was flushed or
			// replaced meanwhile: its result must not bring it back.
			j.Err = ErrSessionGone
		}
		switch {
		case j.canceled || j.Err != nil:
			if j.st != nil {
				j.st.Release()
			}
			e.stream(j, true)
		default:
			e.commit(j)
		}
	}
	e.trimCache()
	for _, j := range finished {
		if !j.canceled && j.OnDone != nil {
			j.OnDone(j)
		}
	}
}

// commit makes the job's state the key's session: in place when the key
// still holds the object the job started from, else as a new key.
func (e *Engine) commit(j *Job) {
	end := time.Now()
	if j.decoding {
		j.PrefillTime = j.firstSample.Sub(j.started)
		j.DecodeTime = end.Sub(j.firstSample)
	} else {
		j.PrefillTime = end.Sub(j.started)
	}
	j.Tokens = j.st.Len()
	if j.Discard {
		j.st.Release()
		j.st = nil
		e.stream(j, true)
		return
	}
	var rng uint64
	if j.sampler != nil {
		rng = j.sampler.RNGState()
	}
	if o := j.DB.Peek(j.Key); o != nil && o == j.obj {
		s := o.Val.(*Session)
		old := s.State
		s.State = j.st
		old.Release()
		if j.sampler != nil {
			s.RNG = rng
		}
		if !j.Prefill {
			s.putCheckpoint(Checkpoint{Name: "gen", Pos: j.startPos, Logits: j.startLogits})
		}
		e.logCommit(j, s, false)
	} else {
		if j.sampler == nil {
			rng = e.newSeed()
		}
		s := e.live.New(j.st, rng)
		if !j.Prefill {
			s.putCheckpoint(Checkpoint{Name: "gen", Pos: j.startPos, Logits: j.startLogits})
		}
		j.DB.Set(j.Key, server.NewValue(server.TypeKVState, s), false)
		e.logCommit(j, s, true)
	}
	j.st = nil
	e.ks.KeyModified(j.DB, j.Key)
	if j.Prefill {
		e.ks.Notify(j.DB, "prefill", j.Key)
	} else {
		e.ks.Notify(j.DB, "gen", j.Key)
	}
	e.stream(j, true)
}

// newSeed returns the next seed for a new session's RNG.
func (e *Engine) newSeed() uint64 {
	e.seeds += 0x9e3779b97f4a7c15
	z := e.seeds
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// checkMemory refuses with -OOM when maxmemory is set and appending n
// tokens to a session of cur tokens would take the server past it even
// after idle prefix-cache pages are dropped and keys evicted as
// maxmemory-policy allows (server.MemoryFits).
func (e *Engine) checkMemory(cur, n int) error {
	if e.cfg.MaxMemory <= 0 {
		return nil
	}
	pages := (cur+n+infer.PageTokens-1)/infer.PageTokens - cur/infer.PageTokens
	if e.ks.MemoryFits(int64(pages) * e.pageBytes()) {
		return nil
	}
	return ErrOOM
}

// CheckAppend reports the error a job appending n prompt tokens to a
// session of cur tokens, then generating up to gen more, would fail with at
// once: the prompt overflows the context, or the memory it may need passes
// maxmemory.
func (e *Engine) CheckAppend(cur, n, gen int) error {
	if cur+n > e.Model.Ctx() {
		return contextFull(cur, n, e.Model.Ctx())
	}
	return e.checkMemory(cur, n+min(gen, e.Model.Ctx()-cur-n))
}

// contextFullError is ErrContextFull with the counts a user needs to fix
// the request; errors.Is(err, ErrContextFull) holds.
type contextFullError struct{ err *server.Error }

func (e contextFullError) Error() string      { return e.err.Error() }
func (e contextFullError) Unwrap() error      { return e.err }
func (contextFullError) Is(target error) bool { return target == ErrContextFull }

// contextFull is the error for n prompt tokens (BOS and chat markers
// included) that do not fit after a session of cur tokens in ctx.
func contextFull(cur, n, ctx int) error {
	return contextFullError{err: server.Errorf(fmt.Sprintf("context window full: the session has %d tokens and the prompt needs %d more, past the context of %d", cur, n, ctx))}
}

// pageBytes is the memory of PageTokens positions of a session, from the
// model's layout (no State is built).
func (e *Engine) pageBytes() int64 { return e.Model.Arch().KVLayout().PageBytes() }

// trimCache keeps the prefix cache's idle pages within CacheBytes.
func (e *Engine) trimCache() {
	e.cache.Trim(int(e.CacheBytes / max(1, e.pageBytes())))
}

// Rollback is Session.Rollback with the engine's model.
func (e *Engine) Rollback(s *Session, n int) error {
	err := s.Rollback(e.Model, n)
	if errors.Is(err, ErrRange) {
		return server.Errorf(fmt.Sprintf("position %d out of range [0, %d]", n, s.State.Len()))
	}
	return err
}
