package session

import (
	"strings"
	"time"

	"reddwarf/infer"
	"reddwarf/infer/tokenizer"
	"reddwarf/server"
	"reddwarf/session/jsonmask"
)

// DefaultMaxTokens is GEN's MAXTOKENS when none is given.
const DefaultMaxTokens = 128

// GenOptions are GEN's parsed options.
type GenOptions struct {
	MaxTokens int // tokens to generate at most; 0 = prefill only
	Sampler   infer.SamplerConfig
	// HasSeed: Sampler.Seed was given (SEED); otherwise the session's RNG
	// continues (a new session gets a fresh seed).
	HasSeed   bool
	Stops     []string // STOP strings: generation ends before any of them
	Stream    bool     // publish pieces on __gen__:<key>
	WithStats bool
	// Chat renders the prompt as a user turn in the model's chat format
	// (ChatFormat); the end-of-turn token the model samples is kept in the
	// session. Think asks a reasoning model to think first.
	Chat, Think bool
	// Format constrains the reply to JSON (jsonmask.AnyJSON) or to a
	// JSON Schema (GEN … JSON / SCHEMA, format.go); nil: free text.
	Format *jsonmask.Schema
	// LogProbs records each generated token's log-probability in
	// Job.LogProbs, with TopLogProbs alternatives (at most
	// MaxTopLogProbs).
	LogProbs    bool
	TopLogProbs int
	// Markers keeps control tokens' text (chat markers such as gpt-oss's
	// <|channel|>) in the reply, for a caller that parses its structure
	// (tool calls); the reply is otherwise their text left out.
	Markers bool
}

// DefaultGenOptions are GEN's defaults (as llama.cpp's server samples).
func DefaultGenOptions() GenOptions {
	return GenOptions{
		MaxTokens: DefaultMaxTokens,
		Sampler:   infer.SamplerConfig{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05},
	}
}

// Stop reasons (WITHSTATS stop_reason).
const (
	StopEOS     = "eos"     // the model produced an end-of-generation token
	StopString  = "stop"    // a STOP string appeared (not included in the text)
	StopLength  = "length"  // MAXTOKENS tokens were generated
	StopContext = "context" // the session reached the context size
	// StopCancelled: CLIENT UNBLOCK ended the job (Job.Stop).
	StopCancelled = "cancelled"
)

// Job is one GEN or PREFILL. The fields below "result" are what OnDone
// reads; everything else is the engine's.
type Job struct {
	DB      *server.DB
	Key     string
	Prefill bool // PREFILL: no sampling, the result is the token count
	Opt     GenOptions
	// OnDone is called once on the loop goroutine when the job finished or
	// failed (Err set), never after Cancel.
	OnDone func(j *Job)
	// Owner is whatever the caller ties the job to (the blocked client).
	Owner any
	// OnPiece, when set, receives the generated text as it streams (the
	// same pieces STREAM publishes, STOP-string tails held back) instead
	// of __gen__:<key>; on the loop goroutine, piece is the caller's.
	OnPiece func(j *Job, piece []byte)
	// Discard drops the job's state at the end instead of committing it
	// to its key (a stateless HTTP request): the key is never written, and
	// the pages still go to the prefix cache.
	Discard bool
	// Tools are a chat request's tools (decoded JSON, OpenAI's list),
	// given to the chat template with its messages (NewChatMessages).
	Tools []any

	prompt []int32 // tokens to append, without BOS
	text   string  // a text prompt: prompt is its encoding (encode.go)
	chat   string  // GEN CHAT: the user's text; prompt is the rendered turn
	// conv: a chat request's messages (NewChatMessages), rendered whole
	// on an empty session, else their Tail; prompt is the rendering.
	conv   []Message
	addBOS bool // prepend BOS when the session is empty (text prompts)
	// For a text or CHAT prompt: prompt was encoded (encoded) for a
	// session whose last token is encLast (-1: empty), with encErr the
	// CHAT rendering's error; start encodes again for another (encode.go).
	encoded bool
	encLast int32
	encErr  error
	// encodeStop is closed by Cancel: an encoding not started yet
	// (Engine.OffLoop) is skipped.
	encodeStop chan struct{}
	// offLoop: the prompt was encoded off the loop (OffLoop), so it is
	// large enough that start must not encode it again on the loop.
	offLoop bool

	// Running state.
	obj         *server.Object // the key's object when the job started (nil: new key)
	st          *infer.State   // the private clone the job works on
	feed        []int32        // tokens still to feed
	feeding     int            // tokens of feed in the current step
	decoding    bool           // past the prompt
	sampler     *infer.Sampler
	dec         *tokenizer.StreamDecoder
	matcher     *jsonmask.Matcher // Opt.Format: the reply so far
	masker      *jsonmask.Masker
	masked      []float32 // scratch: the logits with the mask applied
	startPos    int
	startLogits []float32
	lastFeed    bool  // finish once feed is consumed
	next        int32 // token drawn ahead by presample (hasNext)
	hasNext     bool
	published   int // bytes of Text already streamed
	started     time.Time
	firstSample time.Time
	done        bool
	canceled    bool

	// Result.
	Text             []byte
	Err              error
	Tokens           int // session length at the end
	PromptTokens     int // tokens appended from the prompt (BOS included)
	CachedTokens     int // of those, reused from the prefix cache (in RAM or in the store)
	DiskCachedTokens int // of those, read from the session store's pages
	GeneratedTokens  int
	// LogProbs has an entry per generated token (Opt.LogProbs), the end
	// token excepted; a STOP string's tokens are among them.
	LogProbs    []TokenLogProb
	StopReason  string
	PrefillTime time.Duration
	DecodeTime  time.Duration
	// RunTime is how long the job ran, from its start to its end: not the
	// time it waited behind another job on its key (as Redis counts a
	// blocked command's work, not its wait).
	RunTime time.Duration
}

// NewGen makes a GEN job appending prompt (token ids, no BOS; addBOS adds
// one if the session is empty and the model wants it).
func NewGen(db *server.DB, key string, prompt []int32, addBOS bool, opt GenOptions) *Job {
	return &Job{DB: db, Key: key, prompt: prompt, addBOS: addBOS, Opt: opt}
}

// NewChatGen makes a GEN CHAT job: text becomes a user turn in the model's
// chat format when the job starts (so a turn queued behind another follows
// the state that one leaves).
func NewChatGen(db *server.DB, key, text string, opt GenOptions) *Job {
	opt.Chat = true
	return &Job{DB: db, Key: key, chat: text, addBOS: true, Opt: opt}
}

// NewChatMessages makes the job of a chat request continuing key with a
// conversation (the HTTP front end): on an empty session every message is
// rendered, system included; on another, the messages after the last
// assistant one (Tail), exactly as GEN CHAT renders a lone user turn.
// Rendered when the job starts, or before through Encoder.
func NewChatMessages(db *server.DB, key string, msgs []Message, opt GenOptions) *Job {
	opt.Chat = true
	return &Job{DB: db, Key: key, conv: msgs, addBOS: true, Opt: opt}
}

// NewPrefill makes a PREFILL job: append tokens, generate nothing.
func NewPrefill(db *server.DB, key string, tokens []int32, addBOS bool) *Job {
	return &Job{DB: db, Key: key, prompt: tokens, addBOS: addBOS, Prefill: true}
}

// NewTextGen and NewTextPrefill make GEN and PREFILL jobs for a text
// prompt; toks is text encoded as a sequence start without BOS, or nil
// for a front end that encodes it off the loop (Engine.Encoder) before
// Submit. BOS is added if the session is empty and the model wants one;
// if the session is not empty, text is encoded again as a continuation
// (tokenizer.EncodeOptions.Continue), so "ti" then "me" reads "time", not
// "ti me".
func NewTextGen(db *server.DB, key, text string, toks []int32, opt GenOptions) *Job {
	return &Job{DB: db, Key: key, prompt: toks, text: text, addBOS: true, Opt: opt, encoded: toks != nil, encLast: -1}
}

// NewTextPrefill: see NewTextGen.
func NewTextPrefill(db *server.DB, key, text string, toks []int32) *Job {
	return &Job{DB: db, Key: key, prompt: toks, text: text, addBOS: true, Prefill: true, encoded: toks != nil, encLast: -1}
}

// Stop ends a generating job early, as a MAXTOKENS stop would: its next
// step feeds the last sampled token, then the job commits what it
// generated with StopReason StopCancelled and calls OnDone. It reports
// false, changing nothing, for a job that has not started sampling (a
// PREFILL, a GEN queued or still reading its prompt): nothing it could
// commit would be a whole answer, so the caller cancels it instead.
func (j *Job) Stop() bool {
	if j.done || !j.decoding {
		return false
	}
	if !j.lastFeed { // a STOP string or EOS already ends it: keep that reason
		j.StopReason, j.lastFeed = StopCancelled, true
	}
	return true
}

// Done reports whether the job has finished (or failed, or was canceled).
func (j *Job) Done() bool { return j.done }

// maxStop is the length of the longest STOP string.
func (j *Job) maxStop() int {
	n := 0
	for _, s := range j.Opt.Stops {
		n = max(n, len(s))
	}
	return n
}

// findStop returns where the earliest STOP string starts in Text, looking
// only where the last piece (added bytes) could have completed one; -1 if
// none.
func (j *Job) findStop(added int) int {
	best := -1
	for _, s := range j.Opt.Stops {
		from := max(0, len(j.Text)-added-len(s)+1)
		if i := strings.Index(string(j.Text[from:]), s); i >= 0 && (best < 0 || from+i < best) {
			best = from + i
		}
	}
	return best
}
