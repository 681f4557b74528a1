package redistests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStoreDiskBudget: with session-disk-max, GENs fill the store until
// it holds only live keys' pages; then a GEN is refused with a clear
// -OOM (nothing stored is dropped, every key still continues), a rewrite
// starts by itself, and once keys are deleted it reclaims their pages and
// GENs are accepted again.
func TestStoreDiskBudget(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const budget = 4 << 20
	s := startIn(t, dir, "--appendonly", "yes", "--session-disk-max", fmt.Sprint(budget))
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	prompt := strings.Repeat(" Once upon a time, there was a little girl named Lily.", 8)
	var refused error
	n := 0
	for ; n < 400 && refused == nil; n++ {
		err := c.Do(ctx, "GEN", fmt.Sprint("s", n), prompt+fmt.Sprint(n), "MAXTOKENS", 200, "TEMPERATURE", 0.8).Err()
		if err != nil {
			refused = err
		}
	}
	if refused == nil || !strings.HasPrefix(refused.Error(), "OOM session-disk-max reached") {
		t.Fatalf("after %d sessions: %v, want -OOM session-disk-max reached", n, refused)
	}
	if used := infoInt(t, c, "store", "store_segment_bytes"); used > budget {
		t.Errorf("segments take %d bytes, session-disk-max is %d", used, budget)
	}
	// Every key made before still continues.
	for i := 0; i < n-1; i += 7 {
		if l, err := c.Do(ctx, "TOKENS", fmt.Sprint("s", i)).Int64Slice(); err != nil || len(l) < 200 {
			t.Fatalf("s%d after the refusal: %d tokens, %v", i, len(l), err)
		}
	}
	// Deleting most keys and waiting for the rewrite frees their pages.
	for i := 0; i < n; i++ {
		if i%4 != 0 {
			c.Del(ctx, fmt.Sprint("s", i))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Do(ctx, "GEN", "after", prompt, "MAXTOKENS", 50, "TEMPERATURE", 0.8).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GEN still refused 30 s after deleting keys: %v (segments %d bytes)", err, infoInt(t, c, "store", "store_segment_bytes"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := infoInt(t, c, "store", "store_segments_reclaimed"); r == 0 {
		t.Error("no segment reclaimed")
	}
	t.Logf("%d sessions fit in %d bytes; after deleting 3 in 4, GEN works again", n-1, budget)
}
