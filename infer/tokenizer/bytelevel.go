package tokenizer

import "unicode/utf8"

// GPT-2 byte-level encoding: BPE runs over text in which every byte is
// replaced by a printable code point, so that vocab strings never contain
// spaces or control bytes. Bytes 33..126, 161..172 and 174..255 map to
// themselves; the other 68 bytes (0..32, 127..160, 173) map, in increasing
// order, to U+0100, U+0101, ... ("Ġ" U+0120 is the space).
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if 33 <= b && b <= 126 || 161 <= b && b <= 172 || 174 <= b {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 256 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteEncode appends the byte-level form of s to dst.
func byteEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}

// byteDecode undoes byteEncode; code points outside the table are kept as
// their UTF-8 (they cannot come from byteEncode).
func byteDecode(dst []byte, s string) []byte {
	for _, r := range s {
		if b, ok := runeToByte[r]; ok {
			dst = append(dst, b)
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
