package commands

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/rdb"
	"reddwarf/server"
	"reddwarf/session"
)

// Persistence: SAVE, BGSAVE, DUMP, RESTORE, LOAD (LASTSAVE and SHUTDOWN
// are in server.go and reach this file through Hooks.Shutdown). The byte
// formats are the rdb package's; this file decides what goes into a
// snapshot, when, and what the keyspace looks like after a load.
//
// A snapshot is written from a view of the keyspace taken on the loop:
// strings are copied (SETRANGE writes in place), sessions are viewed
// copy-on-write through the SessionCodec (page references, so the loop
// may go on and GEN may extend a session while a goroutine writes the
// view), and sessions still lazy from the previous snapshot are copied
// byte for byte from that file. SAVE writes the view on the loop; BGSAVE
// hands it to a goroutine and the loop goes on.

var persistCommands = []*server.Spec{
	{Name: "save", Arity: -1, Flags: server.FlagAdmin | server.FlagNoscript | server.FlagNoMulti | server.FlagNoAsyncLoading, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "server", Since: "1.0.0", Complexity: "O(N) where N is the total number of keys in all databases", Args: "[key file]", Summary: "Synchronously saves the database(s) to disk, or one session's state to a file in dir.", Handler: saveCommand},
	{Name: "bgsave", Arity: -1, Flags: server.FlagAdmin | server.FlagNoscript | server.FlagNoAsyncLoading, Group: "server", Since: "1.0.0", Complexity: "O(1)", Args: "[SCHEDULE]@3.2.2", Summary: "Asynchronously save the dataset to disk", History: [][2]string{{"3.2.2", "Added the `SCHEDULE` option."}}, Handler: bgsaveCommand},
	{Name: "load", Arity: -3, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "server", Since: "0.1.0", Complexity: "O(N) where N is the size of the state", Args: "key file [REPLACE]", Summary: "Loads one session's state from a DSV4 state file in dir.", Handler: loadCommand},
	{Name: "dump", Arity: 2, Flags: ro, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("RO", "ACCESS"), Group: "generic", Since: "2.6.0", Complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", Args: "key", Summary: "Return a serialized version of the value stored at the specified key.", Tips: []string{"nondeterministic_output"}, Handler: dumpCommand},
	{Name: "restore", Arity: -4, Flags: w | dm, FirstKey: 1, LastKey: 1, Step: 1, KeySpecs: keys("OW", "UPDATE"), Group: "generic", Since: "2.6.0", Complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", Args: "key ttl serialized-value [REPLACE]@3.0.0 [ABSTTL]@5.0.0 [IDLETIME seconds]@5.0.0 [FREQ frequency:integer]@5.0.0", Summary: "Create a key using the provided serialized value, previously obtained using DUMP.", History: [][2]string{{"3.0.0", "Added the `REPLACE` modifier."}, {"5.0.0", "Added the `ABSTTL` modifier."}, {"5.0.0", "Added the `IDLETIME` and `FREQ` options."}}, ACL: []string{"@dangerous"}, Handler: restoreCommand},
}

// SessionCodec turns kvstate values into DSV4 states and back; the
// sessions package implements it for its model (session/dsv4.go).
type SessionCodec interface {
	// Arch and Fingerprint identify the model states are valid for.
	Arch() string
	Fingerprint() uint64
	// View runs on the loop: a copy-on-write view of v whose sections may
	// be written from another goroutine while the loop goes on; release
	// (callable from any goroutine) drops the view's page references.
	// cow is the bytes the view copied (INFO rdb_last_cow_size).
	View(v server.Value) (st *rdb.State, release func(), cow int64, err error)
	// Decode builds a session from a verified state, refusing (wrapping
	// rdb.ErrIncompatible) a state made by another model.
	Decode(st *rdb.State) (server.Value, error)
}

// persistence is the server's save state; its fields belong to the loop.
type persistence struct {
	s     *server.Server
	codec SessionCodec

	bg            *bgsave // the running BGSAVE, nil if none
	scheduled     bool    // BGSAVE SCHEDULE waiting for the running one
	lastBgOK      bool
	lastBgTry     time.Time
	lastBgTimeSec int64 // -1 until a BGSAVE finished
	saves         int64
	lastCowSize   int64
	// The last snapshot load (start-up): keys loaded, and keys left out
	// because their TTL had passed (INFO rdb_last_load_keys_*).
	lastLoadKeys, lastLoadExpired int64
}

// bgsave is one background save in flight.
type bgsave struct {
	start       time.Time
	dirtyBefore int64
	cancel      atomic.Bool
	done        chan struct{}
	// For INFO's current_* fields: the bytes the view copied when it was
	// taken (the save's whole copy-on-write cost), the keys in the view,
	// and the keys written so far (by the save's goroutine).
	cow       int64
	keys      int64
	processed atomic.Int64
}

// renameMu orders a background save's rename against a foreground save:
// a cancelled BGSAVE never renames over a newer SAVE.
var renameMu sync.Mutex

var persist *persistence

// SetSessionCodec gives persistence its session codec (main, tests).
// Without one, a keyspace holding sessions cannot be saved or loaded.
func SetSessionCodec(c SessionCodec) {
	if persist != nil {
		persist.codec = c
	}
	pendingCodec = c
}

var pendingCodec SessionCodec

// InstallPersistence plugs persistence into s (cron save points, SHUTDOWN
// and SIGTERM saves, FLUSHALL save, MISCONF gate, INFO persistence) and
// loads dir/dbfilename if it exists. An unreadable or corrupt snapshot is
// an error: the server should not start on an empty keyspace silently.
func InstallPersistence(s *server.Server) error {
	p := &persistence{s: s, codec: pendingCodec, lastBgOK: true, lastBgTimeSec: -1}
	if p.codec == nil && engine != nil {
		c, err := session.NewCodec(engine.Model)
		if err != nil {
			return err
		}
		p.codec = c
	}
	persist = p
	h := &s.Hooks
	prevCron := h.Cron
	h.Cron = func() {
		p.cron()
		if prevCron != nil {
			prevCron()
		}
	}
	prevShutdown := h.Shutdown
	h.Shutdown = func(save bool) error {
		if prevShutdown != nil {
			if err := prevShutdown(save); err != nil {
				return err
			}
		}
		return p.shutdown(save)
	}
	prevFlush := h.AfterFlushAll
	h.AfterFlushAll = func() {
		if prevFlush != nil {
			prevFlush()
		}
		// Redis saves an empty dataset after FLUSHALL when save points are
		// set, so a restart does not bring the data back.
		if len(s.Config.SavePoints()) > 0 {
			p.save()
		}
	}
	prevGate := h.Gate
	h.Gate = func(c *server.Client, spec *server.Spec, args [][]byte) error {
		if err := p.gate(spec); err != nil {
			return err
		}
		if prevGate != nil {
			return prevGate(c, spec, args)
		}
		return nil
	}
	prevInfo := h.InfoSections
	h.InfoSections = func(name string) []string {
		if name == "persistence" {
			return p.info()
		}
		if prevInfo != nil {
			return prevInfo(name)
		}
		return nil
	}
	return p.loadAtStart()
}

func (p *persistence) path() string {
	return filepath.Join(p.s.Config.Dir, p.s.Config.Get("dbfilename"))
}

// ---- The view and its writer ----

// viewItem is one key as the snapshot will hold it.
type viewItem struct {
	db       int
	key      string
	expireMS int64
	str      []byte     // a string's private copy
	st       *rdb.State // a session's view
	release  func()
	lazy     *lazySession // a session still in the previous snapshot
}

// takeView snapshots the keyspace on the loop. Expired keys are left out.
// On error nothing is held.
func (p *persistence) takeView() (items []viewItem, cow int64, err error) {
	now := time.Now().UnixMilli()
	for _, db := range p.s.DBs {
		db.Dict(func(key string, o *server.Object, exp int64) bool {
			if exp != -1 && exp <= now {
				return true
			}
			it := viewItem{db: db.ID, key: key, expireMS: exp}
			switch {
			case o.Type == server.TypeString:
				it.str = append([]byte(nil), o.Str...)
				cow += int64(len(it.str))
			case isLazy(o.Val):
				lz := o.Val.(*lazySession)
				lz.snap.Retain()
				it.lazy = lz
			default:
				if p.codec == nil {
					err = fmt.Errorf("key %q holds a session and no model is loaded", key)
					return false
				}
				st, rel, c, e := p.codec.View(o.Val)
				if e != nil {
					err = fmt.Errorf("key %q: %w", key, e)
					return false
				}
				it.st, it.release, cow = st, rel, cow+c
			}
			items = append(items, it)
			return true
		})
		if err != nil {
			releaseView(items)
			return nil, 0, err
		}
	}
	return items, cow, nil
}

func releaseView(items []viewItem) {
	for _, it := range items {
		if it.release != nil {
			it.release()
		}
		if it.lazy != nil {
			it.lazy.snap.Close()
		}
	}
}

// errCancelled is returned by writeView when a newer save took over.
var errCancelled = errors.New("cancelled by a newer save")

// writeView writes items to path (temp file, fsync, rename, fsync dir)
// and releases the view. Safe on any goroutine: it touches no loop state.
//
// processed, when not nil, counts the keys written (INFO
// current_save_keys_processed).
func writeView(path string, items []viewItem, aux [][2]string, cancel *atomic.Bool, processed *atomic.Int64) (err error) {
	enc := startEncoders(items)
	defer releaseView(items)
	defer enc.stop() // before releaseView: no encoder reads a released view
	w, err := rdb.CreateSnapshot(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	for _, a := range aux {
		if err := w.Aux(a[0], a[1]); err != nil {
			return err
		}
	}
	for _, it := range items {
		if cancel != nil && cancel.Load() {
			return errCancelled
		}
		pre := enc.next()
		switch {
		case pre != nil:
			if pre.err != nil {
				return fmt.Errorf("key %q: %w", it.key, pre.err)
			}
			err = w.SessionPayload(it.db, it.key, it.expireMS, int64(len(pre.buf.Bytes())), bytes.NewReader(pre.buf.Bytes()))
			pre.buf.Reset()
			encodeBufs.Put(pre.buf)
		case it.st != nil:
			err = w.Session(it.db, it.key, it.expireMS, it.st)
		case it.lazy != nil:
			e := it.lazy.ent
			err = w.SessionPayload(it.db, it.key, it.expireMS, e.ValueLen(), it.lazy.snap.ValueReader(e))
		default:
			err = w.String(it.db, it.key, it.expireMS, it.str)
		}
		if err != nil {
			return err
		}
		if processed != nil {
			processed.Add(1)
		}
	}
	renameMu.Lock()
	defer renameMu.Unlock()
	if cancel != nil && cancel.Load() {
		return errCancelled
	}
	return w.Commit()
}

// Session payloads up to encodeAheadMax bytes are encoded ahead, on as
// many goroutines as there are CPUs, while the writer writes the records
// before them in order (the transpose from the KV pages' layout is the
// costly part of a snapshot). Larger ones stream from the writer; at most
// one buffer per encoder is held.
const encodeAheadMax = 64 << 20

// encodeBufs are reused across payloads and saves: fresh memory costs
// page faults, which on small machines are slower than the encoding.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type encoded struct {
	buf  *bytes.Buffer
	err  error
	done chan struct{}
}

type encoders struct {
	ch   chan *encoded // one per item, in order; nil = write it inline
	quit chan struct{}
	wg   sync.WaitGroup
}

func startEncoders(items []viewItem) *encoders {
	e := &encoders{ch: make(chan *encoded, runtime.GOMAXPROCS(0)), quit: make(chan struct{})}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, it := range items {
			var f *encoded
			if it.st != nil && rdb.StateSize(it.st) <= encodeAheadMax {
				f = &encoded{done: make(chan struct{})}
				e.wg.Add(1)
				go func(st *rdb.State) {
					defer e.wg.Done()
					b := encodeBufs.Get().(*bytes.Buffer)
					b.Grow(int(rdb.StateSize(st)))
					_, f.err = rdb.WriteState(b, st)
					f.buf = b
					close(f.done)
				}(it.st)
			}
			select {
			case e.ch <- f:
			case <-e.quit:
				return
			}
		}
	}()
	return e
}

// next is the pre-encoded payload of the next item, or nil.
func (e *encoders) next() *encoded {
	f := <-e.ch
	if f != nil {
		<-f.done
	}
	return f
}

// stop ends the encoders and waits for every one to finish.
func (e *encoders) stop() {
	close(e.quit)
	e.wg.Wait()
}

func (p *persistence) aux() [][2]string {
	a := [][2]string{
		{rdb.AuxVersion, server.Version},
		{rdb.AuxCTime, strconv.FormatInt(time.Now().Unix(), 10)},
	}
	if p.codec != nil {
		a = append(a, [2]string{rdb.AuxArch, p.codec.Arch()}, [2]string{rdb.AuxFingerprint, strconv.FormatUint(p.codec.Fingerprint(), 16)})
	}
	return a
}

// ---- SAVE and BGSAVE ----

// save is a foreground save of the whole keyspace (SAVE, SHUTDOWN,
// FLUSHALL). A running BGSAVE is cancelled first, like Redis kills its
// child: this save is newer.
func (p *persistence) save() error {
	p.killBgsave()
	items, cow, err := p.takeView()
	if err == nil {
		err = writeView(p.path(), items, p.aux(), nil, nil)
	}
	if err != nil {
		p.s.Logf("warning", "Failed saving the DB: %v", err)
		return err
	}
	p.s.Dirty = 0
	p.s.LastSave = time.Now().Unix()
	p.saves++
	p.lastCowSize = cow
	p.lastBgOK = true // a good save clears MISCONF, as in Redis
	p.s.Logf("notice", "DB saved on disk")
	return nil
}

// killBgsave cancels a running BGSAVE and waits until its goroutine has
// left its file (it never renames once cancelled).
func (p *persistence) killBgsave() {
	if p.bg == nil {
		return
	}
	p.bg.cancel.Store(true)
	<-p.bg.done
	p.s.Logf("notice", "Background saving terminated: a foreground save replaces it")
	p.bg = nil
	p.scheduled = false
}

// bgsave starts a background save; the caller checked none is running.
func (p *persistence) bgsave() error {
	items, cow, err := p.takeView()
	p.lastBgTry = time.Now()
	if err != nil {
		p.lastBgOK = false
		p.s.Logf("warning", "Can't save in background: %v", err)
		return err
	}
	bg := &bgsave{start: time.Now(), dirtyBefore: p.s.Dirty, done: make(chan struct{}), cow: cow, keys: int64(len(items))}
	p.bg = bg
	p.lastCowSize = cow
	path, aux := p.path(), p.aux()
	p.s.Logf("notice", "Background saving started")
	go func() {
		err := writeView(path, items, aux, &bg.cancel, &bg.processed)
		close(bg.done)
		p.s.Post(func() { p.bgsaveDone(bg, err) })
	}()
	return nil
}

// bgsaveDone runs on the loop when a background save ends.
func (p *persistence) bgsaveDone(bg *bgsave, err error) {
	if errors.Is(err, errCancelled) || p.bg != bg {
		return
	}
	p.bg = nil
	p.lastBgTimeSec = int64(time.Since(bg.start).Seconds())
	if err != nil {
		p.lastBgOK = false
		p.s.Logf("warning", "Background saving error: %v", err)
	} else {
		p.lastBgOK = true
		p.s.Dirty -= bg.dirtyBefore
		if p.s.Dirty < 0 {
			p.s.Dirty = 0
		}
		p.s.LastSave = time.Now().Unix()
		p.saves++
		p.s.Logf("notice", "Background saving terminated with success")
	}
	if p.scheduled {
		p.scheduled = false
		p.bgsave()
	}
}

// cron starts a BGSAVE when a save point is reached (or one was
// scheduled), as Redis's serverCron: after a failed BGSAVE, retry only
// every 5 seconds.
func (p *persistence) cron() {
	if p.bg != nil {
		return
	}
	if p.scheduled {
		p.scheduled = false
		p.bgsave()
		return
	}
	now := time.Now()
	for _, sp := range p.s.Config.SavePoints() {
		if p.s.Dirty >= sp.Changes && now.Unix()-p.s.LastSave > sp.Seconds &&
			(p.lastBgOK || now.Sub(p.lastBgTry) > 5*time.Second) {
			p.s.Logf("notice", "%d changes in %d seconds. Saving...", sp.Changes, sp.Seconds)
			p.bgsave()
			return
		}
	}
}

// shutdown saves before exit when asked (SHUTDOWN SAVE, or save points
// set); a failed save keeps the server running.
func (p *persistence) shutdown(save bool) error {
	if !save {
		p.killBgsave()
		return nil
	}
	p.s.Logf("warning", "Saving the final DSV4 snapshot before exiting.")
	return p.save()
}

// errMisconf is Redis's text, so clients recognise it.
var errMisconf = server.CodeError("MISCONF", "Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.")

// gate refuses writes after a failed BGSAVE (stop-writes-on-bgsave-error).
func (p *persistence) gate(spec *server.Spec) error {
	if p.lastBgOK || spec.Flags&server.FlagWrite == 0 && spec.Name != "ping" {
		return nil
	}
	if p.s.Config.Get("stop-writes-on-bgsave-error") != "yes" || len(p.s.Config.SavePoints()) == 0 {
		return nil
	}
	return errMisconf
}

func (p *persistence) info() []string {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	status := "ok"
	if !p.lastBgOK {
		status = "err"
	}
	// A BGSAVE's view is copied once, when taken (no fork), so its
	// copy-on-write size is known from the start and never grows: peak and
	// current are that copy, as old as the save.
	cur := int64(-1)
	var cow, cowAge, keys, processed int64
	perc := 0.0
	if bg := p.bg; bg != nil {
		cur = int64(time.Since(bg.start).Seconds())
		cow, cowAge, keys, processed = bg.cow, cur, bg.keys, bg.processed.Load()
		if keys > 0 {
			perc = float64(processed) * 100 / float64(keys)
		}
	}
	return append([]string{
		"loading:0",
		"async_loading:0",
		fmt.Sprintf("current_cow_peak:%d", cow),
		fmt.Sprintf("current_cow_size:%d", cow),
		fmt.Sprintf("current_cow_size_age:%d", cowAge),
		fmt.Sprintf("current_fork_perc:%.2f", perc),
		fmt.Sprintf("current_save_keys_processed:%d", processed),
		fmt.Sprintf("current_save_keys_total:%d", keys),
		fmt.Sprintf("rdb_changes_since_last_save:%d", p.s.Dirty),
		fmt.Sprintf("rdb_bgsave_in_progress:%d", b2i(p.bg != nil)),
		fmt.Sprintf("rdb_last_save_time:%d", p.s.LastSave),
		"rdb_last_bgsave_status:" + status,
		fmt.Sprintf("rdb_last_bgsave_time_sec:%d", p.lastBgTimeSec),
		fmt.Sprintf("rdb_current_bgsave_time_sec:%d", cur),
		fmt.Sprintf("rdb_saves:%d", p.saves),
		fmt.Sprintf("rdb_last_cow_size:%d", p.lastCowSize),
		fmt.Sprintf("rdb_last_load_keys_expired:%d", p.lastLoadExpired),
		fmt.Sprintf("rdb_last_load_keys_loaded:%d", p.lastLoadKeys),
	}, server.InfoNoAOFOrModules...)
}

var errNoPersist = server.Errorf("persistence is not enabled")

// SAVE
// SAVE key file
func saveCommand(x *server.Ctx) {
	p := persist
	if p == nil {
		x.Error(errNoPersist)
		return
	}
	switch len(x.Args) {
	case 1:
		if p.bg != nil {
			x.Error(server.Errorf("Background save already in progress"))
			return
		}
		if err := p.save(); err != nil {
			x.Error(server.Errorf("saving failed: " + err.Error()))
			return
		}
		x.R.OK()
	case 3:
		saveKeyCommand(x, p)
	default:
		x.Error(server.ErrSyntax)
	}
}

// BGSAVE [SCHEDULE]
func bgsaveCommand(x *server.Ctx) {
	p := persist
	if p == nil {
		x.Error(errNoPersist)
		return
	}
	schedule := false
	if len(x.Args) > 1 {
		if len(x.Args) > 2 || !is(x.Args[1], "SCHEDULE") {
			x.Error(server.ErrSyntax)
			return
		}
		schedule = true
	}
	if p.bg != nil {
		if schedule {
			p.scheduled = true
			x.R.Status("Background saving scheduled")
			return
		}
		x.Error(server.Errorf("Background save already in progress"))
		return
	}
	if err := p.bgsave(); err != nil {
		x.Error(server.Errorf("Background saving failed: " + err.Error()))
		return
	}
	x.R.Status("Background saving started")
}

// ---- One session's state file: SAVE key file, LOAD key file ----

func stateFilePath(x *server.Ctx, name string) (string, error) {
	path, err := rdb.PathInDir(x.S.Config.Dir, name)
	if err != nil {
		return "", server.Errorf(err.Error())
	}
	return path, nil
}

// saveKeyCommand writes one session's DSV4 state to dir/file.
func saveKeyCommand(x *server.Ctx, p *persistence) {
	key := x.Arg(1)
	path, err := stateFilePath(x, x.Arg(2))
	if err != nil {
		x.Error(err)
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
	if p.codec == nil {
		x.Error(errNoModel2)
		return
	}
	st, release, _, err := p.codec.View(o.Val)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	defer release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	var n int64
	err = rdb.WriteFileAtomic(path, func(f *os.File) error {
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
func loadCommand(x *server.Ctx) {
	p := persist
	if p == nil {
		x.Error(errNoPersist)
		return
	}
	key := x.Arg(1)
	replace := false
	for _, a := range x.Args[3:] {
		if !is(a, "REPLACE") {
			x.Error(server.ErrSyntax)
			return
		}
		replace = true
	}
	path, err := stateFilePath(x, x.Arg(2))
	if err != nil {
		x.Error(err)
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
	if p.codec == nil {
		x.Error(errNoModel2)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		x.Error(server.Errorf("reading the state file: " + err.Error()))
		return
	}
	st, err := rdb.DecodeState(b, 0)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	v, err := p.codec.Decode(st)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
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
func dumpCommand(x *server.Ctx) {
	o := x.DB.Lookup(x.Arg(1))
	if o == nil {
		x.R.Null()
		return
	}
	payload, err := dumpObject(o)
	if err != nil {
		x.Error(server.Errorf(err.Error()))
		return
	}
	x.R.Bulk(payload)
}

func dumpObject(o *server.Object) ([]byte, error) {
	if o.Type == server.TypeString {
		return rdb.DumpString(o.Str), nil
	}
	codec := persistCodec()
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

func persistCodec() SessionCodec {
	if persist != nil {
		return persist.codec
	}
	return pendingCodec
}

// restoreOptions are RESTORE's parsed options.
type restoreOptions struct {
	replace, absTTL bool
	idle, freq      int64 // -1 = not given
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
func restoreCommand(x *server.Ctx) {
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
	o, err := restoreObject(x.Args[3])
	if err != nil {
		x.Error(err)
		return
	}
	// The value is complete: only now does the keyspace change.
	if ttl > 0 && !opt.absTTL {
		ttl += x.S.Now()
	}
	if ttl > 0 && ttl <= x.S.Now() {
		// Already expired: like Redis, the key ends up absent.
		if o.Val != nil {
			o.Val.Release()
		}
		if opt.replace && x.DB.Delete(key) {
			x.Modified(key)
		}
		x.R.OK()
		return
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
func restoreObject(payload []byte) (*server.Object, error) {
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
	codec := persistCodec()
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

// ---- Start-up load and lazy sessions ----

// lazySession is a session still in the snapshot the server started from:
// the keyspace holds it until the key is first looked up, when
// Materialize decodes it (server.Lazy). BGSAVE copies its bytes as they
// are.
type lazySession struct {
	snap     *rdb.Snapshot
	ent      rdb.Entry
	codec    SessionCodec
	released atomic.Bool
}

func isLazy(v server.Value) bool { _, ok := v.(*lazySession); return ok }

func (l *lazySession) Encoding() string   { return "paged" }
func (l *lazySession) MemoryUsage() int64 { return 64 + int64(len(l.ent.Key)) }

func (l *lazySession) Clone() server.Value {
	l.snap.Retain()
	return &lazySession{snap: l.snap, ent: l.ent, codec: l.codec}
}

func (l *lazySession) Release() {
	if l.released.CompareAndSwap(false, true) {
		l.snap.Close()
	}
}

// Materialize reads, verifies and decodes the session.
func (l *lazySession) Materialize() (server.Value, error) {
	b, err := l.snap.ReadRecord(l.ent)
	if err != nil {
		return nil, err
	}
	st, err := rdb.DecodeState(b, l.ent.Off)
	if err != nil {
		return nil, err
	}
	v, err := l.codec.Decode(st)
	if err != nil {
		return nil, err
	}
	l.Release()
	return v, nil
}

// loadAtStart loads dir/dbfilename: the index and the strings now, the
// sessions lazily. A missing file is an empty start.
func (p *persistence) loadAtStart() error {
	path := p.path()
	rdb.RemoveStaleTemps(filepath.Dir(path), filepath.Base(path))
	start := time.Now()
	p.s.SetLoading(true)
	defer p.s.SetLoading(false)
	n, err := p.loadSnapshot(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	p.s.Logf("notice", "DB loaded from disk: %d keys in %.3f seconds", n, time.Since(start).Seconds())
	return nil
}

// loadSnapshot adds the snapshot's keys to the (empty) keyspace. On error
// the keyspace is left as it was.
func (p *persistence) loadSnapshot(path string) (int, error) {
	snap, err := rdb.OpenSnapshot(path)
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	now := time.Now().UnixMilli()
	sessions := 0
	for _, e := range snap.Entries {
		if e.DB >= len(p.s.DBs) {
			return 0, fmt.Errorf("key %q is in db %d; this server has %d databases", e.Key, e.DB, len(p.s.DBs))
		}
		if e.Type == rdb.TypeSession {
			sessions++
		}
	}
	if sessions > 0 {
		if p.codec == nil {
			return 0, fmt.Errorf("%d sessions in the snapshot and no model loaded", sessions)
		}
		fp := strconv.FormatUint(p.codec.Fingerprint(), 16)
		if got := snap.Aux[rdb.AuxFingerprint]; got != fp {
			return 0, fmt.Errorf("its sessions were saved by model %s (fingerprint %s), this server runs %s (fingerprint %s): %w",
				snap.Aux[rdb.AuxArch], got, p.codec.Arch(), fp, rdb.ErrIncompatible)
		}
	}
	// Read every string first, so a corrupt one leaves the keyspace empty.
	type loaded struct {
		e rdb.Entry
		o *server.Object
	}
	var keys []loaded
	expired := 0
	for _, e := range snap.Entries {
		if e.ExpireMS != -1 && e.ExpireMS <= now {
			expired++
			continue
		}
		if e.Type == rdb.TypeString {
			v, err := snap.ReadRecord(e)
			if err != nil {
				return 0, err
			}
			keys = append(keys, loaded{e, server.NewString(v)})
			continue
		}
		keys = append(keys, loaded{e, nil})
	}
	for _, k := range keys {
		o := k.o
		if o == nil {
			snap.Retain()
			o = server.NewValue(server.TypeKVState, &lazySession{snap: snap, ent: k.e, codec: p.codec})
		}
		db := p.s.DBs[k.e.DB]
		db.Set(k.e.Key, o, false)
		if k.e.ExpireMS != -1 {
			db.SetExpire(k.e.Key, k.e.ExpireMS)
		}
	}
	p.lastLoadKeys, p.lastLoadExpired = int64(len(keys)), int64(expired)
	return len(keys), nil
}
