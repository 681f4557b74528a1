package redistests

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStoreDeepseek4Sessions: deepseek4 sessions live in the session store
// as their compressed-state pages (rows each full page of tokens added,
// written once) and a resume point per commit. After a SIGKILL and a
// restart every session has its tokens back, its state is rebuilt from
// the pages (page reads, no prefill of the history), and it continues
// exactly as a session prefilled with the same tokens from scratch; a
// FORK and a ROLLBACK made before the kill hold too. The tiny random
// DeepSeek V4 Flash (models/deepseek4-tiny.gguf) stands in for the real
// model.
func TestStoreDeepseek4Sessions(t *testing.T) {
	model, _ := filepath.Abs("../models/deepseek4-tiny.gguf")
	dir := t.TempDir()
	ctx := context.Background()
	s := startIn(t, dir, "--model", model, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(options(s.Addr(), 2))
	rng := rand.New(rand.NewPCG(4, 4))
	ids := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = 3 + rng.IntN(200)
		}
		return out
	}
	for _, k := range []string{"a", "b"} {
		if err := c.Do(ctx, append([]any{"PREFILL", k, "IDS"}, ids(150)...)...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, "GEN", k, "", "MAXTOKENS", 20, "TEMPERATURE", 0.9).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Do(ctx, "FORK", "a", "a2")
	c.Do(ctx, "GEN", "a2", "", "MAXTOKENS", 10, "TEMPERATURE", 0.9)
	c.Do(ctx, "ROLLBACK", "b", -7)
	want := map[string][]int64{}
	for _, k := range []string{"a", "a2", "b"} {
		toks, err := c.Do(ctx, "TOKENS", k).Int64Slice()
		if err != nil {
			t.Fatal(err)
		}
		want[k] = toks
	}
	c.Close()
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.stop()

	r := startIn(t, dir, "--model", model, "--appendonly", "yes")
	rc := redis.NewClient(options(r.Addr(), 2))
	defer rc.Close()
	// "a" first: its state comes from its pages and resume point alone.
	text, err := rc.Do(ctx, "GEN", "a", "", "MAXTOKENS", 12, "TEMPERATURE", 0).Text()
	if err != nil {
		t.Fatal(err)
	}
	if reads := infoInt(t, rc, "store", "store_page_reads"); reads == 0 {
		t.Error("GEN on a restored session read no page: its state was recomputed, not loaded")
	}
	if fed := infoInt(t, rc, "store", "store_tokens_recomputed"); fed > 0 {
		t.Errorf("loading the session fed %d tokens: its resume point should have served", fed)
	}
	for k, w := range want {
		got, err := rc.Do(ctx, "TOKENS", k).Int64Slice()
		if k == "a" && err == nil && len(got) == len(w)+12 {
			got = got[:len(w)]
		}
		if err != nil || !slices.Equal(got, w) {
			t.Fatalf("%s: %d tokens after the restart (%v), %d before", k, len(got), err, len(w))
		}
	}
	args := []any{"PREFILL", "fresh", "IDS"}
	for _, id := range want["a"] {
		args = append(args, id)
	}
	if err := rc.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	fresh, err := rc.Do(ctx, "GEN", "fresh", "", "MAXTOKENS", 12, "TEMPERATURE", 0).Text()
	if err != nil || fresh != text {
		t.Errorf("restored session continues with %q, one prefilled from scratch with %q (%v)", text, fresh, err)
	}
	for _, k := range []string{"a2", "b"} {
		if err := rc.Do(ctx, "GEN", k, "", "MAXTOKENS", 4, "TEMPERATURE", 0).Err(); err != nil {
			t.Errorf("GEN %s after the restart: %v", k, err)
		}
	}
}
