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
	if m.Arch().KVLayout().Type == infer.KVF32 {
		kind = rdb.PageKVF32
	}
	return store.Model{Arch: archName(m), Fingerprint: fp, PageKind: kind, PageTokens: infer.PageTokens}
}

// StorePages writes st's full pages from page from on to ds (a page
// already stored, by this or any session, is not written again) and
// appends the RDW.PAGES record naming them to rec. It returns rec and
// the number of st's pages now stored. Call it after a step, before the
// step's log records are flushed.
func StorePages(ds *store.Store, sm store.Model, rec, key []byte, st *infer.State, from int) ([]byte, int, error) {
	full := st.FullPages()
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
		if payload, err = st.AppendPagePayload(payload[:0], i); err != nil {
			return rec, from, err
		}
		p := &rdb.PageRecord{PageKey: k, Parent: parent, Depth: uint32(i), Tokens: toks[i*infer.PageTokens : (i+1)*infer.PageTokens], Payload: payload}
		if _, err := ds.PutPage(p); err != nil {
			return rec, from, err
		}
	}
	return rdb.PagesRecord(rec, key, from, hashes[from:]), full, nil
}

// RestoreState rebuilds the model state of a logged session: its stored
// pages are read from ds for as long as they are there and intact (a
// missing or damaged page, and every page after it, is recomputed), then
// the rest of its tokens — at least one, so the logits come out of the
// model unless the log kept them — are fed through m. It returns the
// state and the number of tokens fed.
func RestoreState(m *infer.Model, ds *store.Store, sm store.Model, d *store.Session) (*infer.State, int, error) {
	toks := d.Tokens
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
	st, err := m.StateFromPages(toks, payloads)
	if err != nil {
		return nil, 0, err
	}
	rest := toks[st.Len():]
	for len(rest) > 0 {
		n := min(len(rest), 512)
		if err := m.Step([]infer.Seq{{State: st, Tokens: rest[:n]}}); err != nil {
			st.Release()
			return nil, 0, fmt.Errorf("session: recomputing tokens [%d, %d): %w", st.Len(), st.Len()+n, err)
		}
		rest = rest[n:]
	}
	if d.Logits != nil {
		if err := st.SetLogits(d.Logits); err != nil {
			st.Release()
			return nil, 0, err
		}
	}
	return st, len(toks) - len(payloads)*infer.PageTokens, nil
}

// LookupStored is the prefix cache on disk: it finds the longest run of
// stored pages that starts tokens and covers at most limit of them, and
// returns a state holding those pages (no logits: feed it at least one
// more token) and its length, or nil and 0 when the first page is not
// stored. A page that is damaged ends the run (it is recomputed).
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
