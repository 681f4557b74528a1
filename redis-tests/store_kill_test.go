package redistests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStoreKill9Sessions is issue 12's crash test for sessions: 8 clients
// run GENs (half of them streaming), PREFILLs, FORKs, ROLLBACKs,
// CHECKPOINTs and DELs on sessions of their own while BGREWRITEAOF runs,
// and the server is killed
// (SIGKILL) at a random moment, 20 rounds on one directory with
// appendfsync always. After each restart every session holds exactly the
// tokens it had when its last command was acknowledged (a command in
// flight at the kill may or may not have happened, as a whole), and
// continues exactly: a greedy GEN from it equals one from a session
// prefilled with the same tokens from scratch.
//
// With appendfsync everysec the same holds for a process kill: the
// records are written (not yet fsynced) before the reply leaves, and the
// kernel keeps what was written when the process dies; only an OS crash
// or power loss can take the last second.
func TestStoreKill9Sessions(t *testing.T) {
	t.Run("always", func(t *testing.T) { storeKill9Sessions(t, "always", 20) })
	t.Run("everysec", func(t *testing.T) { storeKill9Sessions(t, "everysec", 5) })
}

func storeKill9Sessions(t *testing.T, policy string, rounds int) {
	dir := t.TempDir()
	ctx := context.Background()
	type keyState struct {
		tokens  []int64 // nil: the key does not exist
		pending bool    // a command on it was in flight at the kill
	}
	var mu sync.Mutex
	model := map[string]*keyState{}
	set := func(k string, toks []int64) {
		mu.Lock()
		defer mu.Unlock()
		model[k] = &keyState{tokens: toks}
	}
	pend := func(keys ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			if model[k] == nil {
				model[k] = &keyState{}
			}
			model[k].pending = true
		}
	}
	words := []string{" the cat", " a dog", " sat on", " the mat.", " Lily", " was happy", " and played", " in the park.", " Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her big red ball and her friend Tom."}
	totalOps := 0
	for round := 0; round < rounds; round++ {
		s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", policy)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var opsMu sync.Mutex
		ops := 0
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := redis.NewClient(options(s.Addr(), 2))
				defer c.Close()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				key := func(i int) string { return fmt.Sprintf("w%d:%d", w, i) }
				tokens := func(k string) ([]int64, bool) {
					v, err := c.Do(ctx, "TOKENS", k).Int64Slice()
					if err == redis.Nil {
						return nil, true
					}
					return v, err == nil
				}
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					k := key(rng.IntN(3))
					var err error
					touched := []string{k}
					switch op := rng.IntN(10); {
					case op < 4:
						pend(k)
						args := []any{"GEN", k, words[rng.IntN(len(words))], "MAXTOKENS", 1 + rng.IntN(40), "TEMPERATURE", 0.8}
						if rng.IntN(2) == 0 {
							args = append(args, "STREAM") // pieces published as they come; the reply is the same
						}
						err = c.Do(ctx, args...).Err()
					case op < 6:
						pend(k)
						err = c.Do(ctx, "PREFILL", k, words[rng.IntN(len(words))]).Err()
					case op < 7:
						dst := key(rng.IntN(3))
						if dst == k {
							continue
						}
						touched = append(touched, dst)
						pend(k, dst)
						err = c.Do(ctx, "FORK", k, dst, "REPLACE").Err()
					case op < 8:
						pend(k)
						err = c.Do(ctx, "ROLLBACK", k, -(1 + rng.IntN(8))).Err()
					case op < 9:
						pend(k)
						err = c.Do(ctx, "CHECKPOINT", k).Err()
					case w == 0 && n%5 == 0:
						err = c.Do(ctx, "BGREWRITEAOF").Err()
						if err != nil && !isRewriteBusy(err) {
							return
						}
						continue
					default:
						pend(k)
						err = c.Do(ctx, "DEL", k).Err()
					}
					if err != nil && !isSessionRefusal(err) {
						return // the kill
					}
					for _, tk := range touched {
						toks, ok := tokens(tk)
						if !ok {
							return
						}
						set(tk, toks)
					}
					opsMu.Lock()
					ops++
					opsMu.Unlock()
				}
			}()
		}
		// A random moment after the first acknowledgement (on a loaded
		// machine the clients may take a while to get going).
		for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
			opsMu.Lock()
			n := ops
			opsMu.Unlock()
			if n > 0 {
				break
			}
		}
		time.Sleep(time.Duration(200+rand.IntN(700)) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		close(stop)
		wg.Wait()
		s.stop()
		if ops == 0 {
			t.Fatalf("round %d: no command acknowledged", round)
		}
		totalOps += ops

		r := startIn(t, dir, "--appendonly", "yes", "--appendfsync", policy)
		c := redis.NewClient(options(r.Addr(), 2))
		checked := 0
		longest := 0
		for k, st := range model {
			got, err := c.Do(ctx, "TOKENS", k).Int64Slice()
			if err == redis.Nil {
				got, err = nil, nil
			}
			if err != nil {
				t.Fatalf("round %d: TOKENS %s: %v", round, k, err)
			}
			if !st.pending && !slices.Equal(got, st.tokens) {
				t.Fatalf("round %d: %s has %d tokens after the restart, %d were acknowledged", round, k, len(got), len(st.tokens))
			}
			st.tokens, st.pending = got, false
			longest = max(longest, len(got))
			if len(got) == 0 || checked >= 4 {
				continue
			}
			// Continues exactly: beside a session prefilled from scratch.
			checked++
			args := []any{"PREFILL", "fresh", "IDS"}
			for _, id := range got {
				args = append(args, id)
			}
			c.Del(ctx, "fresh", "probe")
			if err := c.Do(ctx, args...).Err(); err != nil {
				t.Fatal(err)
			}
			c.Do(ctx, "FORK", k, "probe")
			a, errA := c.Do(ctx, "GEN", "probe", "", "MAXTOKENS", 12, "TEMPERATURE", 0).Text()
			b, errB := c.Do(ctx, "GEN", "fresh", "", "MAXTOKENS", 12, "TEMPERATURE", 0).Text()
			if errA != nil || errB != nil || a != b {
				la, _ := c.Do(ctx, "LOGITS", k, "TOP", 3).Result()
				lb, _ := c.Do(ctx, "LOGITS", "fresh", "TOP", 3).Result()
				t.Logf("tokens %v\nlogits k %v\nlogits fresh %v", got, la, lb)
				t.Fatalf("round %d: %s continues with %q (%v), from scratch %q (%v)", round, k, a, errA, b, errB)
			}
			c.Del(ctx, "fresh", "probe")
		}
		if round == rounds-1 && longest < 200 {
			t.Errorf("the longest session has %d tokens: too short to span stored pages", longest)
		}
		c.Close()
		r.stop()
	}
	if totalOps < 10*rounds {
		t.Errorf("only %d commands acknowledged over %d rounds", totalOps, rounds)
	}
	t.Logf("appendfsync %s: %d commands acknowledged over %d kills; every session back and continuing exactly", policy, totalOps, rounds)
}

// isRewriteBusy is BGREWRITEAOF's refusal while one runs.
func isRewriteBusy(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "already in progress") || strings.Contains(err.Error(), "scheduled"))
}

// isSessionRefusal is a command's error that is an answer, not the kill:
// ROLLBACK of an empty session, GEN's context full, FORK of a missing key.
func isSessionRefusal(err error) bool {
	if err == nil || err == redis.Nil {
		return true
	}
	for _, s := range []string{"out of range", "no such key", "context window full", "ERR"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
