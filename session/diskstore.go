package session

import (
	"fmt"

	"reddwarf/infer"
	"reddwarf/persist/store"
	"reddwarf/rdb"
)

// The session store's side of a session (rdb/FORMAT.md §5): full pages
// go to the store once, the log carries tokens and page references, and
// a logged session is rebuilt from its stored pages plus at most one
// page of prefill (§5.5).
//
// Two kinds of state are stored. A paged-attention model's pages are its
// K/V rows (kinds 1 and 2). An architecture with state of its own that
// implements infer.StorableArchState (deepseek4) stores the rows each
// full page of tokens added (kind 16) and, at each commit, a resume
// point after the session's length (kind 17, logged as RDW.RESUME, with
// the logits as RDW.LOGITS): a restart rebuilds the state from the pages
// and the latest resume point exactly, without prefill.

// StoreModel is the store.Model for m: what every log file and page of a
// store made by m is checked against.
func StoreModel(m *infer.Model) (store.Model, error) {
	fp, err := ModelFingerprint(m)
	if err != nil {
		return store.Model{}, err
	}
	return storeModel(m, fp), nil
}

// storeModel is StoreModel for a fingerprint already computed (hashing
// the vocabulary is too slow to repeat at every commit).
func storeModel(m *infer.Model, fp uint64) store.Model {
	kind := uint8(rdb.PageKVF16)
	switch {
	case resumable(m):
		kind = rdb.PageDeepSeek4Rows
	case m.Arch().KVLayout().Type == infer.KVF32:
		kind = rdb.PageKVF32
	}
	return store.Model{Arch: archName(m), Fingerprint: fp, PageKind: kind, PageTokens: infer.PageTokens}
}

// resumable reports whether m's states are an architecture's own that
// the store keeps as rows and resume points (infer.StorableArchState).
func resumable(m *infer.Model) bool {
	sa, ok := m.Arch().(infer.StatefulArch)
	if !ok {
		return false
	}
	st := sa.NewArchState()
	defer st.Release()
	_, ok = st.(infer.StorableArchState)
	return ok
}

// storable reports whether the store can hold m's sessions as pages: a
// paged-attention model, or one whose state is storable. Others are
// logged as tokens and recomputed.
func storable(m *infer.Model) bool {
	_, stateful := m.Arch().(infer.StatefulArch)
	return !stateful || resumable(m)
}

// StorePages writes st's full pages from page from on to ds (a page
// already stored, by this or any session, is not written again) and
// appends the RDW.PAGES record naming them to rec. It returns rec and
// the number of st's pages now stored. Call it after a step, before the
// step's log records are flushed. On an error (the disk full, or
// session-disk-max reached) the record names the pages stored before it.
func StorePages(ds *store.Store, sm store.Model, rec, key []byte, st *infer.State, from int) ([]byte, int, error) {
	full := st.FullPages()
	sa, rows := st.Ext().(infer.StorableArchState)
	if rows {
		full = sa.Tokens() / infer.PageTokens
	}
	if from >= full {
		return rec, from, nil
	}
	toks := st.Tokens()
	hashes := store.ChainHashes(toks[:full*infer.PageTokens], infer.PageTokens)
	var payload []byte
	for i := from; i < full; i++ {
		parent := uint64(0)
		if i > 0 {
			parent = hashes[i-1]
		}
		k := rdb.PageKey{Hash: hashes[i], Fingerprint: sm.Fingerprint, Kind: sm.PageKind}
		if ds.HasPage(k) {
			continue
		}
		var err error
		if rows {
			payload, err = sa.PageRows(payload[:0], i)
		} else {
			payload, err = st.AppendPagePayload(payload[:0], i)
		}
		if err == nil {
			p := &rdb.PageRecord{PageKey: k, Parent: parent, Depth: uint32(i), Tokens: toks[i*infer.PageTokens : (i+1)*infer.PageTokens], Payload: payload}
			_, err = ds.PutPage(p)
		}
		if err != nil {
			// The pages before this one are stored: name them.
			if i > from {
				rec = rdb.PagesRecord(rec, key, from, hashes[from:i])
			}
			return rec, i, err
		}
	}
	return rdb.PagesRecord(rec, key, from, hashes[from:]), full, nil
}

// StoreResume writes st's resume point after its architecture state's
// length (a storable state only; none for an empty one) and appends its
// RDW.RESUME record, then RDW.LOGITS with the logits when they are the
// ones after that length. It returns rec unchanged for other states.
func StoreResume(ds *store.Store, sm store.Model, rec, key []byte, st *infer.State) ([]byte, error) {
	sa, ok := st.Ext().(infer.StorableArchState)
	if !ok || sa.Tokens() == 0 {
		return rec, nil
	}
	n, toks := sa.Tokens(), st.Tokens()
	k, parent, q := store.ResumeKey(toks, n, infer.PageTokens, sm.Fingerprint, rdb.PageDeepSeek4Resume)
	if !ds.HasPage(k) {
		payload, err := sa.Resume(nil)
		if err != nil {
			return rec, err
		}
		p := &rdb.PageRecord{PageKey: k, Parent: parent, Depth: uint32(q), Tokens: toks[q*infer.PageTokens : n], Payload: payload}
		if _, err := ds.PutPage(p); err != nil {
			return rec, err
		}
	}
	rec = rdb.ResumeRecord(rec, key, n)
	if l := st.Logits(); l != nil && n == st.Len() {
		rec = rdb.LogitsRecord(rec, key, l)
	}
	return rec, nil
}

// RestoreState rebuilds the model state of a logged session: its stored
// pages are read from ds for as long as they are there and intact (a
// missing or damaged page, and every page after it, is recomputed), then
// the rest of its tokens — at least one, so the logits come out of the
// model unless the log kept them — are fed through m. It returns the
// state and the number of tokens fed.
func RestoreState(m *infer.Model, ds *store.Store, sm store.Model, d *store.Session) (*infer.State, int, error) {
	toks := d.Tokens
	var st *infer.State
	if sm.PageKind == rdb.PageDeepSeek4Rows {
		st = resumeState(m, ds, sm, d)
	} else {
		keys := ds.PageKeys(toks)
		use := min(d.Stored, len(keys))
		if d.Logits == nil && use*infer.PageTokens == len(toks) && use > 0 {
			use-- // the last token must be fed to get its logits
		}
		pages, err := ds.ReadRun(keys[:use]) // a missing or damaged page ends the run: recompute from there
		if err != nil {
			return nil, 0, err
		}
		payloads := make([][]byte, len(pages))
		for i, p := range pages {
			payloads[i] = p.Payload
		}
		if st, err = m.StateFromPages(toks, payloads); err != nil {
			return nil, 0, err
		}
	}
	if st == nil {
		st = m.NewState()
	}
	from := st.Len()
	if err := feed(m, st, toks[from:]); err != nil {
		return nil, 0, err
	}
	if d.Logits != nil {
		if err := st.SetLogits(d.Logits); err != nil {
			st.Release()
			return nil, 0, err
		}
	}
	return st, len(toks) - from, nil
}

// feed runs rest through m after st's tokens, in chunks of 512; on error
// st is released.
func feed(m *infer.Model, st *infer.State, rest []int32) error {
	for len(rest) > 0 {
		n := min(len(rest), 512)
		if err := m.Step([]infer.Seq{{State: st, Tokens: rest[:n]}}); err != nil {
			st.Release()
			return fmt.Errorf("session: recomputing tokens [%d, %d): %w", st.Len(), st.Len()+n, err)
		}
		rest = rest[n:]
	}
	return nil
}

// resumeState is RestoreState's start for a storable architecture state:
// the latest resume point whose pages are all stored and intact, or nil
// (recompute from the start). A resume point at the session's whole
// length serves only with the logged logits (the model gives them
// otherwise from the last token, which must then be fed).
func resumeState(m *infer.Model, ds *store.Store, sm store.Model, d *store.Session) *infer.State {
	toks := d.Tokens
	for i := len(d.Resume) - 1; i >= 0; i-- {
		n := d.Resume[i]
		if n > len(toks) || n == len(toks) && d.Logits == nil {
			continue
		}
		full := n / infer.PageTokens
		keys := ds.PageKeys(toks[:full*infer.PageTokens])
		pages, err := ds.ReadRun(keys)
		if err != nil || len(pages) < full {
			continue
		}
		rk, _, _ := store.ResumeKey(toks, n, infer.PageTokens, sm.Fingerprint, rdb.PageDeepSeek4Resume)
		rp, err := ds.ReadPage(rk)
		if err != nil {
			continue
		}
		payloads := make([][]byte, len(pages))
		for j, p := range pages {
			payloads[j] = p.Payload
		}
		var logits []float32
		if n == len(toks) {
			logits = d.Logits
		}
		st, err := m.StateFromResume(toks, n, payloads, rp.Payload, logits)
		if err == nil {
			return st
		}
	}
	return nil
}

// LookupStored is the prefix cache on disk: it finds the longest run of
// stored pages that starts tokens and covers at most limit of them, and
// returns a state holding those pages (no logits: feed it at least one
// more token) and its length, or nil and 0 when the first page is not
// stored. A page that is damaged ends the run (it is recomputed).
// Paged-attention models only.
func LookupStored(m *infer.Model, ds *store.Store, tokens []int32, limit int) (*infer.State, int, error) {
	limit = min(limit, len(tokens))
	pages, err := ds.ReadRun(ds.PageKeys(tokens[:limit]))
	if err != nil {
		return nil, 0, err
	}
	payloads := make([][]byte, len(pages))
	for i, p := range pages {
		payloads[i] = p.Payload
	}
	if len(payloads) == 0 {
		return nil, 0, nil
	}
	st, err := m.StateFromPages(tokens, payloads)
	if err != nil {
		return nil, 0, err
	}
	return st, st.Len(), nil
}
