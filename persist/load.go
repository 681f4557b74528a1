package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"reddwarf/rdb"
	"reddwarf/server"
)

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
func (l *lazySession) LoadSize() int64    { return l.ent.Len }

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

// StatesDir is the folder of dir that SAVE key file and LOAD key file name
// their files in: apart from the snapshot, the session store and every
// other file the server owns, which a state file can therefore never
// replace. Load removes the temp files a SAVE killed midway left there.
const StatesDir = "states"

// Load loads dir/dbfilename: the index and the strings now, the
// sessions lazily. A missing file is an empty start; an unreadable or
// corrupt one is an error: the server should not start on an empty
// keyspace silently.
func (p *Engine) Load() error {
	path := p.Path()
	rdb.RemoveStaleTemps(filepath.Dir(path), filepath.Base(path))
	rdb.RemoveStaleTempsUnder(filepath.Join(filepath.Dir(path), StatesDir))
	aofOn := p.s.Config.Get("appendonly") == "yes"
	_, err := os.Stat(filepath.Join(p.StoreDir(), p.s.Config.Get("appendfilename")+".manifest"))
	fresh := errors.Is(err, os.ErrNotExist)
	if aofOn && !fresh {
		// As Redis: with both, the append only file is the newer truth.
		if err := p.loadAOF(); err != nil {
			return fmt.Errorf("loading the append only file: %w", err)
		}
		return nil
	}
	if err := p.loadSnapshotFile(); err != nil {
		return err
	}
	if !aofOn {
		return nil
	}
	if err := p.openAOF(); err != nil {
		return fmt.Errorf("opening the append only file: %w", err)
	}
	if fresh {
		// As Redis 7.0 makes the first base from the snapshot it loaded.
		if err := p.BgRewriteAOF(); err != nil {
			return fmt.Errorf("writing the append only file's first base: %w", err)
		}
	}
	return nil
}

func (p *Engine) loadSnapshotFile() error {
	path := p.Path()
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
func (p *Engine) loadSnapshot(path string) (int, error) {
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
	if fn, ok := snap.Aux[rdb.AuxFunctions]; ok {
		for i := 1; ; i++ {
			more, ok := snap.Aux[rdb.AuxFunctions+"."+strconv.Itoa(i)]
			if !ok {
				break
			}
			fn += more
		}
		if err := p.s.RestoreFunctions([]byte(fn)); err != nil {
			return 0, fmt.Errorf("its function libraries: %w", err)
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
		if rdb.IsCollection(e.Type) {
			v, err := snap.ReadRecord(e)
			if err != nil {
				return 0, err
			}
			o, err := DecodeValue(p.s.Config, e.Type, v, e.Off)
			if err != nil {
				return 0, fmt.Errorf("key %q: %w", e.Key, err)
			}
			keys = append(keys, loaded{e, o})
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
