package redistests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Hashes, lists, sets and sorted sets survive SAVE and a restart, DUMP and
// RESTORE, keep their TTLs, and `reddwarf check` reads them. Each type is
// filled past its compact encoding too, so both encodings are written.

// fillTypes writes one small and one big value of every collection type.
func fillTypes(t *testing.T, c doer) {
	t.Helper()
	do(t, c, "HSET", "h:small", "a", "1", "b", "")
	do(t, c, "HSET", "h:big", "f", strings.Repeat("v", 100))
	do(t, c, "PEXPIRE", "h:small", 1000000)
	do(t, c, "RPUSH", "l:small", "a", "", "c")
	for i := 0; i < 300; i++ {
		do(t, c, "LPUSH", "l:big", strings.Repeat("e", i))
	}
	do(t, c, "SADD", "s:small", 3, 1, 2)
	do(t, c, "SADD", "s:big", "x", "y", 7)
	do(t, c, "ZADD", "z:small", 1.5, "a", "-inf", "b", 2, "c")
	for i := 0; i < 200; i++ {
		do(t, c, "ZADD", "z:big", i%7, fmt.Sprint("m", i))
	}
}

// typesDigest reads back every value fillTypes wrote, with its encoding.
func typesDigest(t *testing.T, c doer) string {
	t.Helper()
	var b strings.Builder
	for _, line := range [][]any{
		{"HGETALL", "h:small"}, {"OBJECT", "ENCODING", "h:small"},
		{"HGETALL", "h:big"}, {"OBJECT", "ENCODING", "h:big"},
		{"LRANGE", "l:small", 0, -1}, {"OBJECT", "ENCODING", "l:small"},
		{"LRANGE", "l:big", 0, -1}, {"OBJECT", "ENCODING", "l:big"},
		{"SMEMBERS", "s:small"}, {"OBJECT", "ENCODING", "s:small"},
		{"SCARD", "s:big"}, {"SISMEMBER", "s:big", "y"}, {"OBJECT", "ENCODING", "s:big"},
		{"ZRANGE", "z:small", 0, -1, "WITHSCORES"}, {"OBJECT", "ENCODING", "z:small"},
		{"ZRANGE", "z:big", 0, -1, "WITHSCORES"}, {"OBJECT", "ENCODING", "z:big"},
	} {
		b.WriteString(pstr(t, c, line...) + "\n")
	}
	return b.String()
}

func TestPersistCollectionsRestartDumpRestoreAndCheck(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	fillTypes(t, c)
	before := typesDigest(t, c)
	// DUMP and RESTORE give the same value under another name.
	for _, k := range []string{"h:small", "h:big", "l:small", "l:big", "s:small", "s:big", "z:small", "z:big"} {
		p := do(t, c, "DUMP", k).(string)
		want(t, c, "OK", "RESTORE", k+":copy", 0, p)
		want(t, c, pstr(t, c, "OBJECT", "ENCODING", k), "OBJECT", "ENCODING", k+":copy")
		do(t, c, "DEL", k+":copy")
		bad := []byte(p)
		bad[1] ^= 0xff
		wantErr(t, c, "ERR DUMP payload version or checksum are wrong", "RESTORE", k+":bad", 0, string(bad))
	}
	want(t, c, "OK", "SAVE")
	s.stop()
	out, err := exec.Command(serverBinary, "check", filepath.Join(dir, "dump.dsv4")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "collections 8") || !strings.Contains(string(out), "OK") {
		t.Errorf("reddwarf check: %v\n%s", err, out)
	}
	s = startIn(t, dir)
	c = cli(t, s)
	if got := typesDigest(t, c); got != before {
		t.Errorf("after restart:\n%s\nbefore:\n%s", got, before)
	}
	if ttl := do(t, c, "PTTL", "h:small").(int64); ttl < 900000 {
		t.Errorf("PTTL after restart %d", ttl)
	}
}
