package server

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		`save 900 1`:           {"save", "900", "1"},
		`requirepass "a b\tc"`: {"requirepass", "a b\tc"},
		`x 'it\'s'`:            {"x", "it's"},
		`dir "\x41\x42"`:       {"dir", "AB"},
		`  spaced   out  `:     {"spaced", "out"},
		`save ""`:              {"save", ""},
	}
	for in, want := range cases {
		got, err := SplitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a "b"c`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q): want unbalanced quotes error", bad)
		}
	}
}

func TestConfigFileAndArgs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.conf")
	os.WriteFile(path, []byte("# comment\nport 7000\nsave 900 1\nsave 300 10\nmaxmemory 1mb\n"), 0o644)
	c := NewConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadArgs([]string{"--hz", "20", "--dir", dir}); err != nil {
		t.Fatal(err)
	}
	if c.Port != 7000 || c.Hz != 20 || c.MaxMemory != 1<<20 || c.Get("save") != "900 1 300 10" {
		t.Fatalf("got port %d hz %d maxmemory %d save %q", c.Port, c.Hz, c.MaxMemory, c.Get("save"))
	}
	if err := c.LoadArgs([]string{"--no-such-thing", "1"}); err == nil || !strings.Contains(err.Error(), "no-such-thing") {
		t.Fatalf("unknown directive: %v", err)
	}
	if err := c.SetRuntime("port", "1"); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("immutable: %v", err)
	}
	if err := c.SetRuntime("maxmemory", "zzz"); err == nil {
		t.Fatal("bad memory value accepted")
	}
	// REWRITE keeps comments, replaces changed directives, appends new ones.
	c.SetRuntime("hz", "30")
	if err := c.Rewrite(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# comment") || !strings.Contains(string(b), "hz 30") || !strings.Contains(string(b), "port 7000") {
		t.Fatalf("rewrite:\n%s", b)
	}
	c2 := NewConfig()
	if err := c2.LoadFile(path); err != nil || c2.Hz != 30 || c2.Get("save") != "900 1 300 10" {
		t.Fatalf("reload after rewrite: %v hz %d save %q", err, c2.Hz, c2.Get("save"))
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "1k": 1000, "1kb": 1024, "2mb": 2 << 20, "1gb": 1 << 30, "3g": 3000000000} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v", in, got, err)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true}, {"h?llo", "hello", true}, {"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true}, {"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true},
		{"a\\*b", "a*b", true}, {"a\\*b", "axb", false}, {"*foo*bar", "xxfooyybar", true},
	}
	for _, c := range cases {
		if got := GlobMatch(c.p, c.s, false); got != c.want {
			t.Errorf("GlobMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
	if !GlobMatch("MAX*", "maxmemory", true) {
		t.Error("nocase")
	}
	// Hostile patterns stay polynomial: this takes microseconds, not ages.
	if GlobMatch(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 10000), false) {
		t.Error("a*a*...b matched a string without b")
	}
	if !GlobMatch(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 100)+"b", false) {
		t.Error("a*a*...b missed")
	}
}

func TestReplyEncodings(t *testing.T) {
	r := &Reply{resp: 2}
	r.Map(1)
	r.BulkString("a")
	r.Double(1.5)
	r.Null()
	r.Bool(true)
	if got := string(r.buf); got != "*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n" {
		t.Fatalf("resp2: %q", got)
	}
	r = &Reply{resp: 3}
	r.Map(1)
	r.BulkString("a")
	r.Double(1.5)
	r.Null()
	r.Bool(true)
	r.Push(1)
	if got := string(r.buf); got != "%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#t\r\n>1\r\n" {
		t.Fatalf("resp3: %q", got)
	}
}
