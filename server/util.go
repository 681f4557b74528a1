package server

import (
	"path/filepath"
	"strconv"
	"strings"
)

// GlobMatch reports whether s matches a Redis glob pattern: * ? [abc] [^a]
// [a-z] and \ escapes, as KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET use.
//
// It backtracks only to the last '*' seen, so it runs in O(len(pattern) ×
// len(s)) even for hostile patterns like a*a*a*...b, which make a naive
// recursive matcher exponential.
func GlobMatch(pattern, s string, nocase bool) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) && pattern[p] == '*' {
			for p < len(pattern) && pattern[p] == '*' {
				p++
			}
			if p == len(pattern) {
				return true
			}
			starP, starI = p, i
			continue
		}
		if p < len(pattern) {
			if n, ok := matchOne(pattern[p:], s[i], nocase); ok {
				p += n
				i++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star absorb one more character and retry.
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches one pattern element (not '*') at the start of p against
// c; it returns the element's length in the pattern and whether it matched.
func matchOne(p string, c byte, nocase bool) (int, bool) {
	switch p[0] {
	case '?':
		return 1, true
	case '\\':
		if len(p) >= 2 {
			return 2, eqByte(p[1], c, nocase)
		}
		return 1, eqByte('\\', c, nocase)
	case '[':
		k := 1
		not := k < len(p) && p[k] == '^'
		if not {
			k++
		}
		match := false
		for k < len(p) && p[k] != ']' {
			switch {
			case p[k] == '\\' && k+1 < len(p):
				if eqByte(p[k+1], c, nocase) {
					match = true
				}
				k += 2
			case k+2 < len(p) && p[k+1] == '-' && p[k+2] != ']':
				lo, hi, x := p[k], p[k+2], c
				if lo > hi {
					lo, hi = hi, lo
				}
				if nocase {
					lo, hi, x = lower(lo), lower(hi), lower(x)
				}
				if x >= lo && x <= hi {
					match = true
				}
				k += 3
			default:
				if eqByte(p[k], c, nocase) {
					match = true
				}
				k++
			}
		}
		if k < len(p) {
			k++ // the ]
		}
		return k, match != not
	default:
		return 1, eqByte(p[0], c, nocase)
	}
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func eqByte(a, b byte, nocase bool) bool {
	if nocase {
		return lower(a) == lower(b)
	}
	return a == b
}

func absPath(p string) (string, error) { return filepath.Abs(p) }

// ParseInt parses a Redis integer argument (no spaces, no leading +,
// 64-bit signed).
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '+' || (len(b) > 1 && b[0] == '0') || (len(b) > 1 && b[0] == '-' && b[1] == '0') {
		return 0, false
	}
	// Anything but digits is refused here: strconv's error for it costs an
	// allocation, and callers probe non-numbers often (encodings, listpack
	// sizes).
	for i, c := range b {
		if (c < '0' || c > '9') && (c != '-' || i != 0 || len(b) == 1) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// ParseFloat parses a Redis float argument (no spaces, "inf" allowed, NaN
// refused).
func ParseFloat(b []byte) (float64, bool) {
	s := string(b)
	if len(s) == 0 || strings.TrimSpace(s) != s {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		ls := strings.ToLower(s)
		switch ls {
		case "inf", "+inf", "infinity", "+infinity":
			return f, true
		case "-inf", "-infinity":
			return f, true
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, false
		}
		return 0, false
	}
	if f != f {
		return 0, false
	}
	return f, true
}

// EqualFold compares an argument with an upper-case keyword.
func EqualFold(arg []byte, kw string) bool {
	if len(arg) != len(kw) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		if lower(arg[i]) != lower(kw[i]) {
			return false
		}
	}
	return true
}

// touchPages writes a zero to every 4 KiB page of b (zeroed memory), so
// that each page is resident when it returns.
func touchPages(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
}
