package rdb

import (
	"fmt"
	"io"
)

// State is one session as the DSV4 payload holds it, architecture-neutral:
// the header fields, tokens, logits, the sections the architecture defines
// and the checkpoint table. A State is built by an architecture's encoder
// (session/dsv4.go for paged-attention models) and written by WriteState;
// DecodeState returns one whose section Data and checkpoint Extra are
// subslices of the decoded buffer (don't modify it while they are in use).
type State struct {
	Arch        string // general.architecture, e.g. "llama", "deepseek4"
	Fingerprint uint64 // ModelFingerprint of the model that made the state
	Ctx         int    // the model's context size when saved (informational)
	Layers      int
	Vocab       int
	RNG         uint64 // the session sampler's state
	Tokens      []int32
	Logits      []float32 // nil, or Vocab values
	Sections    []Section
	Checkpoints []Checkpoint
}

// Section is one architecture-defined block of a state, usually one
// layer's rows. Writers set Size and either Data or WriteTo; WriteTo is
// called from the snapshot goroutine and must write exactly Size bytes.
type Section struct {
	Kind    uint16
	DType   uint8
	Layer   uint32
	Size    int64
	Data    []byte
	WriteTo func(w io.Writer) error
}

// Checkpoint is one entry of the checkpoint table.
type Checkpoint struct {
	Name   string
	Pos    int
	Logits []float32 // nil, or Vocab values
	Extra  []byte    // architecture blob (nil for paged-attention models)
}

// sectionEntrySize is one section table entry: kind u16, dtype u8,
// reserved u8, layer u32, size u64.
const sectionEntrySize = 16

// StateSize is the number of bytes WriteState writes for st.
func StateSize(st *State) int64 {
	n := int64(stateFixedHeader + len(st.Arch))
	n += int64(len(st.Sections)) * sectionEntrySize
	n += 4 * int64(len(st.Tokens))
	if st.Logits != nil {
		n += 4 * int64(len(st.Logits))
	}
	for _, s := range st.Sections {
		n += s.Size
	}
	for _, c := range st.Checkpoints {
		n += 2 + int64(len(c.Name)) + 4 + 1 + 4 + 4*int64(len(c.Logits)) + int64(len(c.Extra))
	}
	return n + 8
}

// validate checks what a writer could get wrong (programmer errors surface
// as errors, not corrupt files).
func (st *State) validate() error {
	if st.Arch == "" || len(st.Arch) > MaxArchName {
		return fmt.Errorf("rdb: state architecture name %q: want 1..%d bytes", st.Arch, MaxArchName)
	}
	if st.Logits != nil && len(st.Logits) != st.Vocab {
		return fmt.Errorf("rdb: state has %d logits, vocab %d", len(st.Logits), st.Vocab)
	}
	if len(st.Sections) > MaxSections || len(st.Checkpoints) > MaxCheckpoints {
		return fmt.Errorf("rdb: state has %d sections, %d checkpoints: too many", len(st.Sections), len(st.Checkpoints))
	}
	for _, c := range st.Checkpoints {
		if len(c.Name) > MaxCheckpointName || (c.Logits != nil && len(c.Logits) != st.Vocab) {
			return fmt.Errorf("rdb: checkpoint %q: name %d bytes, %d logits (vocab %d)", c.Name, len(c.Name), len(c.Logits), st.Vocab)
		}
	}
	return nil
}

// WriteState writes st as a DSV4 payload (FORMAT.md §2) and returns the
// bytes written (= StateSize(st) on success).
func WriteState(w io.Writer, st *State) (int64, error) {
	if err := st.validate(); err != nil {
		return 0, err
	}
	e := newEnc(w)
	// Fixed header.
	e.str(StateMagic)
	e.u16(StateVersion)
	var flags uint16
	if st.Logits != nil {
		flags |= StateHasLogits
	}
	e.u16(flags)
	e.u64(st.Fingerprint)
	e.u64(st.RNG)
	e.u32(uint32(st.Ctx))
	e.u32(uint32(len(st.Tokens)))
	e.u32(uint32(st.Layers))
	e.u32(uint32(st.Vocab))
	e.u32(uint32(len(st.Sections)))
	e.u32(uint32(len(st.Checkpoints)))
	e.u16(uint16(len(st.Arch)))
	e.str(st.Arch)
	// Section table.
	for _, s := range st.Sections {
		e.u16(s.Kind)
		e.u8(s.DType)
		e.u8(0)
		e.u32(s.Layer)
		e.u64(uint64(s.Size))
	}
	// Tokens, logits.
	e.i32s(st.Tokens)
	if st.Logits != nil {
		e.f32s(st.Logits)
	}
	// Sections, each exactly its declared size.
	for i, s := range st.Sections {
		start := e.n
		if s.WriteTo != nil {
			if err := s.WriteTo(e); err != nil && e.err == nil {
				e.err = fmt.Errorf("rdb: writing section %d (kind %d layer %d): %w", i, s.Kind, s.Layer, err)
			}
		} else {
			e.bytes(s.Data)
		}
		if e.err == nil && e.n-start != s.Size {
			e.err = fmt.Errorf("rdb: section %d (kind %d layer %d) wrote %d bytes, declared %d", i, s.Kind, s.Layer, e.n-start, s.Size)
		}
	}
	// Checkpoint table.
	for _, c := range st.Checkpoints {
		e.u16(uint16(len(c.Name)))
		e.str(c.Name)
		e.u32(uint32(c.Pos))
		var f uint8
		if c.Logits != nil {
			f |= CheckpointHasLogits
		}
		if c.Extra != nil {
			f |= CheckpointHasExtra
		}
		e.u8(f)
		e.u32(uint32(len(c.Extra)))
		if c.Logits != nil {
			e.f32s(c.Logits)
		}
		e.bytes(c.Extra)
	}
	e.sum()
	return e.n, e.err
}

// DecodeState parses and verifies a DSV4 payload: the checksum first, then
// every field against what is left. It never panics and allocates only
// what the (checksummed) input holds. base is b's offset in its file, for
// error messages.
func DecodeState(b []byte, base int64) (*State, error) {
	body, err := verifySum(b, "state", base)
	if err != nil {
		return nil, err
	}
	d := &dec{b: body, base: base, what: "state"}
	st := &State{}
	// Fixed header.
	if m := d.take(4, "magic"); d.err == nil && string(m) != StateMagic {
		d.fail("magic %q, want %q", m, StateMagic)
	}
	if v := d.u16("version"); d.err == nil && v != StateVersion {
		d.fail("version %d, this reader knows %d", v, StateVersion)
	}
	flags := d.u16("flags")
	if d.err == nil && flags&^StateHasLogits != 0 {
		d.fail("unknown flags %#x", flags)
	}
	st.Fingerprint = d.u64("fingerprint")
	st.RNG = d.u64("rng")
	st.Ctx = int(d.u32("context size"))
	ntok := d.u32("token count")
	st.Layers = int(d.u32("layer count"))
	st.Vocab = int(d.u32("vocab size"))
	nsec := d.u32("section count")
	ncp := d.u32("checkpoint count")
	alen := d.u16("architecture name length")
	if d.err == nil {
		switch {
		case st.Ctx > MaxCtx || ntok > uint32(st.Ctx):
			d.fail("%d tokens, context %d (limit %d)", ntok, st.Ctx, MaxCtx)
		case st.Layers > MaxLayers:
			d.fail("%d layers (limit %d)", st.Layers, MaxLayers)
		case st.Vocab == 0 || st.Vocab > MaxVocab:
			d.fail("vocab %d (want 1..%d)", st.Vocab, MaxVocab)
		case nsec > MaxSections:
			d.fail("%d sections (limit %d)", nsec, MaxSections)
		case ncp > MaxCheckpoints:
			d.fail("%d checkpoints (limit %d)", ncp, MaxCheckpoints)
		case alen == 0 || alen > MaxArchName:
			d.fail("architecture name length %d (want 1..%d)", alen, MaxArchName)
		}
	}
	st.Arch = string(d.take(int(alen), "architecture name"))
	// Section table: sizes must fit in what is left.
	if d.err == nil && uint64(nsec)*sectionEntrySize > uint64(d.left()) {
		d.fail("section table of %d entries, %d bytes left", nsec, d.left())
	}
	if d.err == nil {
		st.Sections = make([]Section, nsec)
	}
	var total uint64
	for i := range st.Sections {
		s := &st.Sections[i]
		s.Kind = d.u16("section kind")
		s.DType = d.u8("section dtype")
		d.u8("section reserved")
		s.Layer = d.u32("section layer")
		size := d.u64("section size")
		total += size
		if d.err == nil && (size > uint64(d.left()) || total > uint64(d.left())) {
			d.fail("section %d declares %d bytes, %d left", i, size, d.left())
		}
		s.Size = int64(size)
	}
	// Tokens, logits.
	if d.err == nil {
		st.Tokens = d.i32s(int(ntok), "tokens")
	}
	if d.err == nil && flags&StateHasLogits != 0 {
		st.Logits = d.f32s(st.Vocab, "logits")
	}
	// Sections.
	for i := range st.Sections {
		st.Sections[i].Data = d.take(int(st.Sections[i].Size), "section data")
	}
	// Checkpoints.
	if d.err == nil {
		st.Checkpoints = make([]Checkpoint, 0, min(int(ncp), d.left()/11+1))
	}
	for i := 0; i < int(ncp) && d.err == nil; i++ {
		var c Checkpoint
		c.Name = string(d.take(int(d.u16("checkpoint name length")), "checkpoint name"))
		c.Pos = int(d.u32("checkpoint position"))
		f := d.u8("checkpoint flags")
		elen := d.u32("checkpoint extra length")
		if d.err != nil {
			break
		}
		if f&^(CheckpointHasLogits|CheckpointHasExtra) != 0 {
			d.fail("checkpoint %d: unknown flags %#x", i, f)
			break
		}
		if uint32(c.Pos) > ntok {
			d.fail("checkpoint %q at %d, past the %d tokens", c.Name, c.Pos, ntok)
			break
		}
		if f&CheckpointHasExtra == 0 && elen != 0 {
			d.fail("checkpoint %q: %d extra bytes without the extra flag", c.Name, elen)
			break
		}
		if f&CheckpointHasLogits != 0 {
			c.Logits = d.f32s(st.Vocab, "checkpoint logits")
		}
		if f&CheckpointHasExtra != 0 {
			c.Extra = d.take(int(elen), "checkpoint extra")
		}
		st.Checkpoints = append(st.Checkpoints, c)
	}
	if d.err == nil && d.left() != 0 {
		d.fail("%d bytes after the checkpoint table", d.left())
	}
	if d.err != nil {
		return nil, d.err
	}
	return st, nil
}

// StateInfo is what a state's header says, for listings (reddwarf check).
type StateInfo struct {
	Arch        string
	Fingerprint uint64
	Tokens      int
	Sections    int
	Checkpoints int
}

// Info summarises a decoded state.
func (st *State) Info() StateInfo {
	return StateInfo{st.Arch, st.Fingerprint, len(st.Tokens), len(st.Sections), len(st.Checkpoints)}
}
