package deepseek4

import (
	"fmt"

	"reddwarf/infer"
)

// state is one deepseek4 session's state beside its tokens (spec §9.1):
// per layer the raw sliding window (a ring of Window rows), the compressed
// attention rows and indexer rows (append-only: floor(n/r) of each after n
// tokens), and the compressor frontiers (partial pooling windows). The ring
// and frontiers are the small mutable part a checkpoint copies; compressed
// rows are cut back by count on rollback.
//
// Invariant: the state describes the first n tokens of its State; tokens
// [n, State.Len()) are pending replay (after a Truncate to a point between
// checkpoints) and are fed by the next Forward before the new tokens.
type state struct {
	arch        *model
	n           int
	layers      []layerState
	checkpoints []checkpoint // ascending n; n = 0 is implicit (empty state)
	// pageSnap is the state at the last page boundary a prefill chunk
	// crossed before its last row (captured by Forward, never modified),
	// kept until Snapshots hands it to a prefix cache: a later prompt that
	// repeats this one's tokens resumes there.
	pageSnap *state
	// dev is the state on the device when the model runs there
	// (device.go), holding dev.n positions; hostStale says that device
	// steps ran since the host copy (layers) was last brought up to
	// date. Every method that reads the host copy first syncs it, and
	// one that changes it marks the device's out of date.
	dev       *deviceState
	hostStale bool
}

// sync brings the host copy up to date with the device's (device.go).
// A failed Read means a dead device, which no caller can recover from.
func (st *state) sync() {
	if !st.hostStale || st.dev == nil {
		return
	}
	if err := st.arch.dev.pull(st); err != nil {
		panic(fmt.Sprintf("deepseek4: reading a session's state from the device: %v", err))
	}
}

// hostChanged marks the device's copy out of date: the next device step
// uploads the host's.
func (st *state) hostChanged() {
	if st.dev != nil {
		st.dev.n = -1
	}
}

// layerState is one layer's part. Rows are float32 (f16-rounded values
// when the cache type is f16, as ds4 keeps them).
type layerState struct {
	ring   []float32 // Window × HeadDim; slot p mod Window holds position p's raw K=V row
	comp   rowStore  // compressed rows, n/ratio × HeadDim
	idx    rowStore  // indexer rows, n/4 × IDim (ratio 4)
	fKV    []float32 // attention compressor frontier values: slots × coff·HeadDim
	fScore []float32 // its scores (gate + ape); -1e30 = empty
	iKV    []float32 // indexer compressor frontier: 8 × 2·IDim
	iScore []float32
}

// checkpoint is the mutable part of a state after n tokens.
type checkpoint struct {
	n      int
	layers []layerState // ring and frontiers copied; comp/idx empty
}

// negInf marks an empty frontier slot (ds4's DS4_NEG_INF).
const negInf = -1e30

// defaultCheckpointInterval is how often (in tokens) Forward takes an automatic
// checkpoint; rollback replays at most this many tokens.
var defaultCheckpointInterval = 2048

// NewArchState implements StatefulArch.
func (m *model) NewArchState() infer.ArchState {
	st := &state{arch: m}
	st.reset()
	return st
}

// frontierSlots is the number of frontier slots of a ratio-r compressor and
// the width of a slot: ratio 4 keeps 8 slots (previous + current window) of
// both halves; ratio 128 keeps one window.
func frontierSlots(r, width int) (slots, w int) {
	if r == 4 {
		return 8, 2 * width
	}
	return r, width
}

func (st *state) reset() {
	c := &st.arch.cfg
	st.n = 0
	st.checkpoints = nil
	st.pageSnap = nil
	st.layers = make([]layerState, c.Layers)
	for i := range st.layers {
		l := &st.layers[i]
		l.ring = make([]float32, c.Window*c.HeadDim)
		l.comp, l.idx = rowStore{width: c.HeadDim}, rowStore{width: c.IDim}
		if r := c.Ratios[i]; r != 0 {
			s, w := frontierSlots(r, c.HeadDim)
			l.fKV, l.fScore = make([]float32, s*w), make([]float32, s*w)
			fill(l.fScore, negInf)
			if r == 4 {
				l.iKV, l.iScore = make([]float32, 8*2*c.IDim), make([]float32, 8*2*c.IDim)
				fill(l.iScore, negInf)
			}
		}
	}
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

// snapshot copies the mutable part of a layer state.
func (l *layerState) snapshot() layerState {
	cp := func(x []float32) []float32 {
		if x == nil {
			return nil
		}
		return append([]float32(nil), x...)
	}
	return layerState{ring: cp(l.ring), fKV: cp(l.fKV), fScore: cp(l.fScore), iKV: cp(l.iKV), iScore: cp(l.iScore)}
}

// Clone implements ArchState. Full pages of compressed and indexer rows
// are shared with the fork; the rest is copied.
func (st *state) Clone() infer.ArchState {
	st.sync()
	c := &state{arch: st.arch, n: st.n, layers: make([]layerState, len(st.layers))}
	for i := range st.layers {
		l := &st.layers[i]
		s := l.snapshot()
		s.comp = l.comp.clone()
		s.idx = l.idx.clone()
		c.layers[i] = s
	}
	c.checkpoints = append([]checkpoint(nil), st.checkpoints...) // checkpoints are immutable
	return c
}

// Truncate implements ArchState: restore the latest checkpoint at or before
// n (the empty state if none) and leave toks[cp:n] pending replay.
func (st *state) Truncate(toks []int32, n int) error {
	if n < 0 || n > len(toks) {
		return fmt.Errorf("deepseek4: truncate to %d of %d tokens: %w", n, len(toks), infer.ErrRange)
	}
	if st.pageSnap != nil && st.pageSnap.n > n {
		st.pageSnap = nil
	}
	if n >= st.n {
		return nil // only pending tokens are dropped
	}
	st.sync()
	defer st.hostChanged()
	k := len(st.checkpoints) - 1
	for k >= 0 && st.checkpoints[k].n > n {
		k--
	}
	st.checkpoints = st.checkpoints[:k+1]
	if k < 0 {
		st.restoreEmpty()
		return nil
	}
	cp := &st.checkpoints[k]
	c := &st.arch.cfg
	for i := range st.layers {
		l, s := &st.layers[i], &cp.layers[i]
		copy(l.ring, s.ring)
		copy(l.fKV, s.fKV)
		copy(l.fScore, s.fScore)
		copy(l.iKV, s.iKV)
		copy(l.iScore, s.iScore)
		if r := c.Ratios[i]; r != 0 {
			l.comp.truncate(cp.n / r)
			if r == 4 {
				l.idx.truncate(cp.n / 4)
			}
		}
	}
	st.n = cp.n
	return nil
}

// restoreEmpty empties the state but keeps its buffers.
func (st *state) restoreEmpty() {
	st.n = 0
	for i := range st.layers {
		l := &st.layers[i]
		fill(l.ring, 0)
		fill(l.fKV, 0)
		fill(l.fScore, negInf)
		fill(l.iKV, 0)
		fill(l.iScore, negInf)
		l.comp.truncate(0)
		l.idx.truncate(0)
	}
}

// Release implements ArchState.
func (st *state) Release() {
	if st.dev != nil {
		st.arch.dev.release(st.dev)
		st.dev, st.hostStale = nil, false
	}
	st.reset()
}

// Bytes implements ArchState: rows and frontiers as held (float32), plus
// checkpoints.
func (st *state) Bytes() int64 {
	var b int64
	for i := range st.layers {
		l := &st.layers[i]
		b += int64(len(l.ring)+len(l.fKV)+len(l.fScore)+len(l.iKV)+len(l.iScore))*4 + l.comp.bytes() + l.idx.bytes()
	}
	if ps := st.pageSnap; ps != nil {
		for i := range ps.layers {
			l := &ps.layers[i]
			b += int64(len(l.ring)+len(l.fKV)+len(l.fScore)+len(l.iKV)+len(l.iScore)) * 4
		}
	}
	for _, cp := range st.checkpoints {
		for i := range cp.layers {
			l := &cp.layers[i]
			b += int64(len(l.ring)+len(l.fKV)+len(l.fScore)+len(l.iKV)+len(l.iScore)) * 4
		}
	}
	return b
}

// Checkpoint records the current state (after n tokens) so a later rollback
// to n or beyond replays from here. Taking one at an existing point is a
// no-op.
func (st *state) Checkpoint() {
	st.sync()
	if st.n == 0 || (len(st.checkpoints) > 0 && st.checkpoints[len(st.checkpoints)-1].n >= st.n) {
		return
	}
	cp := checkpoint{n: st.n, layers: make([]layerState, len(st.layers))}
	for i := range st.layers {
		cp.layers[i] = st.layers[i].snapshot()
	}
	st.checkpoints = append(st.checkpoints, cp)
}

// Snapshots implements infer.ResumableArchState: the state at each restore
// point (sharing the restore point's ring and frontiers, and the full pages
// of rows before it), at the last page boundary a prefill chunk crossed
// (handed over: the state forgets it) and, unless one is there, at its
// current length (a copy). None describes more than n tokens; pending
// replay tokens are not part of any.
func (st *state) Snapshots() []infer.ArchSnapshot {
	st.sync()
	out := make([]infer.ArchSnapshot, 0, len(st.checkpoints)+2)
	for k := range st.checkpoints {
		if cp := &st.checkpoints[k]; cp.n <= st.n {
			out = append(out, infer.ArchSnapshot{N: cp.n, State: st.at(k)})
		}
	}
	if ps := st.pageSnap; ps != nil {
		st.pageSnap = nil
		i := len(out)
		for i > 0 && out[i-1].N >= ps.n {
			i--
		}
		if i == len(out) || out[i].N != ps.n {
			out = append(out[:i], append([]infer.ArchSnapshot{{N: ps.n, State: ps}}, out[i:]...)...)
		}
	}
	if st.n > 0 && (len(out) == 0 || out[len(out)-1].N < st.n) {
		out = append(out, infer.ArchSnapshot{N: st.n, State: st.Clone()})
	}
	return out
}

// at returns the state at restore point k without copying: its ring and
// frontiers are the restore point's, which never change, and its rows
// share the full pages of st's. It must not be modified (Clone it).
func (st *state) at(k int) *state {
	cp := &st.checkpoints[k]
	c := &st.arch.cfg
	s := &state{arch: st.arch, n: cp.n, layers: make([]layerState, len(st.layers)), checkpoints: st.checkpoints[: k+1 : k+1]}
	for i := range st.layers {
		l := cp.layers[i]
		l.comp, l.idx = rowStore{width: c.HeadDim}, rowStore{width: c.IDim}
		if r := c.Ratios[i]; r != 0 {
			l.comp = st.layers[i].comp.clone()
			l.comp.truncate(cp.n / r)
		}
		if c.Ratios[i] == 4 {
			l.idx = st.layers[i].idx.clone()
			l.idx.truncate(cp.n / 4)
		}
		s.layers[i] = l
	}
	return s
}

// GrowthBytesPerToken is the state's growth per token with float32 rows
// (spec §9.2: compressed + indexer rows, and the token id).
func (m *model) GrowthBytesPerToken() float64 {
	c := &m.cfg
	var b float64
	for _, r := range c.Ratios {
		switch r {
		case 4:
			b += float64(c.HeadDim+c.IDim) * 4 / 4
		case 128:
			b += float64(c.HeadDim) * 4 / 128
		}
	}
	return b + 4
}

// rowPage is the number of rows in one page of a rowStore.
const rowPage = 64

// rowStore is an append-only list of rows of width floats, in pages of
// rowPage rows. Full pages never change, so forks share them; the last,
// partial page is private to its store (clone and truncate copy it).
type rowStore struct {
	width int
	n     int
	pages [][]float32
}

// row returns row i (shared storage: don't modify).
func (s *rowStore) row(i int) []float32 {
	o := (i % rowPage) * s.width
	return s.pages[i/rowPage][o : o+s.width]
}

func (s *rowStore) append(x []float32) {
	if s.n%rowPage == 0 {
		s.pages = append(s.pages, make([]float32, 0, rowPage*s.width))
	}
	last := len(s.pages) - 1
	s.pages[last] = append(s.pages[last], x[:s.width]...)
	s.n++
}

// truncate keeps the first n rows; a partial last page becomes a private copy.
func (s *rowStore) truncate(n int) {
	if n >= s.n {
		return
	}
	np := (n + rowPage - 1) / rowPage
	s.pages = s.pages[:np:np]
	if k := n % rowPage; k != 0 {
		s.pages[np-1] = append(make([]float32, 0, rowPage*s.width), s.pages[np-1][:k*s.width]...)
	}
	s.n = n
}

// clone shares the full pages and copies the partial one.
func (s *rowStore) clone() rowStore {
	c := rowStore{width: s.width, n: s.n, pages: append([][]float32(nil), s.pages...)}
	if k := s.n % rowPage; k != 0 {
		last := len(c.pages) - 1
		c.pages[last] = append(make([]float32, 0, rowPage*s.width), s.pages[last]...)
	}
	return c
}

// all returns the rows back to back (a copy).
func (s *rowStore) all() []float32 {
	x := make([]float32, 0, s.n*s.width)
	for _, p := range s.pages {
		x = append(x, p...)
	}
	return x
}

// load appends n rows from little-endian float32 bytes (exactly n rows;
// checked before anything is allocated).
func (s *rowStore) load(n int, b []byte) error {
	if len(b) != 4*n*s.width {
		return fmt.Errorf("%d bytes for %d rows of %d values", len(b), n, s.width)
	}
	x := make([]float32, n*s.width)
	if err := bytesF32(x, b); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		s.append(x[i*s.width : (i+1)*s.width])
	}
	return nil
}

// bytes is the memory of the pages (shared ones counted in full).
func (s *rowStore) bytes() int64 {
	var b int64
	for _, p := range s.pages {
		b += int64(cap(p)) * 4
	}
	return b
}
