package redistests

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStorePrefixReuseAcrossRestart: after a restart, a prompt that starts
// like a stored session reads those pages from the store instead of
// computing them (disk_cached_tokens), and generates what it would have.
func TestStorePrefixReuseAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	prompt := strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play in the park. ", 9)
	s := startIn(t, dir, "--appendonly", "yes")
	c := redis.NewClient(options(s.Addr(), 3))
	n, err := c.Do(ctx, "PREFILL", "kept", prompt).Int64()
	if err != nil || n < 200 {
		t.Fatalf("PREFILL: %d tokens, %v", n, err)
	}
	want, err := c.Do(ctx, "GEN", "before", prompt+"The end", "MAXTOKENS", 10, "TEMPERATURE", 0).Text()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.stop()

	r := startIn(t, dir, "--appendonly", "yes")
	c = redis.NewClient(options(r.Addr(), 3))
	defer c.Close()
	m, err := c.Do(ctx, "GEN", "after", prompt+"The end", "MAXTOKENS", 10, "TEMPERATURE", 0, "WITHSTATS").Result()
	if err != nil {
		t.Fatal(err)
	}
	st := m.(map[any]any)
	disk, cached := st["disk_cached_tokens"].(int64), st["cached_tokens"].(int64)
	if full := (n / 32) * 32; disk < full-32 || cached != disk {
		t.Errorf("disk_cached_tokens %d, cached_tokens %d: want the stored session's full pages (%d of its %d tokens) read back", disk, cached, full, n)
	}
	if st["text"] != want {
		t.Errorf("after the restart %q, before %q", st["text"], want)
	}
	if v := infoInt(t, c, "inference", "prefix_disk_hit_tokens"); v != disk {
		t.Errorf("INFO prefix_disk_hit_tokens %d, GEN said %d", v, disk)
	}
}

// TestStoreTurnedOffLoadsSessionsFirst: CONFIG SET appendonly no while
// sessions are in the store only (after a restart) loads them into RAM
// before closing it, so they stay usable.
func TestStoreTurnedOffLoadsSessionsFirst(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := startIn(t, dir, "--appendonly", "yes")
	c := redis.NewClient(options(s.Addr(), 2))
	if err := c.Do(ctx, "PREFILL", "s", "Once upon a time, there was a little girl named Lily.").Err(); err != nil {
		t.Fatal(err)
	}
	want, _ := c.Do(ctx, "TOKENS", "s").Int64Slice()
	c.Close()
	s.stop()
	r := startIn(t, dir, "--appendonly", "yes")
	rc := redis.NewClient(options(r.Addr(), 2))
	defer rc.Close()
	if n := infoInt(t, rc, "store", "store_sessions_on_disk"); n != 1 {
		t.Fatalf("store_sessions_on_disk %d after the restart, want 1", n)
	}
	if err := rc.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := rc.Do(ctx, "TOKENS", "s").Int64Slice()
	if err != nil || len(got) != len(want) {
		t.Fatalf("TOKENS after appendonly no: %d tokens, %v; want %d", len(got), err, len(want))
	}
	if err := rc.Do(ctx, "GEN", "s", "", "MAXTOKENS", 3).Err(); err != nil {
		t.Fatalf("GEN after appendonly no: %v", err)
	}
}
