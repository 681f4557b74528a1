package persist

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// Start-up from the session store (Redis 7.0's AOF loading): with
// appendonly yes and a store on disk, the keyspace is what its base and
// incremental logs say, and the snapshot is not read. Redis records run
// through the command table as a client with no connection would run
// them (server.ReplayCommand); session records build storedSession
// placeholders, which hold tokens and page references and read their
// pages only when the key is first used, so start-up costs the log's
// size, not the sessions'.

// replayer applies the store's records to the keyspace.
type replayer struct {
	p     *Engine
	c     *server.Client
	multi []rdb.LogRecord // records since a MULTI, applied at its EXEC; nil outside one
	inTx  bool
	keys  int64 // records applied, for the log line
}

// loadAOF opens the store and replays it into the (empty) keyspace.
func (p *Engine) loadAOF() error {
	start := time.Now()
	p.s.SetLoading(true)
	defer p.s.SetLoading(false)
	r := &replayer{p: p, c: p.s.NewReplayClient()}
	if err := p.openAOFWith(r.apply); err != nil {
		return err
	}
	if r.inTx {
		// Redis truncates a MULTI the log ends inside; the store has cut
		// only a torn record, so the transaction is left out here.
		p.s.Logf("warning", "The append only file ends inside a MULTI block: its %d commands were not applied", len(r.multi))
	}
	n := 0
	for _, db := range p.s.DBs {
		n += db.Len()
	}
	p.s.Logf("notice", "DB loaded from append only file: %d keys in %.3f seconds", n, time.Since(start).Seconds())
	return nil
}

// apply is the store's replay callback: transactions are collected and
// applied whole at their EXEC.
func (r *replayer) apply(file string, rec *rdb.LogRecord) error {
	if !rec.IsSession() {
		switch name := rec.Args[0]; {
		case bytes.EqualFold(name, []byte("MULTI")):
			if r.inTx {
				return fmt.Errorf("MULTI inside MULTI: %w", rdb.ErrCorrupt)
			}
			r.inTx, r.multi = true, r.multi[:0]
			return nil
		case bytes.EqualFold(name, []byte("EXEC")):
			if !r.inTx {
				return fmt.Errorf("EXEC without MULTI: %w", rdb.ErrCorrupt)
			}
			r.inTx = false
			for i := range r.multi {
				if err := r.one(file, &r.multi[i]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if r.inTx {
		// The record's arguments are the reader's until the call returns.
		c := rdb.LogRecord{Offset: rec.Offset, Args: make([][]byte, len(rec.Args))}
		for i, a := range rec.Args {
			c.Args[i] = slices.Clone(a)
		}
		r.multi = append(r.multi, c)
		return nil
	}
	return r.one(file, rec)
}

// one applies one record.
func (r *replayer) one(file string, rec *rdb.LogRecord) error {
	r.keys++
	if !rec.IsSession() {
		err := r.p.s.ReplayCommand(r.c, rec.Args)
		if err != nil && r.p.s.Commands.Lookup(rec.Args[0]) == nil {
			return fmt.Errorf("unknown command %q: %w", rec.Args[0], rdb.ErrCorrupt)
		}
		return nil // a command's error reply changes nothing, as when it first ran
	}
	op, err := rdb.DecodeSessionOp(rec, file)
	if err != nil {
		return err
	}
	db := r.c.DB
	switch op.Op {
	case rdb.OpModel:
		return nil
	case rdb.OpNew:
		db.Delete(string(op.Key))
		db.Set(string(op.Key), r.p.newStored(&store.Session{}), false)
		return nil
	case rdb.OpFork:
		src := db.Peek(string(op.Key))
		if src == nil || src.Type != server.TypeKVState {
			return fmt.Errorf("%s of %q, which is not a session: %w", op.Op, op.Key, rdb.ErrCorrupt)
		}
		db.Delete(string(op.Dst))
		db.Set(string(op.Dst), server.NewValue(server.TypeKVState, src.Val.Clone()), false)
		return nil
	}
	o := db.Peek(string(op.Key))
	if o == nil && op.Op == rdb.OpAppend {
		o = r.p.newStored(&store.Session{})
		db.Set(string(op.Key), o, false)
	}
	if o == nil || o.Type != server.TypeKVState {
		return fmt.Errorf("%s on %q, which is not a session: %w", op.Op, op.Key, rdb.ErrCorrupt)
	}
	st, ok := o.Val.(*storedSession)
	if !ok {
		return fmt.Errorf("%s on %q, a session the log does not describe (restored from a DUMP payload): %w", op.Op, op.Key, rdb.ErrCorrupt)
	}
	return st.d.Apply(&op, r.p.model.PageTokens)
}

// newStored wraps d as a key's value.
func (p *Engine) newStored(d *store.Session) *server.Object {
	return server.NewValue(server.TypeKVState, p.newStoredValue(d))
}
