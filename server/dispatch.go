package server

import (
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Ctx is what a command handler gets: the server, the calling client, the
// arguments (Args[0] is the command name) and the reply to write.
type Ctx struct {
	S    *Server
	C    *Client
	Args [][]byte
	Cmd  *Spec
	R    *Reply
	DB   *DB
	// Err is set by Error; the dispatcher counts it in failed_calls.
	failed bool
	// What the call propagates (Propagate, NoPropagate), and the changes
	// counted by calls nested in it (EXEC's), which propagate themselves.
	props      []Op
	noProp     bool
	childDirty int64
}

// Propagate logs args instead of the command as it came, Redis's
// alsoPropagate with the command's own propagation prevented: a handler
// whose command is not deterministic (a relative expiry, a random pop)
// calls it with the deterministic form; several calls log several
// commands. args must not change after the call (the log copies them when
// the top-level command ends).
func (x *Ctx) Propagate(args ...[]byte) {
	x.props = append(x.props, Op{DB: x.DB.ID, Args: args})
}

// PropagateArgs returns an empty argument list with room for n, to build
// the form a handler passes to Propagate (XADD's, with the ID it got). Its
// memory is the server's and is reused once the top-level command has been
// logged (Op.Args are the caller's only until Propagate returns), so a
// rewritten command costs no allocation; the handler must not keep it.
func (x *Ctx) PropagateArgs(n int) [][]byte {
	s := x.S
	if cap(s.propArgs)-len(s.propArgs) < n {
		// A fresh array: lists handed out of the old one stay valid.
		s.propArgs = make([][]byte, 0, max(2*cap(s.propArgs), n, 64))
	}
	l := len(s.propArgs)
	s.propArgs = s.propArgs[:l+n]
	return s.propArgs[l : l : l+n]
}

// PropagateRaw logs rec, records already encoded for the log (Op.Raw),
// instead of the command as it came; like Propagate, it may be called
// more than once.
func (x *Ctx) PropagateRaw(rec []byte) {
	x.props = append(x.props, Op{DB: x.DB.ID, Raw: rec})
}

// NoPropagate keeps a command that changed data out of the log (its
// changes are logged otherwise, or are not data).
func (x *Ctx) NoPropagate() { x.noProp = true }

// Arg returns argument i as a string.
func (x *Ctx) Arg(i int) string { return string(x.Args[i]) }

// Redact replaces argument i with "(redacted)" in what MONITOR and the
// slow log show of this call, as Redis's redactClientCommandArgument: a
// handler calls it for a secret (a password) once it has read it.
func (x *Ctx) Redact(i int) { x.Args[i] = []byte("(redacted)") }

// Error replies with err and marks the call failed.
func (x *Ctx) Error(err error) {
	x.failed = true
	x.S.countError(err)
	x.R.Error(err)
}

// Modified ends a write to key: WATCHers are invalidated and the change is
// counted for save points. Every write calls it once per key it changed.
func (x *Ctx) Modified(key string) {
	x.S.signalModified(x.DB, key)
	x.S.Dirty++
}

// ModifiedDB is Modified for writes to another database (MOVE, COPY DB).
func (x *Ctx) ModifiedDB(db *DB, key string) {
	x.S.signalModified(db, key)
	x.S.Dirty++
}

// execute is our processCommand: a flat run of checks, each an early
// return with Redis's error, then call().
func (s *Server) execute(c *Client, args [][]byte) {
	s.startNS = s.clock.commandStart()
	c.lastInteraction = s.clock.wallMS(s.startNS)
	mark := len(c.R.buf)
	skip := c.replySkip // CLIENT REPLY SKIP applies to the next command
	c.replySkip, c.replyOnNow = false, false
	c.replySkipping = skip
	s.current, c.curArgs = c, args
	s.process(c, args)
	s.current, c.curArgs = nil, nil
	if len(s.readyKeys) > 0 {
		s.serveReadyKeys() // clients blocked on keys this command filled
	}
	c.replySkipping = false
	if (skip && !c.replyOnNow) || c.replyOff {
		c.R.buf = c.R.buf[:mark]
	}
	if len(c.pushes) > 0 {
		// Pub/sub confirmations are pushes: CLIENT REPLY OFF keeps them.
		c.R.buf = append(c.R.buf, c.pushes...)
		c.pushes = c.pushes[:0]
	}
	if s.trk != nil {
		s.trackingAfterCommand(c, args) // invalidations held for c go after its reply
	}
	if len(c.R.buf) > 0 || c.closeAfterReply {
		c.scheduleWrite()
	}
	// A pipeline's replies may pass a limit before the turn ends: the
	// client is closed here and the rest of its pipeline does not run.
	if len(c.R.buf) > 0 && c.outputLimited() {
		c.checkOutputLimit()
	}
}

func (s *Server) process(c *Client, args [][]byte) {
	r := &c.R
	// 1. Lookup and arity. A pipeline mostly repeats one command: the
	// client's previous one is checked before the table.
	spec := c.lastSpec
	if spec == nil || !EqualFold(args[0], spec.Name) {
		spec = s.Commands.Lookup(args[0])
		c.lastSpec = spec
	}
	if spec == nil {
		s.rejectCommand(c, nil, unknownCommand(args))
		return
	}
	if len(spec.Sub) > 0 && len(args) >= 2 {
		if sub := spec.Subcommand(args[1]); sub != nil {
			spec = sub
		} else if spec.Handler == nil {
			s.rejectCommand(c, spec, Errorf("unknown subcommand '"+trunc(string(args[1]), 128)+"'. Try "+strings.ToUpper(spec.Name)+" HELP."))
			return
		}
	}
	if (spec.Arity > 0 && len(args) != spec.Arity) || len(args) < -spec.Arity {
		s.rejectCommand(c, spec, ErrWrongArgs(spec.Name))
		return
	}
	// Protected commands (DEBUG), before authentication as in Redis: the
	// refusal flags a MULTI like any rejected command.
	if spec.Flags&FlagProtected != 0 {
		name, _, _ := strings.Cut(spec.Name, "|")
		if !s.AllowProtected("enable-"+name+"-command", c) {
			s.rejectCommand(c, spec, Errorf(strings.ToUpper(name)+" command not allowed. If the enable-"+name+"-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."))
			return
		}
	}
	// 2. Authentication.
	if !c.authed.Load() && spec.Flags&FlagNoAuth == 0 {
		s.rejectCommand(c, spec, ErrNoAuth)
		return
	}
	// A script past busy-reply-threshold: only allow-busy commands run.
	if s.busy != nil {
		if err := s.busyRefusal(spec, args); err != nil {
			s.rejectCommand(c, spec, err)
			return
		}
	}
	// 3. A RESP2 client in pub/sub mode may only (un)subscribe, ping, quit, reset.
	if c.InPubSub() && c.R.resp == 2 && !pubsubAllowed(spec.Name) {
		s.rejectCommand(c, spec, Errorf("Can't execute '"+spec.Name+"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
		return
	}
	// 4. Memory: over maxmemory, keys are evicted first as the policy says
	// (evict.go); DENYOOM commands are refused, queued or not, only when
	// nothing more can be evicted. Inside MULTI every queued command counts:
	// queueing itself takes memory. EXEC counts as the commands it would run.
	s.oomAtCommand = false
	if s.Config.MaxMemory > 0 {
		denyOOM := spec.Flags&FlagDenyOOM != 0 || (c.multi != nil && !multiEnd(spec.Name)) ||
			(spec.Name == "exec" && c.multi != nil && c.multi.flags&FlagDenyOOM != 0)
		// Scripts (and EXEC, which may run them) need the state even when
		// they are not refused for it: their first DENYOOM call is.
		probe := denyOOM || spec.Group == "scripting" || spec.Name == "exec"
		s.oomAtCommand = s.evictBeforeCommand(probe) == evictFail
		if s.oomAtCommand && denyOOM {
			s.rejectCommand(c, spec, errOOM)
			return
		}
	}
	// Keep the client-side caching table within tracking-table-max-keys.
	if s.trk != nil {
		s.trackingLimit()
	}
	// 5. MULTI: queue everything but the transaction commands themselves.
	if c.multi != nil && !multiControl(spec.Name) {
		if spec.Flags&FlagNoMulti != 0 {
			s.rejectCommand(c, spec, Errorf("Command not allowed inside a transaction"))
			return
		}
		c.multi.queue = append(c.multi.queue, copyArgs(args))
		c.multi.flags |= spec.Flags
		r.Raw(respQueued)
		return
	}
	// 6. Gates driven by flags.
	if s.loading.Load() && spec.Flags&FlagLoading == 0 {
		s.rejectCommand(c, spec, ErrLoading)
		return
	}
	if err := s.checkDamaged(c, spec, args); err != nil {
		s.rejectCommand(c, spec, err)
		return
	}
	if err := s.gates(c, spec, args); err != nil {
		s.rejectCommand(c, spec, err)
		return
	}
	s.call(c, spec, args)
}

// errOOM is Redis's refusal of a DENYOOM command over maxmemory.
var errOOM = &Error{"OOM command not allowed when used memory > 'maxmemory'."}

// checkDamaged refuses a command that reads or changes a key whose value
// could not be loaded from the snapshot (db.go, Lazy): its key specs say
// RW or ACCESS. Until a snapshot with lazy values was loaded, it costs one
// test.
func (s *Server) checkDamaged(c *Client, spec *Spec, args [][]byte) error {
	if !s.lazySeen || !spec.readsValues() {
		return nil
	}
	for _, i := range spec.KeyIndexes(args) {
		if err := c.DB.checkDamaged(string(args[i])); err != nil {
			return err
		}
	}
	return nil
}

// gates are the checks a command meets just before it runs, whether now or
// queued in MULTI: the subsystems' gates (MISCONF), then the BUSY rule,
// then whether a model is served.
func (s *Server) gates(c *Client, spec *Spec, args [][]byte) error {
	if err := s.gate(c, spec, args); err != nil {
		return err
	}
	if err := s.busyGate(c, spec, args); err != nil {
		return err
	}
	if spec.Flags&FlagModel != 0 && !s.servesModel() {
		return errNoModel
	}
	return nil
}

var errNoModel = Errorf("no model loaded")

// busyGate refuses, with -BUSY, a write to a key that a job is queued or
// running on (SET, APPEND, RESTORE ... on a session mid-GEN), so nothing
// changes a key under its job; writes flagged FlagQueueBehindJob pass.
// Commands whose keys are not their key arguments (SWAPDB, FLUSHDB, MOVE's
// destination) check with CheckBusy and CheckBusyDB themselves.
func (s *Server) busyGate(c *Client, spec *Spec, args [][]byte) error {
	if spec.Flags&FlagWrite == 0 || spec.Flags&FlagQueueBehindJob != 0 || !s.hasWork() {
		return nil
	}
	for _, i := range spec.KeyIndexes(args) {
		if err := s.CheckBusy(c.DB, string(args[i])); err != nil {
			return err
		}
	}
	return nil
}

// call runs the handler with timing, stats, slowlog and MONITOR feed.
func (s *Server) call(c *Client, spec *Spec, args [][]byte) {
	// Contexts are reused: the loop runs one command at a time, and EXEC's
	// nested calls take the next slot of the stack.
	if s.ctxDepth == len(s.ctxStack) {
		s.ctxStack = append(s.ctxStack, &Ctx{})
	}
	x := s.ctxStack[s.ctxDepth]
	s.ctxDepth++
	// The slot's Propagate list keeps its array (emptied) for the next
	// command: most writes that log their own form call Propagate once.
	clear(x.props)
	*x = Ctx{S: s, C: c, Args: args, Cmd: spec, R: &c.R, DB: c.DB, props: x.props[:0]}
	start := s.startNS
	if s.ctxDepth > 1 {
		start = s.clock.now()
	}
	if s.inScript == 0 {
		// A script's commands see the time its EVAL started: no key
		// expires mid-script (Redis 7.0's script time snapshot).
		s.nowMS = s.clock.wallMS(start)
	}
	c.lastCmd = spec.Name
	dirty := s.Dirty
	s.safeHandle(x)
	s.propagateCall(x, dirty)
	if c.tracking != nil {
		s.trackingAfterCall(c, spec, args) // remember the keys a read returned
	}
	end := s.clock.now()
	dur := time.Duration(end - start)
	if s.ctxDepth == 1 {
		s.clock.commandEnd(end)
	}
	s.ctxDepth--
	if s.ctxDepth == 0 {
		s.nowMS = 0
	}
	st := spec.stat
	if st == nil {
		st = s.cmdStat(spec.Name)
		spec.stat = st
	}
	st.Calls++
	st.USec += dur.Microseconds()
	if x.failed {
		st.Failed++
	}
	s.Stats.CommandsProcessed++
	if b := c.blocked; b != nil && b.stat == nil {
		// Blocked by this command: SLOWLOG waits for the work (Unblock).
		b.stat, b.usec, b.slowSkip = st, dur.Microseconds(), spec.Flags&FlagSkipSlowlog != 0
		if !b.slowSkip && s.Config.SlowlogSlowerThan >= 0 {
			b.slowArgs = slowlogArgs(args)
		}
		b.spec = spec
	} else {
		if spec.Flags&FlagSkipSlowlog == 0 {
			s.slowlogPush(c, args, dur)
		}
		s.latencySample(spec, dur)
		s.recordLatency(st, dur.Microseconds())
	}
	if len(s.monitors) > 0 && spec.Flags&(FlagSkipMonitor|FlagAdmin) == 0 {
		s.feedMonitors(c, args)
	}
}

// propagateCall queues what the call changed for the log, as Redis's
// call(): the command as it came when it changed data (Dirty moved by its
// own hand, not by calls nested in it), or what its handler asked for;
// the top-level call hands the queue to the Propagate hooks.
func (s *Server) propagateCall(x *Ctx, dirty int64) {
	moved := s.Dirty - dirty
	if s.ctxDepth > 1 {
		s.ctxStack[s.ctxDepth-2].childDirty += moved
	}
	switch {
	case len(x.props) > 0:
		s.propOps = append(s.propOps, x.props...)
		x.C.awaitsLog = true
	case moved-x.childDirty > 0 && !x.noProp:
		s.propOps = append(s.propOps, Op{DB: x.DB.ID, Args: x.Args})
		x.C.awaitsLog = true
	}
	if s.ctxDepth == 1 {
		s.flushPropagation()
	}
}

// PropagateDeletion logs the deletion of a key that expired or was
// evicted (Redis's propagateDeletion): with the command running, before
// it; outside a command, at once.
func (s *Server) PropagateDeletion(db *DB, key string) {
	s.propOps = append(s.propOps, Op{DB: db.ID, Args: [][]byte{[]byte("DEL"), []byte(key)}})
	if s.ctxDepth == 0 {
		s.flushPropagation()
	}
}

// PropagateRaw logs encoded records (Op.Raw) for a change made outside
// a command handler (a GEN job committing in an engine step): with a
// command running, in its place in the log; outside one, at once.
//
// c, when not nil, is the client the change will be acknowledged to: its
// replies wait for the records to be durable (flushWrites).
func (s *Server) PropagateRaw(c *Client, db *DB, rec []byte) {
	if c != nil {
		c.awaitsLog = true
	}
	s.propOps = append(s.propOps, Op{DB: db.ID, Raw: rec})
	if s.ctxDepth == 0 {
		s.flushPropagation()
	}
}

func (s *Server) flushPropagation() {
	if len(s.propOps) > 0 {
		s.propagateHooks(s.propOps)
		clear(s.propOps)
		s.propOps = s.propOps[:0]
	}
	clear(s.propArgs) // PropagateArgs' lists: logged now, or never propagated
	s.propArgs = s.propArgs[:0]
}

// safeHandle runs the handler; a panic (a bug, never input: handlers
// validate their arguments) is logged with its stack and answered with an
// error instead of taking the server down.
func (s *Server) safeHandle(x *Ctx) {
	defer func() {
		if r := recover(); r != nil {
			s.logf("warning", "BUG in command '%s': %v\n%s", x.Cmd.Name, r, debug.Stack())
			x.Error(Errorf("internal error while running '" + x.Cmd.Name + "' (logged)"))
		}
	}()
	x.Cmd.Handler(x)
}

// Call runs a command from inside another (EXEC) with the full checks of a
// queued command's execution.
func (s *Server) Call(c *Client, args [][]byte) {
	spec := s.Commands.Lookup(args[0])
	if spec == nil {
		c.R.Error(unknownCommand(args))
		return
	}
	if len(spec.Sub) > 0 && len(args) >= 2 {
		if sub := spec.Subcommand(args[1]); sub != nil {
			spec = sub
		}
	}
	if err := s.checkDamaged(c, spec, args); err != nil {
		s.countError(err)
		c.R.Error(err)
		return
	}
	if err := s.gates(c, spec, args); err != nil {
		s.countError(err)
		c.R.Error(err)
		return
	}
	s.call(c, spec, args)
}

// rejectCommand replies an error for a command that was not run. Inside
// MULTI it also dooms the transaction, as Redis does.
func (s *Server) rejectCommand(c *Client, spec *Spec, err error) {
	if spec != nil && spec.Name == "exec" {
		// A refused EXEC discards the transaction, saying why.
		c.multi = nil
		s.unwatchAll(c)
		err = CodeError("EXECABORT", "Transaction discarded because of: "+strings.TrimPrefix(err.Error(), "ERR "))
	}
	if c.multi != nil {
		c.multi.aborted = true
	}
	s.countError(err)
	if spec != nil {
		s.cmdStat(spec.Name).Rejected++
	}
	c.R.Error(err)
}

func (s *Server) cmdStat(name string) *CmdStat {
	st := s.cmdStats[name]
	if st == nil {
		st = &CmdStat{}
		s.cmdStats[name] = st
	}
	return st
}

func (s *Server) countError(err error) {
	s.Stats.TotalErrorReplies++
	s.errorStats[ErrorCode(err)]++
}

func unknownCommand(args [][]byte) error {
	var b strings.Builder
	b.WriteString("unknown command '")
	b.WriteString(trunc(string(args[0]), 128))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:] {
		if b.Len() > 256 {
			break
		}
		b.WriteString("'")
		b.WriteString(trunc(string(a), 128))
		b.WriteString("' ")
	}
	return Errorf(b.String())
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func pubsubAllowed(name string) bool {
	switch name {
	case "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ping", "quit", "reset", "ssubscribe", "sunsubscribe":
		return true
	}
	return false
}

// multiEnd reports the commands that end or leave a transaction.
func multiEnd(name string) bool {
	switch name {
	case "exec", "discard", "quit", "reset":
		return true
	}
	return false
}

func multiControl(name string) bool {
	switch name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return true
	}
	return false
}

func copyArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// SlowlogEntry is one SLOWLOG GET item.
type SlowlogEntry struct {
	ID       int64
	Time     int64 // unix seconds
	Duration int64 // microseconds
	Args     []string
	Addr     string
	Name     string
}

func (s *Server) slowlogPush(c *Client, args [][]byte, dur time.Duration) {
	th := s.Config.SlowlogSlowerThan
	if th < 0 || dur.Microseconds() < th {
		return
	}
	s.slowlogPushArgs(c, slowlogArgs(args), dur)
}

// slowlogArgs is what SLOWLOG keeps of a command's arguments: 32 at most,
// each cut at 128 bytes.
func slowlogArgs(args [][]byte) []string {
	var out []string
	n := len(args)
	if n > 32 {
		n = 31
	}
	for _, a := range args[:n] {
		if len(a) > 128 {
			out = append(out, string(a[:128])+"... ("+strconv.Itoa(len(a)-128)+" more bytes)")
		} else {
			out = append(out, string(a))
		}
	}
	if len(args) > 32 {
		out = append(out, "... ("+strconv.Itoa(len(args)-31)+" more arguments)")
	}
	return out
}

func (s *Server) slowlogPushArgs(c *Client, args []string, dur time.Duration) {
	th := s.Config.SlowlogSlowerThan
	if th < 0 || dur.Microseconds() < th {
		return
	}
	e := SlowlogEntry{ID: s.slowlogID, Time: time.Now().Unix(), Duration: dur.Microseconds(), Addr: c.Addr, Name: c.Name, Args: args}
	s.slowlogID++
	s.slowlog = append([]SlowlogEntry{e}, s.slowlog...)
	if len(s.slowlog) > s.Config.SlowlogMaxLen {
		s.slowlog = s.slowlog[:s.Config.SlowlogMaxLen]
	}
}

// Slowlog returns the entries, newest first.
func (s *Server) Slowlog() []SlowlogEntry { return s.slowlog }

// SlowlogReset empties the slow log.
func (s *Server) SlowlogReset() { s.slowlog = nil }

func (s *Server) feedMonitors(c *Client, args [][]byte) {
	var b []byte
	now := time.Now()
	b = append(b, '+')
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	us := strconv.Itoa(now.Nanosecond() / 1000)
	b = append(b, strings.Repeat("0", 6-len(us))+us...)
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(c.DB.ID), 10)
	b = append(b, ' ')
	if s.inScript > 0 {
		b = append(b, "lua"...) // a script's command, as Redis names its Lua client
	} else {
		b = append(b, c.Addr...)
	}
	b = append(b, ']')
	for _, a := range args {
		b = append(b, ' ')
		b = AppendRepr(b, a)
	}
	b = append(b, '\r', '\n')
	for m := range s.monitors {
		m.push(func(r *Reply) { r.Raw(b) })
	}
}

// AppendRepr appends a quoted, escaped form of b (Redis's sdscatrepr).
func AppendRepr(out, b []byte) []byte {
	out = append(out, '"')
	for _, ch := range b {
		switch ch {
		case '\\', '"':
			out = append(out, '\\', ch)
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		case '\a':
			out = append(out, '\\', 'a')
		case '\b':
			out = append(out, '\\', 'b')
		default:
			if ch >= 32 && ch < 127 {
				out = append(out, ch)
			} else {
				out = append(out, '\\', 'x', "0123456789abcdef"[ch>>4], "0123456789abcdef"[ch&15])
			}
		}
	}
	return append(out, '"')
}

// AddMonitor puts c in MONITOR mode.
func (s *Server) AddMonitor(c *Client) {
	c.monitor = true
	s.monitors[c] = struct{}{}
}

// CmdStats returns the per-command counters.
func (s *Server) CmdStats() map[string]*CmdStat { return s.cmdStats }

// ErrorStats returns the per-prefix error counters.
func (s *Server) ErrorStats() map[string]int64 { return s.errorStats }

// ResetStats is CONFIG RESETSTAT.
func (s *Server) ResetStats() {
	for _, st := range s.cmdStats {
		*st = CmdStat{} // specs keep their pointers
	}
	s.errorStats = map[string]int64{}
	s.Stats = Stats{}
	s.evict.resetStats()
	s.netInput.Store(0)
	s.slowlog = nil
}
