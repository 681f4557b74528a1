package infer

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"reddwarf/infer/gguf"
	"reddwarf/infer/tokenizer"
	"reddwarf/metalkit"
)

// Options configure a Model.
type Options struct {
	Threads int    // compute threads; 0 = runtime.NumCPU()
	Ctx     int    // context size in tokens; 0 = the model's trained context
	KVType  string // KV cache rows: "f16" (default, as llama.cpp) or "f32"
	// Numerics is deepseek4's rounding policy: "ds4" (default; FP8 KV and
	// FP4 indexer round trips, as the model was trained) or "exact" (off).
	Numerics string
	// CheckpointInterval is how often (tokens) deepseek4 keeps an automatic
	// restore point for rollbacks; 0 = 2048, negative = never.
	CheckpointInterval int
	// Device runs the forward passes; nil means the CPU device on a pool
	// of Threads threads, which the Model makes and closes. A device given
	// here stays the caller's to close, after the Model. On a
	// metalkit.HostDevice (the CPU) every architecture runs its own pass
	// on host memory. On any other device (a GPU, or the CPU seen through
	// metalkit.DeviceOnly, as tests do) the llama family (llama, qwen2,
	// qwen3, phi3) runs llamadevice.go's pass through the Device ops, with
	// the weights uploaded at Open and the KV pages in the device's pool,
	// and deepseek4 its own (a DeviceStepper);
	// other architectures, and an f32 KV cache (but deepseek4's, whose
	// rows are its own state), are refused with ErrDevice.
	Device metalkit.Device
	// DeviceKVBytes is the size of the device's pool of KV pages, which
	// every session shares, rounded down to whole pages (at least one):
	// 0 means enough for 8 full contexts, at most 4 GiB, at least one
	// context. Ignored on a HostDevice, whose pages are allocated as
	// sessions grow.
	DeviceKVBytes int64

	// keepGGUF keeps every matrix in the file's layout even on the CPU
	// device, for tests that run a CPU model beside a device and upload
	// its weights (Upload takes only that layout), whatever backend runs.
	keepGGUF bool
}

// runsOnDevice reports whether opt's device is one the forward runs on
// through the Device ops (not a HostDevice).
func runsOnDevice(opt Options) bool {
	if opt.Device == nil {
		return false
	}
	_, host := opt.Device.(metalkit.HostDevice)
	return !host
}

// deviceArchID reports whether architecture id has a pass that runs on a
// device that is not a HostDevice (llamadevice.go), checked before the
// weights load.
func deviceArchID(id string) bool {
	switch id {
	case "llama", "qwen2", "qwen3", "phi3", "deepseek4":
		return true
	}
	return false
}

// ErrDevice is returned by Open for a device the model cannot run on.
var ErrDevice = errors.New("infer: the model cannot run on this device")

// Arch is one architecture's forward pass over a loaded GGUF. It is
// registered by its general.architecture name (Register) and wrapped by a
// Model, which validates batches and manages States around it.
type Arch interface {
	// Shape reports the model's dimensions.
	Shape() Shape
	// KVLayout says what a State keeps per position.
	KVLayout() KVLayout
	// Forward runs one batched step on dev, the Model's device: for every Seq, feeds its Tokens at
	// positions [State.Len(), State.Len()+len(Tokens)), writes their K/V rows
	// into the State's (already reserved, private) pages, and sets the State's
	// logits to those after the last token. It does not append the tokens;
	// Model.Step does after it returns. Batches are validated before Forward
	// is called, so it cannot fail on input.
	Forward(dev metalkit.Device, batch []Seq)
}

// deviceArch is an Arch whose forward also runs through the Device ops on
// a device that is not a HostDevice (llama's: llamadevice.go).
type deviceArch interface {
	Arch
	// onDevice uploads the weights to d and returns the forward that
	// runs there, with its KV pages in kv.
	onDevice(d metalkit.Device, kv *deviceKV) (deviceForward, error)
}

// DeviceStepper is an Arch outside this package whose forward also runs
// through the Device ops on a device that is not a HostDevice, keeping its
// sessions' state itself (a StatefulArch: deepseek4). It is loaded with
// Options.Device set, so that it can keep the weights in the file's
// layout; Open then calls OnDevice once, and Step calls the returned
// step, which has Forward's contract and fails only when the device does.
// No KV pool is made for it.
type DeviceStepper interface {
	Arch
	OnDevice(d metalkit.Device) (step func(batch []Seq) error, err error)
}

// stepFunc is a DeviceStepper's step as a deviceForward.
type stepFunc func(batch []Seq) error

func (f stepFunc) forward(batch []Seq) error { return f(batch) }

// deviceForward is an Arch's forward on a device: Forward's contract, and
// it fails only when the device does (a Read).
type deviceForward interface {
	forward(batch []Seq) error
}

// Shape is an architecture's dimensions, as Model.Info reports them.
type Shape struct {
	Vocab   int // tokens in the vocabulary (= logits per position)
	Ctx     int // trained context length
	Layers  int
	Dim     int // embedding width
	Heads   int // query heads
	KVHeads int
}

// ArchLoader builds an Arch from a parsed GGUF. It must check every tensor it
// uses (presence, shape, type) and return an error naming the tensor.
type ArchLoader func(f *gguf.File, opt Options, kv KVType) (Arch, error)

var (
	archMu sync.Mutex
	arches = map[string]ArchLoader{}
)

// Register makes an architecture loadable by its general.architecture name.
// It panics on an empty name, a nil loader or a duplicate (programmer errors).
func Register(name string, load ArchLoader) {
	archMu.Lock()
	defer archMu.Unlock()
	if name == "" || load == nil {
		panic("infer: Register with empty name or nil loader")
	}
	if _, dup := arches[name]; dup {
		panic("infer: architecture registered twice: " + name)
	}
	arches[name] = load
}

// Architectures lists the registered architecture names, sorted.
func Architectures() []string {
	archMu.Lock()
	defer archMu.Unlock()
	names := make([]string, 0, len(arches))
	for n := range arches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Model is a loaded model: the GGUF (mmapped or in memory), its architecture
// and the device its forward passes run on. Step is serialised by a mutex:
// one batch at a time.
type Model struct {
	name    string // file path or name given to OpenBytes
	file    *gguf.File
	arch    Arch
	archID  string
	dev     metalkit.Device
	pool    *metalkit.Pool // the CPU device's, when the Model made it; else nil
	kv      *deviceKV      // the device's KV pages, when fwd runs; else nil
	fwd     deviceForward  // the forward through the Device ops; nil: arch.Forward on a HostDevice
	threads int
	vocab   int
	ctx     int
	kvType  KVType

	mu sync.Mutex // held by Step

	tokOnce sync.Once
	tok     *tokenizer.Tokenizer
	tokErr  error
}

// Seq is one session's part of a batch: Tokens are appended to State.
type Seq struct {
	State  *State
	Tokens []int32
}

// Open memory-maps the GGUF file at path (read-only) and loads its
// architecture. Close releases the mapping.
func Open(path string, opt Options) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := newModel(path, f, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// OpenBytes loads a model from a GGUF held in memory (the embedded default
// model). data must not change while the Model is used.
func OpenBytes(name string, data []byte, opt Options) (*Model, error) {
	f, err := gguf.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", name, err)
	}
	return newModel(name, f, opt)
}

func newModel(name string, f *gguf.File, opt Options) (*Model, error) {
	kvType, err := ParseKVType(opt.KVType)
	if err != nil {
		return nil, err
	}
	archID := f.Architecture()
	archMu.Lock()
	load := arches[archID]
	archMu.Unlock()
	if load == nil {
		return nil, fmt.Errorf("infer: %s: architecture %q not supported (have %v)", name, archID, Architectures())
	}
	// The device first: refusing one must not wait for the weights to load.
	dev, pool := opt.Device, (*metalkit.Pool)(nil)
	switch {
	case runsOnDevice(opt) && !deviceArchID(archID):
		return nil, fmt.Errorf("infer: %s: %s's forward pass runs on host memory only so far, not on %s: %w", name, archID, dev.Name(), ErrDevice)
	case runsOnDevice(opt) && kvType != KVF16 && archID != "deepseek4": // deepseek4 keeps f32 rows on request
		return nil, fmt.Errorf("infer: %s: a %v KV cache on %s: a device's KV pages are f16: %w", name, kvType, dev.Name(), ErrDevice)
	case dev == nil:
		threads := opt.Threads
		if threads <= 0 {
			threads = runtime.NumCPU()
		}
		pool = metalkit.NewPool(threads)
		dev = metalkit.NewCPUDevice(pool)
	}
	arch, err := load(f, opt, kvType)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("infer: %s: %w", name, err)
	}
	sh := arch.Shape()
	ctx := opt.Ctx
	if ctx <= 0 {
		ctx = sh.Ctx
	}
	if ctx <= 0 {
		pool.Close()
		return nil, fmt.Errorf("infer: %s: no context length in the model; set Options.Ctx", name)
	}
	m := &Model{
		name: name, file: f, arch: arch, archID: archID,
		dev: dev, pool: pool, threads: opt.Threads,
		vocab: sh.Vocab, ctx: ctx, kvType: kvType,
	}
	if h, ok := dev.(metalkit.HostDevice); ok {
		m.threads = h.Threads()
		return m, nil
	}
	// The forward through the Device ops: the weights go up now, and the
	// KV pool is allocated once (a DeviceStepper keeps its own state).
	if ds, ok := arch.(DeviceStepper); ok {
		step, err := ds.OnDevice(dev)
		if err != nil {
			return nil, fmt.Errorf("infer: %s on %s: %w: %w", name, dev.Name(), err, ErrDevice)
		}
		m.fwd = stepFunc(step)
		return m, nil
	}
	da, ok := arch.(deviceArch)
	if !ok {
		return nil, fmt.Errorf("infer: %s: %s's forward pass runs on host memory only so far, not on %s: %w", name, archID, dev.Name(), ErrDevice)
	}
	l := arch.KVLayout()
	pages := int(max(1, opt.DeviceKVBytes/l.PageBytes()))
	if opt.DeviceKVBytes <= 0 {
		perCtx := (ctx + PageTokens - 1) / PageTokens
		pages = max(perCtx, min(8*perCtx, int((4<<30)/l.PageBytes())))
	}
	if m.kv, err = newDeviceKV(dev, l, pages); err == nil {
		m.fwd, err = da.onDevice(dev, m.kv)
	}
	if err != nil {
		return nil, fmt.Errorf("infer: %s on %s: %w: %w", name, dev.Name(), err, ErrDevice)
	}
	return m, nil
}

// Close stops the compute pool (when the Model made it) and releases the
// file mapping. The Model and its States must not be used afterwards.
func (m *Model) Close() error {
	m.pool.Close()
	return m.file.Close()
}

// File returns the parsed GGUF (metadata for the tokenizer, MODEL ...).
func (m *Model) File() *gguf.File { return m.file }

// Tokenizer returns the model's tokenizer, built from its GGUF metadata on
// first use.
func (m *Model) Tokenizer() (*tokenizer.Tokenizer, error) {
	m.tokOnce.Do(func() {
		m.tok, m.tokErr = tokenizer.FromGGUF(m.file)
		if m.tokErr == nil && m.tok.VocabSize() > m.vocab {
			m.tokErr = fmt.Errorf("infer: %s: tokenizer has %d tokens, model %d logits", m.name, m.tok.VocabSize(), m.vocab)
		}
	})
	return m.tok, m.tokErr
}

// Vocab is the number of logits per position.
func (m *Model) Vocab() int { return m.vocab }

// Ctx is the context size every State of this model has.
func (m *Model) Ctx() int { return m.ctx }

// Device is the device the forward passes run on.
func (m *Model) Device() metalkit.Device { return m.dev }

// Threads is the compute pool's size.
func (m *Model) Threads() int { return m.threads }

// Arch returns the architecture implementation.
func (m *Model) Arch() Arch { return m.arch }

// Step feeds one batch: each Seq's Tokens are appended to its State (a
// prefill chunk, or one decode token, freely mixed), and each State's
// Logits() becomes the next-token logits after its last token. All token
// rows of all seqs share each weight read.
//
// Errors (a State twice or from another model, no tokens, a token id outside
// the vocabulary, context full) are detected before anything changes: on
// error every State is left as it was.
//
// Scratch memory grows with the batch's total token count (for a 1B model
// about 100 KB per token row), so callers bound it: the server's
// prefill-chunk splits long prompts over several Steps, which gives the same
// logits as one big Step.
func (m *Model) Step(batch []Seq) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkBatch(batch); err != nil {
		return err
	}
	for i, sq := range batch {
		if err := sq.State.reserve(len(sq.Tokens)); err != nil {
			for _, done := range batch[:i] {
				done.State.unreserve()
			}
			return err
		}
	}
	if m.fwd != nil {
		if err := m.fwd.forward(batch); err != nil {
			for _, sq := range batch {
				sq.State.unreserve()
			}
			return fmt.Errorf("infer: step on %s: %w", m.dev.Name(), err)
		}
	} else {
		m.arch.Forward(m.dev, batch)
	}
	for _, sq := range batch {
		sq.State.tokens = append(sq.State.tokens, sq.Tokens...)
	}
	return nil
}

// checkBatch validates a batch without changing anything.
func (m *Model) checkBatch(batch []Seq) error {
	if len(batch) == 0 {
		return fmt.Errorf("infer: empty batch: %w", ErrBadBatch)
	}
	seen := make(map[*State]bool, len(batch))
	layout := m.arch.KVLayout()
	for i, sq := range batch {
		s := sq.State
		switch {
		case s == nil:
			return fmt.Errorf("infer: seq %d: nil state: %w", i, ErrBadBatch)
		case seen[s]:
			return fmt.Errorf("infer: seq %d: state appears twice in one batch: %w", i, ErrBadBatch)
		case s.layout != layout || s.vocab != m.vocab || s.ctx != m.ctx || s.kv != m.kv:
			return fmt.Errorf("infer: seq %d: state belongs to another model: %w", i, ErrBadBatch)
		case len(sq.Tokens) == 0:
			return fmt.Errorf("infer: seq %d: no tokens: %w", i, ErrBadBatch)
		case s.Len()+len(sq.Tokens) > m.ctx:
			return fmt.Errorf("infer: seq %d: %d + %d tokens exceed context %d: %w", i, s.Len(), len(sq.Tokens), m.ctx, ErrContextFull)
		}
		seen[s] = true
		for j, t := range sq.Tokens {
			if t < 0 || int(t) >= m.vocab {
				return fmt.Errorf("infer: seq %d token %d: id %d not in [0, %d): %w", i, j, t, m.vocab, ErrBadToken)
			}
		}
	}
	return nil
}

// Rewind truncates s to n tokens and recomputes its logits by re-feeding
// token n-1 (its K/V rows are rewritten with the same values), so the state
// is exactly what it was after n tokens. n == 0 empties s.
func (m *Model) Rewind(s *State, n int) error {
	if n < 0 || n > s.Len() {
		return fmt.Errorf("infer: rewind to %d of %d tokens: %w", n, s.Len(), ErrRange)
	}
	if n == s.Len() && s.logits != nil {
		return nil
	}
	if n == 0 {
		return s.Truncate(0)
	}
	last := s.tokens[n-1]
	if err := s.Truncate(n - 1); err != nil {
		return err
	}
	return m.Step([]Seq{{State: s, Tokens: []int32{last}}})
}
