package server

import (
	"bytes"
	"testing"
)

// TestNewStringCopy checks the copy is the object's own: changing the
// source changes nothing, an append to an inline value moves it out (it
// cannot write past the value inside the object's allocation), and short
// and long values both hold their bytes.
func TestNewStringCopy(t *testing.T) {
	for _, n := range []int{0, 1, 3, smallStringMax - 1, smallStringMax, smallStringMax + 1, 1000} {
		src := bytes.Repeat([]byte{'a'}, n)
		o := NewStringCopy(src)
		if o.Type != TypeString || !bytes.Equal(o.Str, src) || (n <= smallStringMax && cap(o.Str) != n) {
			t.Fatalf("n=%d: %q cap %d", n, o.Str, cap(o.Str))
		}
		for i := range src {
			src[i] = 'b'
		}
		if n > 0 && o.Str[0] != 'a' {
			t.Fatalf("n=%d: the object shares the source's bytes", n)
		}
		other := NewStringCopy(bytes.Repeat([]byte{'c'}, n))
		grown := append(o.Str, 'z')
		grown[0] = 'y'
		if n > 0 && n <= smallStringMax && (o.Str[0] != 'a' || other.Str[0] != 'c') {
			t.Fatalf("n=%d: an append wrote into an object", n)
		}
	}
}
