package commands

import (
	"errors"
	"os"
	"strconv"

	"reddwarf/persist"
	"reddwarf/rdb"
	"reddwarf/server"
)

// Persistence commands: SAVE, BGSAVE, DUMP, RESTORE, LOAD (LASTSAVE and
// SHUTDOWN are in server.go). The byte formats are the rdb package's;
// what goes into a snapshot, and when, is the persist package's.

// persistCommands are the persistence commands, run on p.
func persistCommands(p *persist.Engine) []*server.Spec {
	h := &persistHandlers{p: p}
	return []*server.Spec{
		{Name: "save", Arity: -1, Flags: server.FlagAdmin | server.FlagNoscript | server.FlagNoMulti | server.FlagNoAsyncLoading, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "server", Since: "1.0.0", Complexity: "O(N) where N is the total number of keys in all databases", Args: "[key file]", Summary: "Synchronously saves the database(s) to disk, or one session's state to a file in dir.", Handler: h.saveCommand},
		{Name: "bgsave", Arity: -1, Flags: server.FlagAdmin | server.FlagNoscript | server.FlagNoAsyncLoading, Group: "server", Since: "1.0.0", Complexity: "O(1)", Args: "[SCHEDULE]@3.2.2", Summary: "Asynchronously save the dataset to disk", History: [][2]string{{"3.2.2", "Added the `SCHEDULE` option."}}, Handler: h.bgsaveCommand},
		{Name: "bgrewriteaof", Arity: 1, Flags: server.FlagAdmin | server.FlagNoscript | server.FlagNoAsyncLoading, Group: "server", Since: "1.0.0", Complexity: "O(1)", Summary: "Asynchronously rewrite the append-only file", Handler: h.bgrewriteaofCommand},
		{Name: "load", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "server", Since: "0.1.0", Complexity: "O(N) where N is the size of the state", Args: "key file [REPLACE]", Summary: "Loads one session's state from a DSV4 state file in dir.", Handler: h.loadCommand},
		{Name: "dump", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "2.6.0", Complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", Args: "key", Summary: "Return a serialized version of the value stored at the specified key.", Tips: []string{"nondeterministic_output"}, Handler: h.dumpCommand},
		{Name: "restore", Arity: -4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "generic", Since: "2.6.0", Complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", Args: "key ttl serialized-value [REPLACE]@3.0.0 [ABSTTL]@5.0.0 [IDLETIME seconds]@5.0.0 [FREQ frequency:integer]@5.0.0", Summary: "Create a key using the provided serialized value, previously obtained using DUMP.", History: [][2]string{{"3.0.0", "Added the `REPLACE` modifier."}, {"5.0.0", "Added the `ABSTTL` modifier."}, {"5.0.0", "Added the `IDLETIME` and `FREQ` options."}}, ACL: []string{"@dangerous"}, Handler: h.restoreCommand},
	}
}

// persistHandlers are the persistence commands' handlers.
type persistHandlers struct {
	p *persist.Engine
}

// SAVE
// SAVE key file
func (h *persistHandlers) saveCommand(x *server.Ctx) {
	p := h.p
	switch len(x.Args) {
	case 1:
		if p.BgsaveRunning() {
			x.Error(server.Errorf("Background save already in progress"))
			return
		}
		if err := p.Save(); err != nil {
			x.Error(server.Errorf("saving failed: " + err.Error()))
			return
		}
		x.R.OK()
	case 3:
		h.saveKeyCommand(x)
	default:
		x.Error(server.ErrSyntax)
	}
}

// BGREWRITEAOF
func (h *persistHandlers) bgrewriteaofCommand(x *server.Ctx) {
	if err := h.p.BgRewriteAOF(); err != nil {
		x.Error(err)
		return
	}
	x.R.Status("Background append only file rewriting started")
}

// BGSAVE [SCHEDULE]
func (h *persistHandlers) bgsaveCommand(x *server.Ctx) {
	p := h.p
	schedule := false
	if len(x.Args) > 1 {
		if len(x.Args) > 2 || !is(x.Args[1], "SCHEDULE") {
			x.Error(server.ErrSyntax)
			return
		}
		schedule = true
	}
	if p.BgsaveRunning() {
		if schedule {
			p.ScheduleBgsave()
			x.R.Status("Background saving scheduled")
			return
		}
		x.Error(server.Errorf("Background save already in progress"))
		return
	}
	if err := p.Bgsave(); err != nil {
		x.Error(server.Errorf("Background saving failed: " + err.Error()))
		return
	}
	x.R.Status("Background saving started")
}

// ---- One session's state file: SAVE key file, LOAD key file ----

// saveKeyCommand writes one session's DSV4 state to dir/states/file.
func (h *persistHandlers) saveKeyCommand(x *server.Ctx) {
	p := h.p
	key := x.Arg(1)
	if err := rdb.CheckName(x.Arg(2)); err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	o := x.DB.Lookup(key)
	if o == nil {
		x.Error(server.ErrNoSuchKey)
		return
	}
	if o.Type != server.TypeKVState {
		x.Error(server.ErrWrongType)
		return
	}
	if p.Codec() == nil {
		x.Error(errNoModel2)
		return
	}
	st, release, _, err := p.Codec().View(o.Val)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	defer release()
	var n int64
	err = rdb.WriteFileAtomicIn(x.S.Config.Dir, persist.StatesDir+"/"+x.Arg(2), func(f *os.File) error {
		var e error
		n, e = rdb.WriteState(f, st)
		return e
	})
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	x.R.Int(n)
}

var errNoModel2 = server.Errorf("no model loaded: sessions cannot be saved or loaded")

// LOAD key file [REPLACE]
func (h *persistHandlers) loadCommand(x *server.Ctx) {
	p := h.p
	key := x.Arg(1)
	replace := false
	for _, a := range x.Args[3:] {
		if !is(a, "REPLACE") {
			x.Error(server.ErrSyntax)
			return
		}
		replace = true
	}
	if err := rdb.CheckName(x.Arg(2)); err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	if !replace && x.DB.Exists(key) {
		x.Error(errBusyKey)
		return
	}
	if err := x.S.CheckBusy(x.DB, key); err != nil {
		x.Error(err)
		return
	}
	if p.Codec() == nil {
		x.Error(errNoModel2)
		return
	}
	b, err := rdb.ReadFileIn(x.S.Config.Dir, persist.StatesDir+"/"+x.Arg(2))
	if err != nil {
		x.Error(server.Errorf("reading the state file: " + err.Error()))
		return
	}
	st, err := rdb.DecodeState(b, 0)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	v, err := p.Codec().Decode(st)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	recs, err := p.SessionRecords(key, v)
	if err != nil {
		v.Release()
		x.Error(server.Errorf("writing the session to the store: " + err.Error()))
		return
	}
	if recs != nil {
		x.PropagateRaw(recs)
	}
	x.DB.Set(key, server.NewValue(server.TypeKVState, v), false)
	x.Modified(key)
	x.R.Int(int64(len(st.Tokens)))
}

// ---- DUMP and RESTORE ----

var (
	errBusyKey     = server.CodeError("BUSYKEY", "Target key name already exists.")
	errDumpPayload = server.Errorf("DUMP payload version or checksum are wrong")
	errBadData     = server.Errorf("Bad data format")
)

// DUMP key
func (h *persistHandlers) dumpCommand(x *server.Ctx) {
	o := x.DB.Lookup(x.Arg(1))
	if o == nil {
		x.R.Null()
		return
	}
	payload, err := dumpObject(h.p.Codec(), o)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	x.R.Bulk(payload)
}

func dumpObject(codec persist.SessionCodec, o *server.Object) ([]byte, error) {
	if o.Type == server.TypeString {
		return rdb.DumpString(o.Str), nil
	}
	if typ, p, ok := persist.EncodeValue(o); ok {
		return rdb.DumpCollection(typ, p), nil
	}
	if codec == nil {
		return nil, errors.New("no model loaded: sessions cannot be dumped")
	}
	st, release, _, err := codec.View(o.Val)
	if err != nil {
		return nil, err
	}
	defer release()
	return rdb.DumpState(st)
}

// restoreOptions are RESTORE's parsed options.
type restoreOptions struct {
	replace, absTTL bool
	idle, freq      int64 // -1 = not given
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
func (h *persistHandlers) restoreCommand(x *server.Ctx) {
	key := x.Arg(1)
	opt, err := parseRestoreOptions(x)
	if err != nil {
		x.Error(err)
		return
	}
	ttl, err := intArg(x, 2)
	if err != nil {
		x.Error(err)
		return
	}
	if ttl < 0 {
		x.Error(server.Errorf("Invalid TTL value, must be >= 0"))
		return
	}
	if !opt.replace && x.DB.Exists(key) {
		x.Error(errBusyKey)
		return
	}
	if err := x.S.CheckBusy(x.DB, key); err != nil {
		x.Error(err)
		return
	}
	o, err := restoreObject(x.S.Config, h.p.Codec(), x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	// The value is complete: only now does the keyspace change.
	if ttl > 0 && !opt.absTTL {
		ttl += x.S.Now()
	}
	if ttl > 0 && ttl <= x.S.Now() && !x.S.Loading() {
		// Already expired: like Redis, the key ends up absent (but not
		// while a log is replayed: see expireGeneric).
		if o.Val != nil {
			o.Val.Release()
		}
		if opt.replace && x.DB.Delete(key) {
			x.Propagate([]byte("DEL"), x.Args[1])
			x.Modified(key)
		}
		x.R.OK()
		return
	}
	// The log gets a session's records (its pages go to the store now:
	// a full disk refuses the RESTORE, changing nothing), and anything
	// else the command with its TTL made absolute, as Redis 7.0 logs it.
	var recs []byte
	if o.Type == server.TypeKVState {
		if recs, err = h.p.SessionRecords(key, o.Val); err != nil {
			o.Val.Release()
			x.Error(server.Errorf("writing the session to the store: " + err.Error()))
			return
		}
	}
	switch {
	case recs != nil:
		x.PropagateRaw(recs)
		if ttl > 0 {
			x.Propagate([]byte("PEXPIREAT"), x.Args[1], strconv.AppendInt(nil, ttl, 10))
		}
	case ttl > 0 && !opt.absTTL:
		args := append([][]byte(nil), x.Args...)
		args[2] = strconv.AppendInt(nil, ttl, 10)
		x.Propagate(append(args, []byte("ABSTTL"))...)
	}
	x.DB.Set(key, o, false)
	if ttl > 0 {
		x.DB.SetExpire(key, ttl)
	}
	if opt.idle >= 0 {
		o.SetIdle(x.S.Now(), opt.idle*1000)
	}
	if opt.freq >= 0 {
		o.SetFreq(int(opt.freq))
	}
	x.Modified(key)
	x.R.OK()
}

func parseRestoreOptions(x *server.Ctx) (restoreOptions, error) {
	opt := restoreOptions{idle: -1, freq: -1}
	for i := 4; i < len(x.Args); i++ {
		a := x.Args[i]
		more := i+1 < len(x.Args)
		switch {
		case is(a, "REPLACE"):
			opt.replace = true
		case is(a, "ABSTTL"):
			opt.absTTL = true
		case is(a, "IDLETIME") && more && opt.freq == -1:
			n, err := intArg(x, i+1)
			if err != nil {
				return opt, err
			}
			if n < 0 {
				return opt, server.Errorf("Invalid IDLETIME value, must be >= 0")
			}
			opt.idle = n
			i++
		case is(a, "FREQ") && more && opt.idle == -1:
			n, err := intArg(x, i+1)
			if err != nil {
				return opt, err
			}
			if n < 0 || n > 255 {
				return opt, server.Errorf("Invalid FREQ value, must be >= 0 and <= 255")
			}
			opt.freq = n
			i++
		default:
			return opt, server.ErrSyntax
		}
	}
	return opt, nil
}

// restoreObject verifies and decodes a DUMP payload into a new object,
// touching nothing else.
func restoreObject(cfg *server.Config, codec persist.SessionCodec, payload []byte) (*server.Object, error) {
	typ, val, err := rdb.ParseDump(payload)
	if errors.Is(err, rdb.ErrDumpPayload) {
		return nil, errDumpPayload
	}
	if err != nil {
		return nil, errBadData
	}
	if typ == rdb.TypeString {
		return server.NewStringCopy(val), nil
	}
	if rdb.IsCollection(typ) {
		o, err := persist.DecodeValue(cfg, typ, val, 0)
		if err != nil {
			return nil, errBadData
		}
		return o, nil
	}
	if codec == nil {
		return nil, errNoModel2
	}
	st, err := rdb.DecodeState(val, 1)
	if err != nil {
		return nil, errBadData
	}
	v, err := codec.Decode(st)
	if err != nil {
		if errors.Is(err, rdb.ErrIncompatible) {
			return nil, server.Errorf(err.Error())
		}
		return nil, errBadData
	}
	return server.NewValue(server.TypeKVState, v), nil
}
