package server

import (
	"path/filepath"
	"strconv"
	"strings"
)

// GlobMatch reports whether s matches a Redis glob pattern: * ? [abc] [^a]
// [a-z] and \ escapes, as KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET use.
func GlobMatch(pattern, s string, nocase bool) bool {
	return globMatch(pattern, s, nocase, 0)
}

func globMatch(p, s string, nocase bool, depth int) bool {
	if depth > 1000 {
		return false // pathological patterns: refuse rather than recurse forever
	}
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(p[1:], s[i:], nocase, depth+1) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
			p = p[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) == 0 {
					break // unterminated class: Redis treats the rest as the class
				}
				if p[0] == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					lo, hi := p[0], p[2]
					if lo > hi {
						lo, hi = hi, lo
					}
					c := s[0]
					if nocase {
						lo, hi, c = lower(lo), lower(hi), lower(c)
					}
					if c >= lo && c <= hi {
						match = true
					}
					p = p[2:]
				} else if eqByte(p[0], s[0], nocase) {
					match = true
				}
				p = p[1:]
			}
			if len(p) > 0 {
				p = p[1:] // the ]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || !eqByte(p[0], s[0], nocase) {
				return false
			}
			s = s[1:]
			p = p[1:]
		}
	}
	return len(s) == 0
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
