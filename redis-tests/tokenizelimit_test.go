package redistests

import (
	"strings"
	"testing"
	"time"
)

// TestTokenizeHugeTextIsRefused: TOKENIZE of 16 MiB took RSS to 1.4 GB and
// stalled the loop; past its documented 1 MiB limit it is refused with a
// clear error and memory stays bounded, while 1 MiB is still tokenised.
func TestTokenizeHugeTextIsRefused(t *testing.T) {
	s := startIn(t, t.TempDir())
	c := cli(t, s)
	before := infoInt(t, c, "memory", "used_memory_rss")
	_, err := c.Do(ctx, "TOKENIZE", strings.Repeat("Tom had apples. ", 1<<20)).Result()
	if err == nil || !strings.Contains(err.Error(), "over the limit of 1048576") {
		t.Fatalf("TOKENIZE of 16 MiB: %v, want the limit's error", err)
	}
	rss := infoInt(t, c, "memory", "used_memory_rss")
	t.Logf("RSS before %d, after a refused 16 MiB TOKENIZE %d", before, rss)
	// The 16 MiB argument itself is read (twice its size at most in
	// buffers): 256 MiB bounds that, far below the 1.4 GB tokenising took.
	if rss > before+256<<20 {
		t.Fatalf("RSS grew from %d to %d", before, rss)
	}
	t0 := time.Now()
	ids, err := c.Do(ctx, "TOKENIZE", strings.Repeat("Tom had apples. ", 1<<16)).Slice()
	if err != nil || len(ids) == 0 {
		t.Fatalf("TOKENIZE of 1 MiB: %d ids, %v", len(ids), err)
	}
	t.Logf("TOKENIZE of 1 MiB: %d ids in %v, RSS %d", len(ids), time.Since(t0), infoInt(t, c, "memory", "used_memory_rss"))
}
