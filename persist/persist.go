package persist

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// SessionCodec turns kvstate values into DSV4 states and back; the
// session package implements it for its model (session/dsv4.go).
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

	// The session store's side (appendonly yes). SessionRecords writes
	// v's pages the store lacks and returns the records that rebuild it
	// under key (any goroutine, for a value no one changes meanwhile);
	// FromStore rebuilds a session the log describes, reading its pages,
	// and says how many of its tokens went through the model (those no
	// stored page or resume point covers); StoreSize is about the bytes
	// that takes.
	SessionRecords(ds *store.Store, key []byte, v server.Value) ([]byte, error)
	// Describe is what the store must hold for v to leave RAM: its full
	// pages are written to ds if they are not there yet, and the
	// returned description rebuilds it (FromStore).
	Describe(ds *store.Store, v server.Value) (*store.Session, error)
	FromStore(ds *store.Store, d *store.Session) (server.Value, int, error)
	StoreSize(d *store.Session) int64
}

// Engine is the server's save state; its fields belong to the loop.
type Engine struct {
	s     *server.Server
	codec SessionCodec // nil: no model, so no sessions to save or load

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

	aof   *aof        // the open store (appendonly yes), nil otherwise
	model store.Model // what the store's files are checked against
	// BGREWRITEAOF's INFO figures, kept across CONFIG SET appendonly.
	aofRewrites, rewriteFailures int64
	rewriteOK                    bool
	lastRewriteSec               int64 // -1 until one finished
	lastRewriteTry               time.Time
	pagedOut                     int64 // sessions whose pages left RAM under maxmemory
	onDisk                       int64 // keys holding a storedSession (RAM has none of its pages)
	loaded, recomputed           int64 // sessions loaded from the store, and the tokens that took feeding
	lastFlushWarn                time.Time
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
// a cancelled BGSAVE never renames over a newer SAVE. It is a package
// variable because it guards files, not one Engine: two engines saving
// to one path (tests) still never interleave their renames.
var renameMu sync.Mutex

// New makes the persistence engine of s. codec may be nil when no model
// is loaded: a keyspace holding sessions then cannot be saved or loaded.
func New(s *server.Server, codec SessionCodec) *Engine {
	return &Engine{s: s, codec: codec, lastBgOK: true, lastBgTimeSec: -1, rewriteOK: true, lastRewriteSec: -1}
}

// Codec is the session codec, nil when no model is loaded.
func (p *Engine) Codec() SessionCodec { return p.codec }

// Hooks are what persistence plugs into the server (server.Register):
// save points at cron, the SHUTDOWN and SIGTERM save, the save after
// FLUSHALL, the MISCONF gate and INFO persistence.
func (p *Engine) Hooks() server.Hooks {
	return server.Hooks{
		Name:     "persistence",
		Cron:     p.cron,
		Shutdown: p.shutdown,
		AfterFlushAll: func() {
			// Redis saves an empty dataset after FLUSHALL when save points
			// are set, so a restart does not bring the data back.
			if len(p.s.Config.SavePoints()) > 0 {
				p.Save()
			}
		},
		Gate: func(c *server.Client, spec *server.Spec, args [][]byte) error {
			if err := p.aofGate(spec); err != nil {
				return err
			}
			return p.gate(spec)
		},
		Info: func(name string) []string {
			switch name {
			case "persistence":
				return p.info()
			case "store":
				return p.storeInfo()
			}
			return nil
		},
		InfoNames:      []string{"store"},
		SessionsOnDisk: func() bool { return p.aof != nil && !p.aof.onlyForRewrite && p.codec != nil },
		PageOut:        p.pageOut,
		ApplyConfig:    p.applyConfig,
		Propagate:      p.propagate,
		BeforeReplies:  p.flushAOF,
	}
}

// Path is the snapshot file, dir/dbfilename.
func (p *Engine) Path() string {
	return filepath.Join(p.s.Config.Dir, p.s.Config.Get("dbfilename"))
}

// errMisconf is Redis's text, so clients recognise it.
var errMisconf = server.CodeError("MISCONF", "Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.")

// gate refuses writes after a failed BGSAVE (stop-writes-on-bgsave-error).
func (p *Engine) gate(spec *server.Spec) error {
	if p.lastBgOK || spec.Flags&server.FlagWrite == 0 && spec.Name != "ping" {
		return nil
	}
	if p.s.Config.Get("stop-writes-on-bgsave-error") != "yes" || len(p.s.Config.SavePoints()) == 0 {
		return nil
	}
	return errMisconf
}

func (p *Engine) info() []string {
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
	}, p.aofInfo()...)
}
