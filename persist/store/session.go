package store

import (
	"fmt"
	"slices"
	"sort"

	"reddwarf/rdb"
)

// Session is a session as the log describes it: what replay rebuilds
// without running the model. The full pages of its tokens are in the
// segments (found by PageKeys); the partial last page, and the logits
// when no RDW.LOGITS record kept them, are recomputed from the tokens on
// first use (at most PageTokens tokens of prefill: FORMAT.md §5.5 says
// why that, and not storing them, is the choice).
type Session struct {
	Tokens      []int32
	RNG         uint64
	Logits      []float32 // nil unless the log holds them for the current length
	Stored      int       // pages RDW.PAGES said were written (a prefix of the tokens' full pages)
	Checkpoints []Checkpoint
	// Resume lists the positions, ascending, at which a resume point of
	// the architecture's state is stored (RDW.RESUME; deepseek4).
	Resume []int
}

// MaxResumePoints is how many resume points a session keeps (the latest).
const MaxResumePoints = 4

// Checkpoint is a named position and the architecture's blob there.
type Checkpoint struct {
	Name string
	Pos  int
	Blob []byte
}

// Clone copies s (RDW.FORK).
func (s *Session) Clone() *Session {
	c := *s
	c.Tokens = slices.Clone(s.Tokens)
	c.Logits = slices.Clone(s.Logits)
	c.Checkpoints = slices.Clone(s.Checkpoints)
	c.Resume = slices.Clone(s.Resume)
	return &c
}

// Apply applies one session op addressed to this session (APPEND,
// PAGES, RNG, LOGITS, CKPT, TRUNC; NEW, FORK and MODEL are the keyspace's).
// pageTokens is the model's page size. It refuses, wrapping
// rdb.ErrCorrupt, an op that contradicts the session: pages whose hashes
// are not those of its tokens, a position past its end.
func (s *Session) Apply(op *rdb.SessionOp, pageTokens int) error {
	switch op.Op {
	case rdb.OpAppend:
		s.Tokens = append(s.Tokens, op.Tokens...)
		s.Logits = nil
	case rdb.OpPages:
		full := len(s.Tokens) / pageTokens
		if op.First > s.Stored || op.First+len(op.Hashes) > full {
			return fmt.Errorf("pages [%d, %d) of a session with %d full pages, %d stored: %w", op.First, op.First+len(op.Hashes), full, s.Stored, rdb.ErrCorrupt)
		}
		hashes := ChainHashes(s.Tokens[:(op.First+len(op.Hashes))*pageTokens], pageTokens)
		for i, h := range op.Hashes {
			if hashes[op.First+i] != h {
				return fmt.Errorf("page %d hash %016x, the session's tokens give %016x: %w", op.First+i, h, hashes[op.First+i], rdb.ErrCorrupt)
			}
		}
		s.Stored = max(s.Stored, op.First+len(op.Hashes))
	case rdb.OpRNG:
		s.RNG = op.RNG
	case rdb.OpLogits:
		s.Logits = slices.Clone(op.Logits)
		if len(s.Logits) == 0 {
			s.Logits = nil
		}
	case rdb.OpCkpt:
		if op.Pos > len(s.Tokens) {
			return fmt.Errorf("checkpoint %q at %d of %d tokens: %w", op.Name, op.Pos, len(s.Tokens), rdb.ErrCorrupt)
		}
		s.dropCheckpoint(string(op.Name))
		s.Checkpoints = append(s.Checkpoints, Checkpoint{Name: string(op.Name), Pos: op.Pos, Blob: slices.Clone(op.Blob)})
		sort.SliceStable(s.Checkpoints, func(i, j int) bool { return s.Checkpoints[i].Pos < s.Checkpoints[j].Pos })
	case rdb.OpResume:
		if op.Pos > len(s.Tokens) || op.Pos == 0 {
			return fmt.Errorf("resume point at %d of %d tokens: %w", op.Pos, len(s.Tokens), rdb.ErrCorrupt)
		}
		i, found := slices.BinarySearch(s.Resume, op.Pos)
		if !found {
			s.Resume = slices.Insert(s.Resume, i, op.Pos)
		}
		if len(s.Resume) > MaxResumePoints {
			// Older ones are dropped (a rewrite reclaims their pages): the
			// latest serves a restart, the ones before it a ROLLBACK.
			s.Resume = slices.Delete(s.Resume, 0, len(s.Resume)-MaxResumePoints)
		}
	case rdb.OpTrunc:
		if op.Pos > len(s.Tokens) {
			return fmt.Errorf("truncate to %d of %d tokens: %w", op.Pos, len(s.Tokens), rdb.ErrCorrupt)
		}
		if op.Pos < len(s.Tokens) {
			s.Logits = nil
		}
		s.Tokens = s.Tokens[:op.Pos]
		s.Stored = min(s.Stored, op.Pos/pageTokens)
		// As session.Rollback: checkpoints past the cut go.
		keep := s.Checkpoints[:0]
		for _, c := range s.Checkpoints {
			if c.Pos <= op.Pos {
				keep = append(keep, c)
			}
		}
		s.Checkpoints = keep
		for len(s.Resume) > 0 && s.Resume[len(s.Resume)-1] > op.Pos {
			s.Resume = s.Resume[:len(s.Resume)-1]
		}
	default:
		return fmt.Errorf("%s is not a per-session op: %w", op.Op, rdb.ErrCorrupt)
	}
	return nil
}

func (s *Session) dropCheckpoint(name string) {
	for i, c := range s.Checkpoints {
		if c.Name == name {
			s.Checkpoints = append(s.Checkpoints[:i:i], s.Checkpoints[i+1:]...)
			return
		}
	}
}

// Records appends the records that rebuild s under key (a rewrite's
// base): NEW, APPEND, PAGES, RNG, LOGITS and one CKPT per checkpoint —
// tokens and page references, never KV bytes.
func (s *Session) Records(dst, key []byte, pageTokens int) []byte {
	dst = rdb.NewRecord(dst, key)
	if len(s.Tokens) > 0 {
		dst = rdb.AppendTokensRecord(dst, key, s.Tokens)
	}
	if s.Stored > 0 {
		dst = rdb.PagesRecord(dst, key, 0, ChainHashes(s.Tokens[:s.Stored*pageTokens], pageTokens))
	}
	dst = rdb.RNGRecord(dst, key, s.RNG)
	if s.Logits != nil {
		dst = rdb.LogitsRecord(dst, key, s.Logits)
	}
	for _, c := range s.Checkpoints {
		dst = rdb.CkptRecord(dst, key, []byte(c.Name), c.Pos, c.Blob)
	}
	for _, p := range s.Resume {
		dst = rdb.ResumeRecord(dst, key, p)
	}
	return dst
}

// ResumeKey is the key of the resume point after the first n tokens
// (n ≥ 1): the chain hash of the tokens of the page holding token n-1 up
// to n, chained from the full pages before it, filed under kind. After a
// whole number of pages it is that last page's hash.
func ResumeKey(tokens []int32, n, pageTokens int, fp uint64, kind uint8) (rdb.PageKey, uint64, int) {
	q := (n - 1) / pageTokens
	parent := uint64(0)
	if q > 0 {
		hs := ChainHashes(tokens[:q*pageTokens], pageTokens)
		parent = hs[q-1]
	}
	return rdb.PageKey{Hash: rdb.ChainHash(parent, tokens[q*pageTokens:n]), Fingerprint: fp, Kind: kind}, parent, q
}

// ChainHashes returns the chain hash of every full page of tokens.
func ChainHashes(tokens []int32, pageTokens int) []uint64 {
	out := make([]uint64, len(tokens)/pageTokens)
	h := uint64(0)
	for i := range out {
		h = rdb.ChainHash(h, tokens[i*pageTokens:(i+1)*pageTokens])
		out[i] = h
	}
	return out
}

// PageKeys returns the keys of s's full pages for the store's model.
func (st *Store) PageKeys(tokens []int32) []rdb.PageKey {
	m := st.o.Model
	hs := ChainHashes(tokens, m.PageTokens)
	out := make([]rdb.PageKey, len(hs))
	for i, h := range hs {
		out[i] = rdb.PageKey{Hash: h, Fingerprint: m.Fingerprint, Kind: m.PageKind}
	}
	return out
}

// Keyspace is a replay target for session records: a map of sessions by
// db and key. The persist package keeps its own keyspace; this one is
// what Check and the tests replay into.
type Keyspace struct {
	PageTokens int
	db         int
	DBs        map[int]map[string]*Session
}

// NewKeyspace returns an empty replay target.
func NewKeyspace(pageTokens int) *Keyspace {
	return &Keyspace{PageTokens: pageTokens, DBs: map[int]map[string]*Session{}}
}

func (k *Keyspace) dbMap() map[string]*Session {
	m := k.DBs[k.db]
	if m == nil {
		m = map[string]*Session{}
		k.DBs[k.db] = m
	}
	return m
}

// Apply replays one record: RDW.* records, and the Redis commands that
// move or delete keys (SELECT, DEL, UNLINK, RENAME, FLUSHDB, FLUSHALL).
// Other commands are ignored here (they concern Redis keys).
func (k *Keyspace) Apply(file string, rec *rdb.LogRecord) error {
	if !rec.IsSession() {
		return k.command(rec.Args)
	}
	op, err := rdb.DecodeSessionOp(rec, file)
	if err != nil {
		return err
	}
	m := k.dbMap()
	switch op.Op {
	case rdb.OpModel:
		return nil
	case rdb.OpNew:
		m[string(op.Key)] = &Session{}
	case rdb.OpFork:
		src := m[string(op.Key)]
		if src == nil {
			return fmt.Errorf("fork of %q, which is not a session: %w", op.Key, rdb.ErrCorrupt)
		}
		m[string(op.Dst)] = src.Clone()
	default:
		s := m[string(op.Key)]
		if s == nil {
			if op.Op != rdb.OpAppend {
				return fmt.Errorf("%s on %q, which is not a session: %w", op.Op, op.Key, rdb.ErrCorrupt)
			}
			s = &Session{}
			m[string(op.Key)] = s
		}
		return s.Apply(&op, k.PageTokens)
	}
	return nil
}

func (k *Keyspace) command(args [][]byte) error {
	name := string(args[0])
	switch {
	case equalFold(name, "select") && len(args) == 2:
		n, err := fmt.Sscanf(string(args[1]), "%d", &k.db)
		if n != 1 || err != nil {
			return fmt.Errorf("SELECT %q: %w", args[1], rdb.ErrCorrupt)
		}
	case (equalFold(name, "del") || equalFold(name, "unlink")) && len(args) >= 2:
		m := k.dbMap()
		for _, key := range args[1:] {
			delete(m, string(key))
		}
	case equalFold(name, "rename") && len(args) == 3:
		m := k.dbMap()
		if s, ok := m[string(args[1])]; ok {
			delete(m, string(args[1]))
			m[string(args[2])] = s
		}
	case equalFold(name, "flushdb"):
		delete(k.DBs, k.db)
	case equalFold(name, "flushall"):
		k.DBs = map[int]map[string]*Session{}
	}
	return nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}
