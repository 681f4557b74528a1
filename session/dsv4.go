package session

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/cespare/xxhash/v2"

	"reddwarf/infer"
	"reddwarf/persist/store"
	"reddwarf/rdb"
	"reddwarf/server"
)

// Persistence of sessions as DSV4 states (rdb/FORMAT.md §2). Codec is
// the persist package's SessionCodec (and DUMP/RESTORE's): View takes a
// copy-on-write view of a session on the loop, Decode rebuilds a session
// from a verified state.
//
// Paged-attention architectures (llama) have two sections per layer, the
// K rows and the V rows of every position, position-major, in the KV
// cache's element type. An architecture with its own state
// (infer.StatefulArch, deepseek4) persists it itself: its
// infer.ArchState implements ArchSections.

// ArchSections is an architecture state (infer.ArchState) that persists
// itself beside (or instead of) the paged K/V rows.
type ArchSections interface {
	// Sections returns the state's sections, copies of kinds from the range
	// rdb/format.go gives the architecture; the state is a copy-on-write
	// view's, which the caller owns until the sections are written (WriteTo
	// may run on another goroutine).
	Sections() ([]rdb.Section, error)
	// RestoreSections fills the state of a State just rebuilt (holding
	// tokens tokens, the logits and the paged rows) from the sections of
	// kinds it owns.
	RestoreSections(tokens int, sections []rdb.Section) error
}

// Codec persists the sessions of one model.
type Codec struct {
	m        *infer.Model
	arch     string
	fp       uint64
	live     *Sessions   // where decoded sessions are counted
	sm       store.Model // what the session store files the model's pages under
	storable bool        // the store can hold its sessions as pages (storable)
}

// NewCodec makes the codec for m; the sessions it decodes join live.
func NewCodec(m *infer.Model, live *Sessions) (*Codec, error) {
	fp, err := ModelFingerprint(m)
	if err != nil {
		return nil, err
	}
	return &Codec{m: m, arch: archName(m), fp: fp, live: live, sm: storeModel(m, fp), storable: storable(m)}, nil
}

func archName(m *infer.Model) string {
	for _, f := range m.Info() {
		if f.Key == "architecture" {
			return fmt.Sprint(f.Value)
		}
	}
	return "unknown"
}

// ModelFingerprint hashes what makes a state valid for a model: the
// architecture, its shapes, the KV layout's shape and the tokenizer's
// vocabulary (every piece, BOS, EOS). Weight quantisation, the KV cache's
// element type and the context size are left out, so a state moves
// between quantisations of one model.
func ModelFingerprint(m *infer.Model) (uint64, error) {
	tok, err := m.Tokenizer()
	if err != nil {
		return 0, err
	}
	h := xxhash.New()
	var b [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	h.WriteString("dsv4-fingerprint-1\x00")
	h.WriteString(archName(m))
	h.Write([]byte{0})
	sh := m.Arch().Shape()
	l := m.Arch().KVLayout()
	for _, v := range []int{sh.Vocab, sh.Layers, sh.Dim, sh.Heads, sh.KVHeads, l.Layers, l.Heads, l.HeadDim} {
		put(v)
	}
	put(tok.VocabSize())
	for id := 0; id < tok.VocabSize(); id++ {
		p := tok.Piece(int32(id))
		put(len(p))
		h.Write(p)
	}
	put(int(tok.BOS()))
	put(int(tok.EOS()))
	return h.Sum64(), nil
}

// Arch is the model's architecture name.
func (c *Codec) Arch() string { return c.arch }

// Fingerprint is ModelFingerprint of the codec's model.
func (c *Codec) Fingerprint() uint64 { return c.fp }

// View takes a copy-on-write view of a session (on the loop): the view's
// State shares every KV page (their reference counts keep them alive, and
// the loop copies a shared page before writing into it), tokens and
// logits are copied, checkpoint logits shared (never modified once
// stored). The returned state's sections read the view from any
// goroutine; release drops it.
func (c *Codec) View(v server.Value) (*rdb.State, func(), int64, error) {
	s, ok := v.(*Session)
	if !ok {
		return nil, nil, 0, fmt.Errorf("session: cannot persist a %T", v)
	}
	if ext := s.State.Ext(); ext != nil {
		if _, ok := ext.(ArchSections); !ok {
			return nil, nil, 0, fmt.Errorf("session: saving %s states is not supported yet", c.arch)
		}
	}
	view := s.State.Clone()
	st := &rdb.State{
		Arch: c.arch, Fingerprint: c.fp, Ctx: view.Cap(), Vocab: c.m.Vocab(),
		Layers: view.Layout().Layers, RNG: s.RNG,
		Tokens: view.Tokens(), Logits: view.Logits(),
	}
	cow := 4*int64(len(st.Tokens)) + 4*int64(len(st.Logits))
	st.Sections = kvSections(view)
	if as, ok := view.Ext().(ArchSections); ok {
		more, err := as.Sections()
		if err != nil {
			view.Release()
			return nil, nil, 0, err
		}
		st.Sections = append(st.Sections, more...)
	}
	for _, cp := range s.Checkpoints {
		st.Checkpoints = append(st.Checkpoints, rdb.Checkpoint{Name: cp.Name, Pos: cp.Pos, Logits: cp.Logits})
	}
	return st, view.Release, cow, nil
}

// kvDType maps the cache's element type to the section's.
func kvDType(t infer.KVType) (uint8, int) {
	if t == infer.KVF32 {
		return rdb.DTypeF32, 4
	}
	return rdb.DTypeF16, 2
}

// kvSections describes the K and V rows of every layer of view.
func kvSections(view *infer.State) []rdb.Section {
	l := view.Layout()
	n := view.Len()
	dtype, elem := kvDType(l.Type)
	size := int64(n) * int64(l.Width()) * int64(elem)
	var secs []rdb.Section
	for layer := 0; layer < l.Layers; layer++ {
		for kind, code := range []uint16{rdb.SectionKVKeys, rdb.SectionKVValues} {
			layer, kind := layer, kind
			secs = append(secs, rdb.Section{
				Kind: code, DType: dtype, Layer: uint32(layer), Size: size,
				WriteTo: func(w io.Writer) error { return writeRows(w, view, layer, kind, elem) },
			})
		}
	}
	return secs
}

// writeRows writes one layer's K or V rows, position-major, in chunks.
func writeRows(w io.Writer, view *infer.State, layer, kind, elem int) error {
	per := max(1, (256<<10)/(view.Layout().Width()*elem))
	var buf []byte
	for from := 0; from < view.Len(); from += per {
		var err error
		buf, err = view.AppendKVRows(buf[:0], layer, kind, from, min(from+per, view.Len()))
		if err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// incompatible explains why a state does not fit this model.
func (c *Codec) incompatible(format string, args ...any) error {
	return fmt.Errorf("session: state does not fit model %s: %s: %w", c.arch, fmt.Sprintf(format, args...), rdb.ErrIncompatible)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("session: state: %s: %w", fmt.Sprintf(format, args...), rdb.ErrCorrupt)
}

// Decode rebuilds a session from a verified state. A state of another
// model is refused with rdb.ErrIncompatible saying what differs; sections
// or checkpoints that don't add up with rdb.ErrCorrupt. Nothing is
// allocated from the model on error.
func (c *Codec) Decode(st *rdb.State) (server.Value, error) {
	if st.Arch != c.arch {
		return nil, c.incompatible("saved by architecture %q", st.Arch)
	}
	if st.Fingerprint != c.fp {
		return nil, c.incompatible("model fingerprint %016x, this model's is %016x (another model or tokenizer)", st.Fingerprint, c.fp)
	}
	l := c.m.Arch().KVLayout()
	if st.Vocab != c.m.Vocab() || st.Layers != l.Layers {
		return nil, c.incompatible("vocab %d layers %d, model has %d and %d", st.Vocab, st.Layers, c.m.Vocab(), l.Layers)
	}
	n := len(st.Tokens)
	if n > c.m.Ctx() {
		return nil, c.incompatible("%d tokens, the context is %d", n, c.m.Ctx())
	}
	// The paged rows: exactly one K and one V section per layer.
	width := l.Width()
	rows := make([][2]rdb.Section, l.Layers)
	seen := make([][2]bool, l.Layers)
	var rest []rdb.Section
	for _, s := range st.Sections {
		if s.Kind != rdb.SectionKVKeys && s.Kind != rdb.SectionKVValues {
			rest = append(rest, s)
			continue
		}
		kind := int(s.Kind - rdb.SectionKVKeys)
		if int(s.Layer) >= l.Layers || seen[s.Layer][kind] {
			return nil, corrupt("KV section for layer %d (of %d) out of range or repeated", s.Layer, l.Layers)
		}
		elem := 0
		switch s.DType {
		case rdb.DTypeF16:
			elem = 2
		case rdb.DTypeF32:
			elem = 4
		default:
			return nil, corrupt("KV section of layer %d: element type %d", s.Layer, s.DType)
		}
		if s.Size != int64(n)*int64(width)*int64(elem) {
			return nil, corrupt("KV section of layer %d: %d bytes for %d rows of %d values", s.Layer, s.Size, n, width)
		}
		seen[s.Layer][kind] = true
		rows[s.Layer][kind] = s
	}
	if n > 0 {
		for layer := range seen {
			if !seen[layer][0] || !seen[layer][1] {
				return nil, corrupt("layer %d has no K or V rows", layer)
			}
		}
	}
	_, stateful := c.m.Arch().(infer.StatefulArch)
	if len(rest) > 0 && !stateful {
		return nil, corrupt("section kind %d is not one this architecture has", rest[0].Kind)
	}
	// Checkpoints: positions within the tokens, unique names.
	names := map[string]bool{}
	cps := make([]Checkpoint, 0, len(st.Checkpoints))
	for _, cp := range st.Checkpoints {
		if cp.Pos > n || names[cp.Name] || cp.Extra != nil && !stateful {
			return nil, corrupt("checkpoint %q at %d: out of range, repeated or with an unknown blob", cp.Name, cp.Pos)
		}
		names[cp.Name] = true
		cps = append(cps, Checkpoint{Name: cp.Name, Pos: cp.Pos, Logits: cp.Logits})
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Pos < cps[j].Pos })
	state, err := c.m.RestoreStateRows(st.Tokens, st.Logits, func(layer, kind int) ([]byte, infer.KVType, error) {
		sec := rows[layer][kind]
		if sec.DType == rdb.DTypeF32 {
			return sec.Data, infer.KVF32, nil
		}
		return sec.Data, infer.KVF16, nil
	})
	if err != nil {
		return nil, corrupt("%v", err)
	}
	if stateful {
		as, ok := state.Ext().(ArchSections)
		if !ok {
			state.Release()
			return nil, fmt.Errorf("session: loading %s states is not supported yet", c.arch)
		}
		if err := as.RestoreSections(state.Len(), rest); err != nil {
			state.Release()
			return nil, err
		}
	}
	sess := c.live.New(state, st.RNG)
	sess.Checkpoints = cps
	return sess, nil
}
