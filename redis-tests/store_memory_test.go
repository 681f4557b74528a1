package redistests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestStoreMaxmemoryPagesSessionsOut: with the session store on and
// maxmemory far below the sessions' KV bytes, memory pressure takes idle
// sessions' pages out of RAM instead of deleting their keys. Every
// session is still there afterwards and continues exactly as it would
// have (a greedy GEN from it equals the one taken right after its
// PREFILL, before it was paged out), while the heap stays near the limit.
//
// The model is a synthetic llama (`reddwarf synth --shape tiny`, 2 KiB of
// f16 KV per token) with stories260K's vocabulary, so a few seconds of
// prefill make several times maxmemory of KV.
func TestStoreMaxmemoryPagesSessionsOut(t *testing.T) {
	onlyReddwarf(t)
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	vocab, _ := filepath.Abs("../models/stories260K.gguf")
	if out, err := exec.Command(serverBinary, "synth", "--arch", "llama", "--shape", "tiny", "--quant", "q8_0", "--vocab", vocab, "-o", model).CombinedOutput(); err != nil {
		t.Fatalf("reddwarf synth: %v\n%s", err, out)
	}
	const limit = 24 << 20
	s := startServer(t, "--model", model, "--appendonly", "yes", "--maxmemory", strconv.Itoa(limit), "--maxmemory-policy", "allkeys-lru")
	c := ownClient(t, s, 2)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const sessions, tokens = 24, 1200 // 24 × 1,200 × 2 KiB ≈ 56 MiB of KV
	want := map[string]string{}
	for i := range sessions {
		key := fmt.Sprintf("s%d", i)
		args := []any{"PREFILL", key, "IDS"}
		for range tokens {
			args = append(args, 3+rng.IntN(500))
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("PREFILL %s: %v", key, err)
		}
		if err := c.Do(ctx, "FORK", key, "probe", "REPLACE").Err(); err != nil {
			t.Fatal(err)
		}
		text, err := c.Do(ctx, "GEN", "probe", "", "MAXTOKENS", 8, "TEMPERATURE", 0).Text()
		if err != nil {
			t.Fatal(err)
		}
		c.Del(ctx, "probe")
		want[key] = text
	}
	paged := infoInt(t, c, "store", "store_sessions_paged_out")
	if paged < sessions/2 {
		t.Errorf("%d sessions paged out of %d: maxmemory should have paged most out", paged, sessions)
	}
	if evicted := infoInt(t, c, "stats", "evicted_keys"); evicted != 0 {
		t.Errorf("evicted_keys:%d: a session was deleted under memory pressure", evicted)
	}
	if used := infoInt(t, c, "memory", "used_memory"); used > 2*limit {
		t.Errorf("used_memory %d with maxmemory %d", used, limit)
	}
	if n := c.DBSize(ctx).Val(); n != sessions {
		t.Fatalf("DBSIZE %d, want %d", n, sessions)
	}
	for key, w := range want {
		got, err := c.Do(ctx, "GEN", key, "", "MAXTOKENS", 8, "TEMPERATURE", 0).Text()
		if err != nil || got != w {
			t.Errorf("%s continues with %q (%v), before it was paged out %q", key, got, err, w)
		}
		if n, err := c.Do(ctx, "TOKENS", key).Int64Slice(); err != nil || len(n) != tokens+8 {
			t.Errorf("%s has %d tokens (%v), want %d", key, len(n), err, tokens+8)
		}
	}
	t.Logf("%d of %d sessions paged out; used_memory %d, maxmemory %d", paged, sessions, infoInt(t, c, "memory", "used_memory"), limit)
}
