package redistests

import (
	"fmt"
	"strings"
	"testing"
)

// TestLazySessionsRespectMaxmemory: sessions of a snapshot are decoded on
// first access, and decoding allocates. Under a small maxmemory a
// read-only command that would load one past the limit gets Redis's -OOM
// and the session stays lazy (readable again once memory is freed), so
// reading every session of a large snapshot cannot take used memory far
// past maxmemory.
func TestLazySessionsRespectMaxmemory(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := cli(t, s)
	const n = 300
	do(t, c, "PREFILL", "base", strings.Repeat("Tom had apples and pears in the garden. ", 40))
	for i := 0; i < n; i++ {
		do(t, c, "FORK", "base", fmt.Sprintf("s%d", i))
	}
	want(t, c, "OK", "SAVE")
	s.stop()

	s = startIn(t, dir)
	c = cli(t, s)
	start := infoInt(t, c, "memory", "used_memory")
	s.stop()
	limit := start + 8<<20
	s = startIn(t, dir, "--maxmemory", fmt.Sprint(limit), "--maxmemory-policy", "noeviction")
	c = cli(t, s)
	oom, ok := 0, 0
	for i := 0; i < n; i++ {
		_, err := c.Do(ctx, "TOKENS", fmt.Sprintf("s%d", i)).Result()
		switch {
		case err == nil:
			ok++
		case strings.HasPrefix(err.Error(), "OOM command not allowed when used memory > 'maxmemory'"):
			oom++
		default:
			t.Fatalf("TOKENS s%d: %v", i, err)
		}
	}
	used := infoInt(t, c, "memory", "used_memory")
	t.Logf("maxmemory %d: %d sessions loaded, %d refused with -OOM, used_memory %d", limit, ok, oom, used)
	if oom == 0 {
		t.Fatalf("no -OOM: all %d lazy sessions loaded under maxmemory %d (used_memory %d)", n, limit, used)
	}
	// used_memory counts garbage not yet collected too, hence the margin;
	// loading every session took it to ~220 MB here.
	if used > 2*limit {
		t.Fatalf("used_memory %d is over twice maxmemory %d", used, limit)
	}
	// A refused session stays lazy and intact: once memory is freed it loads.
	do(t, c, "CONFIG", "SET", "maxmemory", "0")
	want(t, c, pstr(t, c, "TOKENS", "base"), "TOKENS", fmt.Sprintf("s%d", n-1))
}
