package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"reddwarf/infer/gguf"
)

// Token types (tokenizer.ggml.token_type), llama.cpp's numbering.
const (
	TypeUndefined   = 0
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3 // BOS, EOS, chat markers: never produced from plain text
	TypeUserDefined = 4 // added tokens: matched in the text as whole strings
	TypeUnused      = 5
	TypeByte        = 6 // SentencePiece byte fallback <0xNN>
)

// ErrUnsupported is returned for tokenizer models other than "llama" and "gpt2".
var ErrUnsupported = errors.New("unsupported tokenizer")

// Tokenizer converts between text and token ids for one vocabulary. It is
// safe for concurrent use.
type Tokenizer struct {
	model string // "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE)
	pre   string // tokenizer.ggml.pre as stored ("" if absent)

	tokens []string  // id → vocab string as stored
	types  []int32   // id → Type*
	scores []float32 // id → SentencePiece score (llama only)
	byText map[string]int32

	bos, eos, unk  int32 // -1 if none
	eog            map[int32]bool
	addBOS         bool
	addSpacePrefix bool       // llama: prepend "▁" to text that starts a sequence
	byteID         [256]int32 // id of the token for one raw byte, -1 if none

	// Byte-level BPE.
	merges       map[uint64]mergeRule
	split        preTokenizer
	ignoreMerges bool // llama3: a piece that is a whole token skips merging
	// SentencePiece-style BPE (gemma4): merges run on the raw UTF-8 of the
	// text with spaces written "▁", no byte-level mapping; bytes without a
	// token of their own fall back to <0xNN>.
	rawBPE bool

	specials []int32            // control/user-defined/unknown ids, longest text first
	special1 [256][]int32       // one-byte specials by their byte
	special2 map[uint16][]int32 // longer specials by their first two bytes

	pieceData []byte  // concatenated Piece bytes
	pieceOff  []int32 // id → offset into pieceData; len = n+1

	mu    sync.Mutex
	cache map[string][]int32 // BPE piece → ids
}

// FromGGUF builds the tokenizer described by a GGUF file's tokenizer.ggml.*
// metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, _ := f.String("tokenizer.ggml.model")
	t := &Tokenizer{model: model, bos: -1, eos: -1, unk: -1, eog: map[int32]bool{}, cache: map[string][]int32{}}
	t.pre, _ = f.String("tokenizer.ggml.pre")
	if model != "llama" && model != "gpt2" && model != "gemma4" {
		return nil, fmt.Errorf("tokenizer: model %q: %w", model, ErrUnsupported)
	}
	var ok bool
	if t.tokens, ok = f.Strings("tokenizer.ggml.tokens"); !ok || len(t.tokens) == 0 {
		return nil, errors.New("tokenizer: tokenizer.ggml.tokens missing or not a string array")
	}
	n := len(t.tokens)
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("tokenizer: %d tokens", n)
	}
	if t.types, ok = f.Int32s("tokenizer.ggml.token_type"); !ok {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	} else if len(t.types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(t.types), n)
	}
	t.byText = make(map[string]int32, n)
	for i := n - 1; i >= 0; i-- { // the first of duplicate strings wins
		t.byText[t.tokens[i]] = int32(i)
	}

	// Model-specific tables.
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	switch model {
	case "llama":
		if t.scores, ok = f.Float32s("tokenizer.ggml.scores"); !ok || len(t.scores) != n {
			return nil, fmt.Errorf("tokenizer: llama model needs tokenizer.ggml.scores with %d entries", n)
		}
		t.byteFallbackIDs()
		t.addBOS, t.addSpacePrefix = true, true
		t.bos, t.eos, t.unk = 1, 2, 0
	case "gpt2":
		merges, ok := f.Strings("tokenizer.ggml.merges")
		if !ok {
			return nil, errors.New("tokenizer: gpt2 model needs tokenizer.ggml.merges")
		}
		for b := 0; b < 256; b++ {
			if id, ok := t.byText[string(byteToRune[b])]; ok {
				t.byteID[b] = id
			}
		}
		t.split, _ = preTokenizerFor(t.pre)
		switch t.pre {
		case "llama-bpe", "llama3", "llama-v3":
			t.ignoreMerges, t.addBOS = true, true
		}
		t.buildMerges(merges)
	case "gemma4":
		merges, ok := f.Strings("tokenizer.ggml.merges")
		if !ok {
			return nil, errors.New("tokenizer: gemma4 model needs tokenizer.ggml.merges")
		}
		t.byteFallbackIDs()
		t.rawBPE, t.addBOS = true, true
		t.split = preTokenizer{matchLineRuns}
		t.buildMerges(merges)
	}

	// Special ids and flags from the metadata override the defaults.
	id := func(key string, dst *int32) {
		if v, ok := f.Uint(key); ok {
			if v < uint64(n) {
				*dst = int32(v)
			} else {
				*dst = -1 // 0xFFFFFFFF: none
			}
		}
	}
	id("tokenizer.ggml.bos_token_id", &t.bos)
	id("tokenizer.ggml.eos_token_id", &t.eos)
	id("tokenizer.ggml.unknown_token_id", &t.unk)
	if t.bos < 0 {
		t.bos = t.findFirst("<｜begin▁of▁sentence｜>", "<|begin_of_text|>", "<s>")
	}
	if t.eos < 0 {
		t.eos = t.findFirst("<｜end▁of▁sentence｜>", "<|end_of_text|>", "<|endoftext|>", "</s>")
	}
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.addBOS = v || t.model == "gemma4" // llama.cpp forces BOS for gemma4
	}
	if v, ok := f.Bool("tokenizer.ggml.add_space_prefix"); ok {
		t.addSpacePrefix = v
	}

	// End of generation: EOS, EOT, EOM, and control tokens whose text says so.
	if t.eos >= 0 {
		t.eog[t.eos] = true
	}
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		var x int32 = -1
		id(key, &x)
		if x >= 0 {
			t.eog[x] = true
		}
	}
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "</s>", "<|return|>", "<|call|>"} {
		if x, ok := t.byText[s]; ok && t.types[x] == TypeControl {
			t.eog[x] = true
		}
	}
	// gpt-oss (harmony) ends a reply with <|return|> or <|call|>; its
	// <|end|> closes one message of several (thinking, then the answer or
	// a tool call), so it must not end generation. llama.cpp does the same.
	if r, ok := t.byText["<|return|>"]; ok && t.eog[r] {
		if c, ok := t.byText["<|call|>"]; ok && t.eog[c] {
			if e, ok := t.byText["<|end|>"]; ok && e != t.eos {
				delete(t.eog, e)
			}
		}
	}

	// Specials, longest first: the partition tries them in this order.
	for i, ty := range t.types {
		if (ty == TypeControl || ty == TypeUserDefined || ty == TypeUnknown) && t.tokens[i] != "" {
			t.specials = append(t.specials, int32(i))
		}
	}
	sort.SliceStable(t.specials, func(a, b int) bool {
		return len(t.tokens[t.specials[a]]) > len(t.tokens[t.specials[b]])
	})
	t.special2 = map[uint16][]int32{}
	for _, id := range t.specials {
		s := t.tokens[id]
		if len(s) == 1 {
			t.special1[s[0]] = append(t.special1[s[0]], id)
		} else {
			k := uint16(s[0])<<8 | uint16(s[1])
			t.special2[k] = append(t.special2[k], id)
		}
	}

	t.buildPieces()
	return t, nil
}

// byteFallbackIDs sets byteID from the <0xNN> tokens.
func (t *Tokenizer) byteFallbackIDs() {
	for b := 0; b < 256; b++ {
		if id, ok := t.byText[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteID[b] = id
		}
	}
}

func (t *Tokenizer) findFirst(texts ...string) int32 {
	for _, s := range texts {
		if id, ok := t.byText[s]; ok {
			return id
		}
	}
	return -1
}

// buildPieces precomputes Piece for every id into one buffer.
func (t *Tokenizer) buildPieces() {
	size := 0
	for _, s := range t.tokens {
		size += len(s)
	}
	t.pieceData = make([]byte, 0, size)
	t.pieceOff = make([]int32, len(t.tokens)+1)
	for id, s := range t.tokens {
		t.pieceOff[id] = int32(len(t.pieceData))
		switch t.types[id] {
		case TypeControl, TypeUnused:
			// nothing
		case TypeUserDefined:
			t.pieceData = append(t.pieceData, s...)
		case TypeUnknown:
			if t.model == "llama" {
				t.pieceData = append(t.pieceData, "\u2585"...) // llama.cpp's ▅
			}
		case TypeByte:
			var b byte
			if _, err := fmt.Sscanf(s, "<0x%02X>", &b); err == nil && len(s) == 6 {
				t.pieceData = append(t.pieceData, b)
			}
		default:
			if t.model == "llama" || t.rawBPE {
				t.pieceData = append(t.pieceData, strings.ReplaceAll(s, spmSpace, " ")...)
			} else {
				t.pieceData = byteDecode(t.pieceData, s)
			}
		}
	}
	t.pieceOff[len(t.tokens)] = int32(len(t.pieceData))
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// IsEOG reports whether sampling id ends generation (EOS, EOT, <|im_end|>...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// WantsBOS reports whether the model expects BOS at the start of a sequence
// (tokenizer.ggml.add_bos_token; true by default for "llama" and llama3).
func (t *Tokenizer) WantsBOS() bool { return t.addBOS && t.bos >= 0 }

// Model returns tokenizer.ggml.model ("llama" or "gpt2").
func (t *Tokenizer) Model() string { return t.model }

// Pre returns tokenizer.ggml.pre as stored ("" if absent).
func (t *Tokenizer) Pre() string { return t.pre }

// Lookup returns the id whose vocab string is exactly text. Meant for special
// tokens ("<|im_start|>", "<｜User｜>"), which are stored verbatim.
func (t *Tokenizer) Lookup(text string) (int32, bool) {
	id, ok := t.byText[text]
	return id, ok
}

// Text returns the vocab string of id as stored ("▁the", "Ġthe", "<0x0A>"),
// or "" if id is out of range.
func (t *Tokenizer) Text(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the token type of id (Type*), TypeUndefined if out of range.
func (t *Tokenizer) Type(id int32) int32 {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}
