package tokenizer

import "unicode"

// Pre-tokenizers split text into pieces before BPE; merges never cross a
// piece boundary. Each one is the regex (or sequence of regexes) that
// llama.cpp and Hugging Face tokenizers apply for a tokenizer.ggml.pre value,
// written as hand scanners over runes because Go's regexp has no lookahead.
//
// The building block is a matcher: the length in runes of the match of one
// regex at position i of a piece [i, end), or 0 if the regex does not match
// there. splitFrom runs a matcher over a piece like a regex iterator
// (leftmost match, then continue after it) and keeps both the matches and the
// unmatched runs between them as pieces, which is what llama.cpp's
// unicode_regex_split and HF's Split(behavior=Isolated) do. A pre-tokenizer is
// a list of stages applied in order, each to every piece the previous one made.

// matcher returns the length of the match starting at cs[i], within cs[i:end].
type matcher func(cs []rune, i, end int) int

// span is a piece [s, e) of the rune slice being tokenised.
type span struct{ s, e int }

// preTokenizer is the stage list for one tokenizer.ggml.pre family.
type preTokenizer []matcher

// split returns the pieces of cs.
func (p preTokenizer) split(cs []rune) []span {
	var pieces []span
	p.each(cs, func(sp span) { pieces = append(pieces, sp) })
	return pieces
}

// each calls fn with the pieces of cs in order, without a slice of them
// all: each stage splits one piece of the stage before as soon as it is
// made (stages split pieces independently, so the order is the same as
// running every stage over the whole text). For a prompt of megabytes
// that saves the tens of megabytes of spans that every stage would make,
// and the runtime's copies of them as they grow, which no goroutine can
// preempt: one stalled a GC cycle, and every other goroutine on two
// cores, for 50 ms.
func (p preTokenizer) each(cs []rune, fn func(span)) {
	if len(cs) == 0 {
		return
	}
	p.splitFrom(0, cs, span{0, len(cs)}, fn)
}

// splitFrom splits the piece sp with stage k and passes every piece it
// makes to stage k+1 (to fn after the last stage).
func (p preTokenizer) splitFrom(k int, cs []rune, sp span, fn func(span)) {
	if k == len(p) {
		fn(sp)
		return
	}
	m := p[k]
	gap := sp.s
	for i := sp.s; i < sp.e; {
		n := m(cs, i, sp.e)
		if n == 0 {
			i++
			continue
		}
		if gap < i {
			p.splitFrom(k+1, cs, span{gap, i}, fn)
		}
		p.splitFrom(k+1, cs, span{i, i + n}, fn)
		i += n
		gap = i
	}
	if gap < sp.e {
		p.splitFrom(k+1, cs, span{gap, sp.e}, fn)
	}
}

// preTokenizerFor maps tokenizer.ggml.pre to its stages; unknown names get
// GPT-2's regex, which is also llama.cpp's choice for "gpt-2" and the
// closest to its default.
func preTokenizerFor(pre string) (preTokenizer, bool) {
	switch pre {
	case "", "default", "gpt-2", "gpt2":
		return preTokenizer{matchGPT2}, true
	case "llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe":
		return preTokenizer{matchLlama3}, true
	case "qwen2", "stablelm2", "hunyuan":
		return preTokenizer{matchQwen2}, true
	case "deepseek-llm":
		return preTokenizer{matchNewline, matchDeepseekLetters, matchDeepseekPunct,
			matchTrailingSpace, matchDeepseekCJK, matchNumbers}, true
	case "deepseek-v3", "joyai-llm":
		return preTokenizer{matchNumbers3, matchCJKKana, matchDeepseekV3}, true
	}
	return preTokenizer{matchGPT2}, false
}

// matchLineRuns implements gemma4's [^\n]+|[\n]+: its merges run over
// whole lines (spaces included), and runs of newlines apart.
func matchLineRuns(cs []rune, i, end int) int {
	nl := cs[i] == '\n'
	j := i + 1
	for j < end && (cs[j] == '\n') == nl {
		j++
	}
	return j - i
}

// Unicode classes as the regexes use them.
func isL(r rune) bool {
	return r < 0x80 && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') || r >= 0x80 && unicode.IsLetter(r)
}
func isN(r rune) bool { return '0' <= r && r <= '9' || r >= 0x80 && unicode.IsNumber(r) }
func isM(r rune) bool { return r >= 0x80 && unicode.IsMark(r) }
func isPS(r rune) bool {
	if r < 0x80 {
		return r > ' ' && r < 0x7f && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}

// isSpace is \s: the Unicode White_Space property (\t \n \v \f \r, space,
// U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
func isSpace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.Is(unicode.White_Space, r)
}

// at returns cs[i] if i is inside the piece, else -1 (matches nothing).
func at(cs []rune, i, end int) rune {
	if i < end {
		return cs[i]
	}
	return -1
}

// isContraction matches 's|'t|'re|'ve|'m|'ll|'d at i (lower-casing the
// letters if fold), returning its length.
func isContraction(cs []rune, i, end int, fold bool) int {
	if cs[i] != '\'' || i+1 >= end {
		return 0
	}
	low := func(r rune) rune {
		if fold {
			return unicode.ToLower(r)
		}
		return r
	}
	switch low(cs[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < end {
		a, b := low(cs[i+1]), low(cs[i+2])
		if a == 'r' && b == 'e' || a == 'v' && b == 'e' || a == 'l' && b == 'l' {
			return 3
		}
	}
	return 0
}

// spaceRun returns the end of the whitespace run starting at i.
func spaceRun(cs []rune, i, end int) int {
	for i < end && isSpace(cs[i]) {
		i++
	}
	return i
}

// matchSpaceTail implements \s+(?!\S)|\s+ at i: a whitespace run, less its
// last character when that is followed by a non-space (which then prefixes
// the next word, " Hello").
func matchSpaceTail(cs []rune, i, end int) int {
	j := spaceRun(cs, i, end)
	if j-i > 1 && j < end {
		return j - 1 - i
	}
	return j - i
}

// matchGPT2 implements GPT-2's
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func matchGPT2(cs []rune, i, end int) int {
	if n := isContraction(cs, i, end, false); n > 0 {
		return n
	}
	j := i
	if cs[j] == ' ' && j+1 < end {
		j++
	}
	c := cs[j]
	var class func(rune) bool
	switch {
	case isL(c):
		class = isL
	case isN(c):
		class = isN
	case !isSpace(c):
		class = func(r rune) bool { return !isSpace(r) && !isL(r) && !isN(r) }
	}
	if class != nil {
		for j < end && class(cs[j]) {
			j++
		}
		return j - i
	}
	return matchSpaceTail(cs, i, end)
}

// matchLlama3 implements Llama 3's
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func matchLlama3(cs []rune, i, end int) int { return matchLlama3Digits(cs, i, end, 3) }

// matchQwen2 implements Qwen2's regex, Llama 3's with one digit per piece
// (\p{N} instead of \p{N}{1,3}).
func matchQwen2(cs []rune, i, end int) int { return matchLlama3Digits(cs, i, end, 1) }

// matchLlama3Digits is matchLlama3 with runs of at most maxDigits digits.
func matchLlama3Digits(cs []rune, i, end, maxDigits int) int {
	if n := isContraction(cs, i, end, true); n > 0 {
		return n
	}
	c := cs[i]
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c != '\r' && c != '\n' && !isN(c) && (isL(c) || isL(at(cs, i+1, end))) {
		j := i + 1
		for j < end && isL(cs[j]) {
			j++
		}
		return j - i
	}
	// \p{N}{1,maxDigits}
	if isN(c) {
		j := i
		for j < end && j-i < maxDigits && isN(cs[j]) {
			j++
		}
		return j - i
	}
	// ?[^\s\p{L}\p{N}]+[\r\n]*
	if n := matchPunctNewlines(cs, i, end, func(r rune) bool { return !isSpace(r) && !isL(r) && !isN(r) }); n > 0 {
		return n
	}
	// \s*[\r\n]+
	if n := matchSpaceNewlines(cs, i, end); n > 0 {
		return n
	}
	return matchSpaceTail(cs, i, end)
}

// matchPunctNewlines implements " ?X+[\r\n]*" for a class X.
func matchPunctNewlines(cs []rune, i, end int, class func(rune) bool) int {
	j := i
	if cs[j] == ' ' {
		j++
	}
	if j >= end || !class(cs[j]) {
		return 0
	}
	for j < end && class(cs[j]) {
		j++
	}
	for j < end && (cs[j] == '\r' || cs[j] == '\n') {
		j++
	}
	return j - i
}

// matchSpaceNewlines implements \s*[\r\n]+: the whitespace run at i up to
// and including its last \r or \n.
func matchSpaceNewlines(cs []rune, i, end int) int {
	last := -1
	for j := i; j < end && isSpace(cs[j]); j++ {
		if cs[j] == '\r' || cs[j] == '\n' {
			last = j
		}
	}
	return last + 1 - i
}

// DeepSeek LLM (tokenizer.ggml.pre "deepseek-llm") applies six regexes in
// turn:
//
//	[\r\n]
//	\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕ...𞤀-𞥃]+
//	\s?[!-/:-~！-／：-～‘-‟　-。]+
//	\s+$
//	[一-龥ࠀ-一가-퟿]+
//	\p{N}+
//
// The character classes are literal ranges, so a non-ASCII whitespace
// character (U+3000 included) is only ever \s, never a class member, as in
// llama.cpp, which maps such characters to \v before matching.

func matchNewline(cs []rune, i, end int) int {
	if cs[i] == '\r' || cs[i] == '\n' {
		return 1
	}
	return 0
}

// deepseekLetters is the letter class of the second regex, as code point ranges.
var deepseekLetters = []struct{ lo, hi rune }{
	{0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
	{0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
	{0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386},
	{0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481},
	{0x048A, 0x052F}, {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
	{0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
	{0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
	{0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
	{0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
	{0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
	{0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
	{0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
	{0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184},
	{0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
	{0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
	{0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
	{0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2},
	{0x118A0, 0x118DF}, {0x1E900, 0x1E943},
}

func inRanges(r rune, rs []struct{ lo, hi rune }) bool {
	for _, x := range rs {
		if x.lo <= r && r <= x.hi {
			return true
		}
	}
	return false
}

func isDeepseekLetter(r rune) bool {
	if r < 0x80 {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return inRanges(r, deepseekLetters)
}

var deepseekPunct = []struct{ lo, hi rune }{
	{'!', '/'}, {':', '~'}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
}

func isDeepseekPunct(r rune) bool { return inRanges(r, deepseekPunct) && !(r >= 0x80 && isSpace(r)) }

// matchOptSpaceRun implements \s?X+ at i.
func matchOptSpaceRun(cs []rune, i, end int, class func(rune) bool) int {
	j := i
	if isSpace(cs[j]) && j+1 < end && class(cs[j+1]) {
		j++
	}
	if !class(cs[j]) {
		return 0
	}
	for j < end && class(cs[j]) {
		j++
	}
	return j - i
}

func matchDeepseekLetters(cs []rune, i, end int) int {
	return matchOptSpaceRun(cs, i, end, isDeepseekLetter)
}

func matchDeepseekPunct(cs []rune, i, end int) int {
	return matchOptSpaceRun(cs, i, end, isDeepseekPunct)
}

// matchTrailingSpace implements \s+$ (end of the piece).
func matchTrailingSpace(cs []rune, i, end int) int {
	if spaceRun(cs, i, end) == end {
		return end - i
	}
	return 0
}

func matchDeepseekCJK(cs []rune, i, end int) int {
	is := func(r rune) bool {
		return (0x4E00 <= r && r <= 0x9FA5 || 0x0800 <= r && r <= 0x4E00 || 0xAC00 <= r && r <= 0xD7FF) && !isSpace(r)
	}
	j := i
	for j < end && is(cs[j]) {
		j++
	}
	return j - i
}

// matchNumbers implements \p{N}+.
func matchNumbers(cs []rune, i, end int) int {
	j := i
	for j < end && isN(cs[j]) {
		j++
	}
	return j - i
}

// DeepSeek V3 and V4 ("deepseek-v3"; DeepSeek V4 GGUFs say "joyai-llm")
// apply three regexes in turn:
//
//	\p{N}{1,3}
//	[一-龥぀-ゟ゠-ヿ]+
//	[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with real Unicode classes, as the official tokenizer.json does (so "~" is
// a symbol). ds4 hand-codes an approximation (all non-ASCII counts as a
// letter, docs/deepseek4.md §8.2) that agrees on ordinary text.

// matchNumbers3 implements \p{N}{1,3}.
func matchNumbers3(cs []rune, i, end int) int {
	j := i
	for j < end && j-i < 3 && isN(cs[j]) {
		j++
	}
	return j - i
}

// matchCJKKana implements [一-龥぀-ゟ゠-ヿ]+ (CJK U+4E00..U+9FA5, Hiragana, Katakana).
func matchCJKKana(cs []rune, i, end int) int {
	j := i
	for j < end && (0x4E00 <= cs[j] && cs[j] <= 0x9FA5 || 0x3040 <= cs[j] && cs[j] <= 0x30FF) {
		j++
	}
	return j - i
}

func matchDeepseekV3(cs []rune, i, end int) int {
	c := cs[i]
	isASCIILetter := func(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
	// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
	if c < 0x80 && isPS(c) && isASCIILetter(at(cs, i+1, end)) {
		j := i + 1
		for j < end && isASCIILetter(cs[j]) {
			j++
		}
		return j - i
	}
	// [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
	isLM := func(r rune) bool { return isL(r) || isM(r) }
	if c != '\r' && c != '\n' && !isL(c) && !isPS(c) && isLM(at(cs, i+1, end)) || isLM(c) {
		j := i + 1
		for j < end && isLM(cs[j]) {
			j++
		}
		return j - i
	}
	// ?[\p{P}\p{S}]+[\r\n]*
	if n := matchPunctNewlines(cs, i, end, isPS); n > 0 {
		return n
	}
	// \s*[\r\n]+
	if n := matchSpaceNewlines(cs, i, end); n > 0 {
		return n
	}
	// \s+(?!\S)|\s+
	return matchSpaceTail(cs, i, end)
}
