package session

import (
	"math"
	"strings"

	"reddwarf/infer/tokenizer"
	"reddwarf/session/jsonmask"
)

// Structured output (GEN … JSON, GEN … SCHEMA s, an HTTP response_format).
//
// A job with GenOptions.Format follows its reply with a jsonmask.Matcher
// and draws each token from the logits of the tokens the engine's Masker
// allows there, so the reply is always a prefix of a valid document, and
// a whole one when it ends with an end-of-generation token or its token
// budget (MAXTOKENS, or the context): near the end of the budget only
// tokens that leave room to close the document are drawn. A STOP string
// can still cut it.

// maxDraws bounds how often draw resamples a token that does not fit the
// budget before falling back to the shortest completion's tokens.
const maxDraws = 16

// masker is the engine's token masker, built on first use (an engine
// that never constrains a reply pays nothing): indexing a 150k-token
// vocabulary takes about 20 ms, which the HTTP front end spends off the
// loop (PrepareFormats). Any goroutine.
func (e *Engine) masker() *jsonmask.Masker {
	e.maskOnce.Do(func() {
		n := e.Tok.VocabSize()
		v := jsonmask.Vocab{Pieces: make([][]byte, n), EOG: make([]bool, n)}
		for id := range n {
			v.Pieces[id] = e.Tok.Piece(int32(id))
			if t := e.Tok.Text(int32(id)); e.Tok.Type(int32(id)) == tokenizer.TypeControl && t != "" {
				v.Pieces[id] = []byte(markerByte + t)
			}
			v.EOG[id] = e.Tok.IsEOG(int32(id))
		}
		e.mask.Store(jsonmask.NewMasker(v))
	})
	return e.mask.Load()
}

// maskCacheBytes is what the masker's cached masks hold (INFO inference
// format_mask_cache_bytes); 0 before any job had a Format.
func (e *Engine) maskCacheBytes() int64 {
	if k := e.mask.Load(); k != nil {
		return k.CacheBytes()
	}
	return 0
}

// dropMasks empties the masker's cache under memory pressure (part of
// Hooks.FreeMemory) and returns the bytes it held.
func (e *Engine) dropMasks() int64 {
	if k := e.mask.Load(); k != nil {
		return k.DropCache()
	}
	return 0
}

// markerByte spells a control token for the masker: its text after a byte
// no JSON document holds anywhere, so such a token is never allowed inside
// a value, only where a format's literal text (a tool call's markers,
// MaskSpelling) names it.
const markerByte = string(jsonmask.MarkerByte)

// MaskSpelling is s as the masker reads it (for jsonmask's literal
// affixes): each control token of the vocabulary that s spells becomes
// markerByte and its text, the rest stays as it is. Any goroutine.
func (e *Engine) MaskSpelling(s string) string {
	// The encoding finds the control tokens, in order; the text between
	// them is kept as it is (its pieces may add a SentencePiece space).
	var out strings.Builder
	for _, id := range e.Tok.Encode(s, tokenizer.EncodeOptions{ParseSpecial: true, Continue: true}) {
		t := e.Tok.Text(id)
		if e.Tok.Type(id) != tokenizer.TypeControl || t == "" {
			continue
		}
		if i := strings.Index(s, t); i >= 0 {
			out.WriteString(s[:i])
			out.WriteString(markerByte + t)
			s = s[i+len(t):]
		}
	}
	out.WriteString(s)
	return out.String()
}

// PrepareFormats builds the token masker now, on the calling goroutine,
// so that the first job with a Format does not build it on the loop.
func (e *Engine) PrepareFormats() { e.masker() }

// draw samples j's next token from its state's logits, through its
// format's mask when it has one. Any goroutine (presample runs jobs in
// parallel): the Masker is safe for concurrent use, the rest is j's.
func (j *Job) draw() int32 {
	logits := j.st.Logits()
	if j.matcher == nil {
		return j.sampler.Sample(logits)
	}
	left := min(j.Opt.MaxTokens-j.GeneratedTokens, j.st.Cap()-j.st.Len())
	mask := j.masker.Mask(j.matcher, left)
	j.masked = maskLogits(j.masked, logits, mask)
	for range maxDraws {
		t := j.sampler.Sample(j.masked)
		if t < 0 || !jsonmask.Allowed(mask, t) {
			break // nothing allowed is left
		}
		if j.masker.Fits(j.matcher, t, left) {
			return t
		}
		j.masked[t] = float32(math.Inf(-1))
	}
	mask = j.masker.Forced(j.matcher)
	j.masked = maskLogits(j.masked, logits, mask)
	if t := j.sampler.Sample(j.masked); t >= 0 && jsonmask.Allowed(mask, t) {
		return t
	}
	return -1 // the vocabulary cannot continue the document: the reply ends
}

// maskLogits copies logits into dst with the tokens mask does not allow at
// -Inf.
func maskLogits(dst, logits []float32, mask []uint64) []float32 {
	if cap(dst) < len(logits) {
		dst = make([]float32, len(logits))
	}
	dst = dst[:len(logits)]
	inf := float32(math.Inf(-1))
	for w, bits := range mask {
		lo, hi := w*64, min(len(dst), (w+1)*64)
		switch bits {
		case ^uint64(0):
			copy(dst[lo:hi], logits[lo:hi])
		case 0:
			for i := lo; i < hi; i++ {
				dst[i] = inf
			}
		default:
			for i := lo; i < hi; i++ {
				if bits&(1<<(i&63)) != 0 {
					dst[i] = logits[i]
				} else {
					dst[i] = inf
				}
			}
		}
	}
	return dst
}
