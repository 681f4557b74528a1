package commands

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"reddwarf/infer"
	"reddwarf/infer/tokenizer"
	"reddwarf/rdb"
	"reddwarf/server"
	"reddwarf/session"
	"reddwarf/session/jsonmask"
)

const (
	bl = server.FlagBlocking
	// nm: GEN and PREFILL block their client on the engine, which a
	// transaction or a script can't wait for: refused in both.
	nm = server.FlagNoMulti | server.FlagNoscript
	// md: runs on the model (the dispatcher answers "no model loaded"
	// without one); qb: a write that may reach a key a job is busy on
	// (it queues behind the job, or only reads the state the job leaves).
	md = server.FlagModel
	qb = server.FlagQueueBehindJob
)

// sessionCommands are the session commands, run on e. Without a model
// (e nil) those flagged md never reach their handler: the dispatcher
// answers "no model loaded".
func sessionCommands(e *session.Engine) []*server.Spec {
	h := &sessionHandlers{e: e}
	return []*server.Spec{
		{Name: "gen", Arity: -3, Flags: w | dm | bl | nm | md | qb, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "ACCESS", "UPDATE"), Group: "session", Since: "0.1.0", Complexity: "O(P+N) model steps: P prompt tokens in chunks of prefill-chunk, N generated tokens", Args: "key prompt [MAXTOKENS n] [TEMPERATURE t] [TOPK k] [TOPP p] [MINP p] [SEED s] [STOP text [STOP text ...]] [CHAT [THINK]] [JSON | SCHEMA schema] [STREAM] [WITHSTATS]", Summary: "Appends a prompt to a session and generates text; creates the key.", Handler: h.genCommand},
		{Name: "prefill", Arity: -3, Flags: w | dm | bl | nm | md | qb, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "session", Since: "0.1.0", Complexity: "O(P) model steps for P tokens", Args: "key text | key IDS id [id ...]", Summary: "Appends text or token ids to a session without generating; replies the token count.", Handler: h.prefillCommand},
		{Name: "fork", Arity: -3, Flags: w | dm | qb, FirstKey: 1, LastKey: 2, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "session", Since: "0.1.0", Complexity: "O(pages): pages are shared copy-on-write", Args: "source destination [REPLACE]", Summary: "Forks a session into a new key, sharing its KV pages.", Handler: forkCommand},
		{Name: "rollback", Arity: -3, Flags: w | md, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "session", Since: "0.1.0", Complexity: "O(pages), plus one model step unless a checkpoint is at the position", Args: "key n | key -k | key TO name", Summary: "Truncates a session to a position or checkpoint; the next-token logits are exact.", Handler: h.rollbackCommand},
		{Name: "checkpoint", Arity: -2, Flags: w | dm | ft | qb, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RW", "UPDATE"), Group: "session", Since: "0.1.0", Complexity: "O(vocab)", Args: "key [name]", Summary: "Records the session's position and logits under a name; replies the position.", Handler: checkpointCommand},
		{Name: "checkpoints", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "session", Since: "0.1.0", Complexity: "O(N) for N checkpoints", Args: "key", Summary: "Lists a session's checkpoints as name/position pairs.", Handler: checkpointsCommand},
		{Name: "logits", Arity: -2, Flags: ro | md, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "session", Since: "0.1.0", Complexity: "O(vocab)", Args: "key [TOP k]", Summary: "Returns the most likely next tokens: id, piece and log-probability.", Handler: h.logitsCommand},
		{Name: "tokens", Arity: -2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "session", Since: "0.1.0", Complexity: "O(N) for N tokens returned", Args: "key [start [stop]]", Summary: "Returns a range of a session's token ids (inclusive, negative from the end).", Handler: tokensCommand},
		{Name: "text", Arity: -2, Flags: ro | md, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "session", Since: "0.1.0", Complexity: "O(N) for N tokens decoded", Args: "key [start [stop]]", Summary: "Returns a range of a session's tokens decoded as text.", Handler: h.textCommand},
		{Name: "tokenize", Arity: 2, Flags: ro | md | bl, Group: "session", Since: "0.1.0", Complexity: "O(N) for N bytes", Args: "text", Summary: "Returns the token ids of a text, as GEN appends it to a session.", Handler: h.tokenizeCommand},
		{Name: "detokenize", Arity: -2, Flags: ro | md, Group: "session", Since: "0.1.0", Complexity: "O(N) for N ids", Args: "id [id ...]", Summary: "Returns the text of token ids.", Handler: h.detokenizeCommand},
		{Name: "model", Arity: 1, Flags: ro | ft | md, Group: "session", Since: "0.1.0", Complexity: "O(1)", Args: "", Summary: "Returns the served model's metadata.", Handler: h.modelCommand},
	}
}

// Limits on what a session command accepts.
const (
	maxSessionKey = 4096     // bytes of a session key
	maxPromptLen  = 16 << 20 // bytes of one prompt
)

// sessionHandlers are the session commands that need the engine.
type sessionHandlers struct {
	e *session.Engine
}

// lookupSession returns key's session for a read: nil if missing,
// ErrWrongType if it holds another type.
func lookupSession(x *server.Ctx, key string) (*session.Session, error) {
	o := x.DB.Lookup(key)
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeKVState {
		return nil, server.ErrWrongType
	}
	return o.Val.(*session.Session), nil
}

// parseGenOptions reads GEN's options from args[from:].
func parseGenOptions(x *server.Ctx, from int) (session.GenOptions, error) {
	o := session.DefaultGenOptions()
	for i := from; i < len(x.Args); i++ {
		a := x.Args[i]
		hasArg := i+1 < len(x.Args)
		switch {
		case is(a, "STREAM"):
			o.Stream = true
		case is(a, "WITHSTATS"):
			o.WithStats = true
		case is(a, "CHAT"):
			o.Chat = true
		case is(a, "THINK") && o.Chat:
			o.Think = true
		case is(a, "JSON") && o.Format == nil:
			o.Format = jsonmask.AnyJSON()
		case is(a, "SCHEMA") && hasArg && o.Format == nil:
			i++
			sch, err := jsonmask.Compile(x.Args[i])
			if err != nil {
				return o, server.Errorf("SCHEMA: " + err.Error())
			}
			o.Format = sch
		case is(a, "MAXTOKENS") && hasArg:
			i++
			n, err := intArg(x, i)
			if err != nil || n < 0 || n > 1<<30 {
				return o, server.Errorf("MAXTOKENS must be an integer >= 0")
			}
			o.MaxTokens = int(n)
		case is(a, "TOPK") && hasArg:
			i++
			n, err := intArg(x, i)
			if err != nil || n < 0 || n > 1<<30 {
				return o, server.Errorf("TOPK must be an integer >= 0")
			}
			o.Sampler.TopK = int(n)
		case is(a, "SEED") && hasArg:
			i++
			n, err := strconv.ParseUint(x.Arg(i), 10, 64)
			if err != nil {
				v, ok := server.ParseInt(x.Args[i])
				if !ok {
					return o, server.Errorf("SEED must be an integer")
				}
				n = uint64(v)
			}
			o.Sampler.Seed, o.HasSeed = n, true
		case is(a, "STOP") && hasArg:
			i++
			if len(x.Args[i]) == 0 {
				return o, server.Errorf("STOP text must not be empty")
			}
			o.Stops = append(o.Stops, x.Arg(i))
		case (is(a, "TEMPERATURE") || is(a, "TOPP") || is(a, "MINP")) && hasArg:
			i++
			f, err := floatArg(x, i)
			if err != nil {
				return o, err
			}
			switch {
			case is(a, "TEMPERATURE"):
				if f < 0 || f > 100 {
					return o, server.Errorf("TEMPERATURE must be in [0, 100]")
				}
				o.Sampler.Temperature = f
			case is(a, "TOPP"):
				if f <= 0 || f > 1 {
					return o, server.Errorf("TOPP must be in (0, 1]")
				}
				o.Sampler.TopP = f
			default:
				if f < 0 || f > 1 {
					return o, server.Errorf("MINP must be in [0, 1]")
				}
				o.Sampler.MinP = f
			}
		default:
			return o, genOptionError(x.Arg(i), hasArg)
		}
	}
	return o, nil
}

// genOptionError names what is wrong with GEN option a: a known one
// without its value, THINK without CHAT, or an unknown word (a typo, or a
// second STOP string without its STOP).
func genOptionError(a string, hasArg bool) error {
	switch strings.ToUpper(a) {
	case "JSON", "SCHEMA":
		if strings.EqualFold(a, "SCHEMA") && !hasArg {
			return server.Errorf("syntax error: GEN option SCHEMA needs a value")
		}
		return server.Errorf("syntax error: GEN takes one of JSON and SCHEMA, once")
	case "MAXTOKENS", "TOPK", "SEED", "STOP", "TEMPERATURE", "TOPP", "MINP":
		if !hasArg {
			return server.Errorf("syntax error: GEN option " + strings.ToUpper(a) + " needs a value")
		}
	case "THINK":
		return server.Errorf("syntax error: GEN option THINK goes after CHAT")
	}
	return server.Errorf("syntax error: unknown GEN option '" + a + "'")
}

// checkSessionKey refuses keys over the size limit.
func checkSessionKey(key string) error {
	if len(key) > maxSessionKey {
		return server.Errorf("session key too long (" + strconv.Itoa(len(key)) + " bytes, max " + strconv.Itoa(maxSessionKey) + ")")
	}
	return nil
}

// submitJob hands j to the engine's admission (session.Engine.Submit)
// and blocks the client until the engine finishes it.
func (h *sessionHandlers) submitJob(x *server.Ctx, j *session.Job) {
	s, c := x.S, x.C
	h.setOnDone(s, c, j)
	if err := h.e.Submit(j); err != nil {
		x.Error(asRESPError(err))
		return
	}
	h.block(s, c, j)
}

// setOnDone makes j reply to c and unblock it when it finishes.
func (h *sessionHandlers) setOnDone(s *server.Server, c *server.Client, j *session.Job) {
	j.Owner = c
	j.OnDone = func(j *session.Job) {
		s.BlockedWork(c, j.RunTime, j.Err != nil)
		s.ReplyTo(c, func(r *server.Reply) { replyJob(r, j) })
		s.Unblock(c)
	}
}

// block parks c on j: CLIENT UNBLOCK ends the job (unblockJob), and a
// disconnect cancels it (the engine's ClientGone hook).
func (h *sessionHandlers) block(s *server.Server, c *server.Client, j *session.Job) *server.Blocked {
	b := &server.Blocked{Reason: "gen", Key: j.Key, Data: j, Unblock: func(asError bool) {
		h.unblockJob(s, c, j, asError)
	}}
	s.Block(c, b)
	return b
}

// encodeAndSubmit encodes j's prompt (text or CHAT, size bytes), then
// submits it. A large prompt is encoded off the loop (Engine.OffLoop):
// the client blocks at once, as for the job itself, and the job is
// admitted once the prompt is encoded, with the errors Submit gives,
// replied then. Meanwhile the key is not busy: the job is not queued yet,
// so it is as if the command had arrived when its prompt was encoded. A
// CLIENT UNBLOCK or a disconnect meanwhile cancels the job (Cancel marks
// it done), so it is never submitted and the key stays as it was. A
// client that cannot block (inside EXEC, where GEN and PREFILL are
// refused anyway) has its prompt encoded here.
func (h *sessionHandlers) encodeAndSubmit(x *server.Ctx, j *session.Job, size int) {
	enc := h.e.Encoder(j)
	if enc == nil || size <= session.InlineEncodeBytes || !x.CanBlock() {
		if enc != nil {
			enc()
		}
		h.submitJob(x, j)
		return
	}
	s, c := x.S, x.C
	h.setOnDone(s, c, j)
	b := h.block(s, c, j)
	go h.encodeOffLoop(s, c, b, j, enc, maxEncodes)
}

// maxEncodes bounds how often a prompt is encoded again before admission
// because its key kept changing under it (Stale); after that the job is
// admitted, and encoded again when its turn comes (the engine hands it
// back then, off the loop too).
const maxEncodes = 4

// encodeOffLoop runs enc on the calling goroutine, then admits j on the
// loop; tries is how many more encodings a changed key may cost.
func (h *sessionHandlers) encodeOffLoop(s *server.Server, c *server.Client, b *server.Blocked, j *session.Job, enc func(), tries int) {
	var took time.Duration // the work, not the wait for a slot
	timed := func() { t0 := time.Now(); enc(); took = time.Since(t0) }
	if !h.e.OffLoop(j, timed, nil) {
		return // canceled before its turn: nothing was encoded
	}
	s.Post(func() {
		if j.Done() || c.BlockedOf() != b {
			return // unblocked, or disconnected: Cancel ended j
		}
		s.BlockedWork(c, took, false)
		if tries > 1 && h.e.Stale(j) {
			go h.encodeOffLoop(s, c, b, j, h.e.Encoder(j), tries-1)
			return
		}
		if err := h.e.Submit(j); err != nil {
			j.Err = err
			j.OnDone(j)
		}
	})
}

// unblockJob is CLIENT UNBLOCK on a client waiting for j. TIMEOUT stops
// a generating GEN, which commits and replies what it generated so far
// (stop_reason cancelled); a job with nothing to commit yet (queued,
// reading its prompt, a PREFILL) is cancelled, the key left as it was,
// and GEN replies the empty text. ERROR cancels the job and replies
// -UNBLOCKED: an error means nothing happened, as CLIENT KILL's
// all-or-nothing.
func (h *sessionHandlers) unblockJob(s *server.Server, c *server.Client, j *session.Job, asError bool) {
	if !asError && j.Stop() {
		return // OnDone replies at the job's next step
	}
	h.e.Cancel(j)
	s.BlockedWork(c, 0, asError || j.Prefill)
	s.ReplyTo(c, func(r *server.Reply) {
		if asError || j.Prefill {
			r.Error(server.ErrUnblocked)
			return
		}
		j.Text, j.StopReason = nil, session.StopCancelled
		replyJob(r, j)
	})
	s.Unblock(c)
}

// replyJob writes a finished job's reply.
func replyJob(r *server.Reply, j *session.Job) {
	switch {
	case j.Err != nil:
		r.Error(asRESPError(j.Err))
	case j.Prefill:
		r.Int(int64(j.Tokens))
	case j.Opt.WithStats:
		r.Map(8)
		r.BulkString("text")
		r.Bulk(j.Text)
		r.BulkString("prompt_tokens")
		r.Int(int64(j.PromptTokens))
		r.BulkString("cached_tokens")
		r.Int(int64(j.CachedTokens))
		r.BulkString("disk_cached_tokens")
		r.Int(int64(j.DiskCachedTokens))
		r.BulkString("generated_tokens")
		r.Int(int64(j.GeneratedTokens))
		r.BulkString("stop_reason")
		r.BulkString(j.StopReason)
		r.BulkString("prefill_ms")
		r.Fixed(float64(j.PrefillTime.Microseconds())/1000, 3)
		r.BulkString("decode_ms")
		r.Fixed(float64(j.DecodeTime.Microseconds())/1000, 3)
	default:
		r.Bulk(j.Text)
	}
}

// asRESPError keeps RESP errors and gives others the ERR prefix.
func asRESPError(err error) error {
	var e *server.Error
	if errors.As(err, &e) {
		return e
	}
	return server.Errorf(err.Error())
}

// GEN key prompt [MAXTOKENS n] [TEMPERATURE t] [TOPK k] [TOPP p] [MINP p]
// [SEED s] [STOP text [STOP text ...]] [CHAT [THINK]] [JSON | SCHEMA schema] [STREAM] [WITHSTATS]
func (h *sessionHandlers) genCommand(x *server.Ctx) {
	key := x.Arg(1)
	opt, err := parseGenOptions(x, 3)
	if err == nil {
		err = checkSessionKey(key)
	}
	if err == nil && len(x.Args[2]) > maxPromptLen {
		err = server.Errorf("prompt too long (max " + strconv.Itoa(maxPromptLen) + " bytes)")
	}
	if err != nil {
		x.Error(err)
		return
	}
	if opt.Chat {
		h.encodeAndSubmit(x, session.NewChatGen(x.DB, key, x.Arg(2), opt), len(x.Args[2]))
		return
	}
	h.encodeAndSubmit(x, session.NewTextGen(x.DB, key, x.Arg(2), nil, opt), len(x.Args[2]))
}

// PREFILL key text | PREFILL key IDS id [id ...]
func (h *sessionHandlers) prefillCommand(x *server.Ctx) {
	key := x.Arg(1)
	if err := checkSessionKey(key); err != nil {
		x.Error(err)
		return
	}
	if len(x.Args) > 3 && is(x.Args[2], "IDS") {
		ids := make([]int32, 0, len(x.Args)-3)
		for i := 3; i < len(x.Args); i++ {
			n, ok := server.ParseInt(x.Args[i])
			if !ok {
				x.Error(server.ErrNotInteger)
				return
			}
			if n < 0 || n >= int64(h.e.Model.Vocab()) {
				x.Error(server.Errorf("token id '" + x.Arg(i) + "' out of range [0, " + strconv.Itoa(h.e.Model.Vocab()) + ")"))
				return
			}
			ids = append(ids, int32(n))
		}
		h.submitJob(x, session.NewPrefill(x.DB, key, ids, false))
		return
	}
	if len(x.Args) != 3 {
		x.Error(server.ErrSyntax)
		return
	}
	if len(x.Args[2]) > maxPromptLen {
		x.Error(server.Errorf("prompt too long (max " + strconv.Itoa(maxPromptLen) + " bytes)"))
		return
	}
	h.encodeAndSubmit(x, session.NewTextPrefill(x.DB, key, x.Arg(2), nil), len(x.Args[2]))
}

// FORK source destination [REPLACE]
func forkCommand(x *server.Ctx) {
	replace := false
	for i := 3; i < len(x.Args); i++ {
		if !is(x.Args[i], "REPLACE") {
			x.Error(server.ErrSyntax)
			return
		}
		replace = true
	}
	src, dst := x.Arg(1), x.Arg(2)
	if src == dst {
		x.Error(server.ErrSameObject)
		return
	}
	if err := checkSessionKey(dst); err != nil {
		x.Error(err)
		return
	}
	o := x.DB.Lookup(src)
	switch {
	case o == nil:
		x.Error(server.ErrNoSuchKey)
		return
	case o.Type != server.TypeKVState:
		x.Error(server.ErrWrongType)
		return
	}
	if x.DB.LookupWrite(dst) != nil && !replace {
		x.R.Int(0)
		return
	}
	if err := x.S.CheckBusy(x.DB, dst); err != nil {
		x.Error(err)
		return
	}
	x.DB.Delete(dst)
	x.DB.Set(dst, o.Clone(), false)
	x.PropagateRaw(rdb.ForkRecord(nil, []byte(src), []byte(dst)))
	x.Modified(dst)
	x.Notify("fork", dst)
	x.R.Int(1)
}

// writableSession returns key's session for a write: it must exist, hold a
// session and have no GEN running or queued.
func writableSession(x *server.Ctx, key string) (*session.Session, error) {
	o := x.DB.LookupWrite(key)
	if o == nil {
		return nil, server.ErrNoSuchKey
	}
	if o.Type != server.TypeKVState {
		return nil, server.ErrWrongType
	}
	if err := x.S.CheckBusy(x.DB, key); err != nil {
		return nil, err
	}
	return o.Val.(*session.Session), nil
}

// ROLLBACK key n | ROLLBACK key -k | ROLLBACK key TO name
func (h *sessionHandlers) rollbackCommand(x *server.Ctx) {
	var n int64
	toName := ""
	switch {
	case len(x.Args) == 4 && is(x.Args[2], "TO"):
		toName = x.Arg(3)
	case len(x.Args) == 3:
		v, err := intArg(x, 2)
		if err != nil {
			x.Error(err)
			return
		}
		n = v
	default:
		x.Error(server.ErrSyntax)
		return
	}
	sess, err := writableSession(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if toName != "" {
		cp, ok := sess.Checkpoint(toName)
		if !ok {
			x.Error(server.Errorf("no such checkpoint '" + toName + "'"))
			return
		}
		n = int64(cp.Pos)
	} else if n < 0 {
		n += int64(sess.State.Len())
	}
	if n < 0 || n > int64(sess.State.Len()) {
		x.Error(server.Errorf("position out of range [0, " + strconv.Itoa(sess.State.Len()) + "]"))
		return
	}
	if err := h.e.Rollback(sess, int(n)); err != nil {
		x.Error(asRESPError(err))
		return
	}
	x.PropagateRaw(rdb.TruncRecord(nil, x.Args[1], int(n)))
	x.Modified(x.Arg(1))
	x.Notify("rollback", x.Arg(1))
	x.R.Int(int64(sess.State.Len()))
}

// CHECKPOINT key [name]
func checkpointCommand(x *server.Ctx) {
	if len(x.Args) > 3 {
		x.Error(server.ErrSyntax)
		return
	}
	o := x.DB.LookupWrite(x.Arg(1))
	switch {
	case o == nil:
		x.Error(server.ErrNoSuchKey)
		return
	case o.Type != server.TypeKVState:
		x.Error(server.ErrWrongType)
		return
	}
	sess := o.Val.(*session.Session)
	name := strconv.Itoa(sess.State.Len())
	if len(x.Args) == 3 {
		name = x.Arg(2)
	}
	pos, err := sess.SetCheckpoint(name)
	if err != nil {
		x.Error(err)
		return
	}
	x.PropagateRaw(rdb.CkptRecord(nil, x.Args[1], []byte(name), pos, nil))
	x.Modified(x.Arg(1))
	x.Notify("checkpoint", x.Arg(1))
	x.R.Int(int64(pos))
}

// CHECKPOINTS key
func checkpointsCommand(x *server.Ctx) {
	sess, err := lookupSession(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if sess == nil {
		x.R.Map(0)
		return
	}
	x.R.Map(len(sess.Checkpoints))
	for _, c := range sess.Checkpoints {
		x.R.BulkString(c.Name)
		x.R.Int(int64(c.Pos))
	}
}

// LOGITS key [TOP k]
func (h *sessionHandlers) logitsCommand(x *server.Ctx) {
	k := 10
	switch {
	case len(x.Args) == 4 && is(x.Args[2], "TOP"):
		n, err := intArg(x, 3)
		if err != nil || n < 1 {
			x.Error(server.Errorf("TOP must be a positive integer"))
			return
		}
		k = int(min(n, int64(h.e.Model.Vocab())))
	case len(x.Args) != 2:
		x.Error(server.ErrSyntax)
		return
	}
	sess, err := lookupSession(x, x.Arg(1))
	if err != nil {
		x.Error(err)
		return
	}
	if sess == nil {
		x.R.Array(0) // as reads of a missing key do
		return
	}
	logits := sess.State.Logits()
	if logits == nil {
		x.R.Array(0)
		return
	}
	lp := make([]float64, len(logits))
	infer.LogSoftmax(lp, logits)
	ids := make([]int32, len(lp))
	for i := range ids {
		ids[i] = int32(i)
	}
	sort.Slice(ids, func(a, b int) bool {
		if lp[ids[a]] != lp[ids[b]] {
			return lp[ids[a]] > lp[ids[b]]
		}
		return ids[a] < ids[b]
	})
	x.R.Array(k)
	for _, id := range ids[:k] {
		x.R.Array(3)
		x.R.Int(int64(id))
		x.R.Bulk(h.e.Tok.Piece(id))
		x.R.Double(lp[id])
	}
}

// tokenRange resolves TOKENS/TEXT's optional inclusive [start, stop] (as
// LRANGE: negative counts from the end) to a half-open slice range.
func tokenRange(x *server.Ctx, n int) (int, int, error) {
	start, stop := int64(0), int64(-1)
	var err error
	switch len(x.Args) {
	case 2:
	case 3:
		start, err = intArg(x, 2)
	case 4:
		if start, err = intArg(x, 2); err == nil {
			stop, err = intArg(x, 3)
		}
	default:
		err = server.ErrSyntax
	}
	if err != nil {
		return 0, 0, err
	}
	if start < 0 {
		start += int64(n)
	}
	if stop < 0 {
		stop += int64(n)
	}
	start = max(start, 0)
	stop = min(stop, int64(n)-1)
	if start > stop {
		return 0, 0, nil
	}
	return int(start), int(stop) + 1, nil
}

// sessionTokens returns key's tokens in the requested range.
func sessionTokens(x *server.Ctx) ([]int32, bool, error) {
	sess, err := lookupSession(x, x.Arg(1))
	if err != nil || sess == nil {
		return nil, false, err
	}
	toks := sess.State.Tokens()
	a, b, err := tokenRange(x, len(toks))
	if err != nil {
		return nil, false, err
	}
	return toks[a:b], a == 0, nil
}

// TOKENS key [start [stop]]
func tokensCommand(x *server.Ctx) {
	toks, _, err := sessionTokens(x)
	if err != nil {
		x.Error(err)
		return
	}
	x.R.Array(len(toks))
	for _, t := range toks {
		x.R.Int(int64(t))
	}
}

// TEXT key [start [stop]]: from the start, as Decode prints a sequence;
// from inside, the pieces' exact bytes.
func (h *sessionHandlers) textCommand(x *server.Ctx) {
	toks, fromStart, err := sessionTokens(x)
	if err != nil {
		x.Error(err)
		return
	}
	if fromStart {
		x.R.BulkString(h.e.Tok.Decode(toks))
		return
	}
	var out []byte
	for _, t := range toks {
		out = append(out, h.e.Tok.Piece(t)...)
	}
	x.R.Bulk(out)
}

// tokenizeMaxBytes bounds TOKENIZE's text: its ids and reply take many
// times the text's size (16 MiB took RSS to 1.4 GB), and 1 MiB is hundreds
// of thousands of tokens, past any context served here.
const tokenizeMaxBytes = 1 << 20

// TOKENIZE text
//
// A text over session.InlineEncodeBytes is tokenised off the loop (a MiB takes
// half a second), its reply formatted there too; the client blocks
// meanwhile. CLIENT UNBLOCK does not end that wait, which is bounded.
func (h *sessionHandlers) tokenizeCommand(x *server.Ctx) {
	if len(x.Args[1]) > tokenizeMaxBytes {
		x.Error(server.Errorf("TOKENIZE text is " + strconv.Itoa(len(x.Args[1])) + " bytes, over the limit of " + strconv.Itoa(tokenizeMaxBytes) + " (1 MiB): tokenize it in parts"))
		return
	}
	text := x.Arg(1)
	reply := func() []byte {
		toks := h.e.Tok.Encode(text, tokenizer.EncodeOptions{ParseSpecial: true, Continue: true})
		return appendIDs(nil, toks)
	}
	if len(text) <= session.InlineEncodeBytes || !x.CanBlock() {
		x.R.Raw(reply())
		return
	}
	s, c := x.S, x.C
	b := &server.Blocked{Reason: "tokenize"}
	s.Block(c, b)
	go func() {
		var out []byte
		var took time.Duration
		h.e.OffLoop(nil, func() { t0 := time.Now(); out = reply(); took = time.Since(t0) }, nil)
		s.Post(func() {
			if c.BlockedOf() != b {
				return // disconnected
			}
			s.BlockedWork(c, took, false)
			s.ReplyTo(c, func(r *server.Reply) { r.Raw(out) })
			s.Unblock(c)
		})
	}()
}

// appendIDs appends the RESP array of token ids (the same in RESP2 and
// RESP3) to b.
func appendIDs(b []byte, ids []int32) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(ids)), 10)
	b = append(b, '\r', '\n')
	for _, id := range ids {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\r', '\n')
	}
	return b
}

// DETOKENIZE id [id ...]
func (h *sessionHandlers) detokenizeCommand(x *server.Ctx) {
	ids := make([]int32, 0, len(x.Args)-1)
	for i := 1; i < len(x.Args); i++ {
		n, ok := server.ParseInt(x.Args[i])
		if !ok {
			x.Error(server.ErrNotInteger)
			return
		}
		if n < 0 || n >= int64(h.e.Model.Vocab()) {
			x.Error(server.Errorf("token id '" + x.Arg(i) + "' out of range [0, " + strconv.Itoa(h.e.Model.Vocab()) + ")"))
			return
		}
		ids = append(ids, int32(n))
	}
	var out []byte
	for _, t := range ids {
		out = append(out, h.e.Tok.Piece(t)...)
	}
	x.R.Bulk(out)
}

// MODEL
func (h *sessionHandlers) modelCommand(x *server.Ctx) {
	info := h.e.Model.Info()
	x.R.Map(len(info))
	for _, f := range info {
		x.R.BulkString(f.Key)
		switch v := f.Value.(type) {
		case int:
			x.R.Int(int64(v))
		case int64:
			x.R.Int(v)
		default:
			x.R.BulkString(strFmt(v))
		}
	}
}

func strFmt(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
