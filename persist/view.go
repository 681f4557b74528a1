package persist

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// viewItem is one key as the snapshot will hold it.
type viewItem struct {
	db       int
	key      string
	expireMS int64
	str      []byte     // a string's private copy, or a collection's payload
	coll     uint8      // the rdb type of a collection (str holds its payload)
	st       *rdb.State // a session's view
	release  func()
	lazy     *lazySession // a session still in the previous snapshot
	// A session whose pages are in the session store (storedSession):
	// its description, copied, and the store and codec that rebuild it.
	stored *store.Session
	ds     *store.Store
	codec  SessionCodec
	val    server.Value // a rewrite's view of a session in RAM: a copy-on-write clone
}

// takeView snapshots the keyspace on the loop. Expired keys are left out.
// On error nothing is held.
func (p *Engine) takeView() (items []viewItem, cow int64, err error) { return p.takeViewFor(false) }

// takeViewFor is takeView; forStore takes sessions in RAM as clones (a
// rewrite's base logs them as records) instead of DSV4 state views.
func (p *Engine) takeViewFor(forStore bool) (items []viewItem, cow int64, err error) {
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
			case o.Type != server.TypeKVState:
				// A collection is encoded here, on the loop: the payload is
				// the view (writes after this don't reach it).
				typ, p, _ := EncodeValue(o)
				it.coll, it.str = typ, p
				cow += int64(len(p))
			case isLazy(o.Val):
				lz := o.Val.(*lazySession)
				lz.snap.Retain()
				it.lazy = lz
			case isStored(o.Val):
				if p.aof == nil || p.codec == nil {
					err = fmt.Errorf("key %q: %w", key, errStoreClosed)
					return false
				}
				it.stored, it.ds, it.codec = o.Val.(*storedSession).d.Clone(), p.aof.st, p.codec
				cow += o.Val.MemoryUsage()
			case forStore && p.codec != nil:
				it.val = o.Val.Clone()
				it.release = it.val.Release
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

// writeStored writes a session that is in the session store: rebuilt
// from its pages here, one at a time, then viewed as any other.
func writeStored(w *rdb.SnapshotWriter, it viewItem) error {
	v, _, err := it.codec.FromStore(it.ds, it.stored)
	if err != nil {
		return fmt.Errorf("key %q: %w", it.key, err)
	}
	defer v.Release()
	st, release, _, err := it.codec.View(v)
	if err != nil {
		return fmt.Errorf("key %q: %w", it.key, err)
	}
	defer release()
	return w.Session(it.db, it.key, it.expireMS, st)
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
		case it.stored != nil:
			err = writeStored(w, it)
		case it.lazy != nil:
			e := it.lazy.ent
			err = w.SessionPayload(it.db, it.key, it.expireMS, e.ValueLen(), it.lazy.snap.ValueReader(e))
		case it.coll != 0:
			err = w.Collection(it.coll, it.db, it.key, it.expireMS, it.str)
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

func (p *Engine) aux() [][2]string {
	a := [][2]string{
		{rdb.AuxVersion, server.Version},
		{rdb.AuxCTime, strconv.FormatInt(time.Now().Unix(), 10)},
	}
	if p.codec != nil {
		a = append(a, [2]string{rdb.AuxArch, p.codec.Arch()}, [2]string{rdb.AuxFingerprint, strconv.FormatUint(p.codec.Fingerprint(), 16)})
	}
	if fn := p.s.FunctionsPayload(); fn != nil {
		// An aux value is at most MaxAuxLen: a bigger payload goes in
		// pieces, "functions", "functions.1", ... (loadSnapshot joins them).
		for i := 0; len(fn) > 0; i++ {
			n := min(len(fn), rdb.MaxAuxLen)
			name := rdb.AuxFunctions
			if i > 0 {
				name += "." + strconv.Itoa(i)
			}
			a = append(a, [2]string{name, string(fn[:n])})
			fn = fn[n:]
		}
	}
	return a
}
