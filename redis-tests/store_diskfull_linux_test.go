package redistests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStoreDiskFull: the store's directory is a small tmpfs, filled by
// GENs, SETs and a rewrite until writes fail. Every failure is a clear
// error (-MISCONF naming the AOF, INFO aof_last_write_status:err), the
// server keeps answering reads, and once space returns (a ballast file is
// removed) writes succeed again by themselves. After a SIGKILL and a
// restart on the same tmpfs, everything acknowledged is there: every SET
// with its value, every session with its acknowledged tokens.
func TestStoreDiskFull(t *testing.T) {
	onlyReddwarf(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()

	var mu sync.Mutex
	sets := map[string]string{}
	sessions := map[string][]int64{}
	var refusals []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var killed atomic.Bool // from then on an error is the kill's (connection refused, EOF)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := redis.NewClient(options(s.Addr(), 2))
			defer wc.Close()
			key := fmt.Sprintf("sess%d", w)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if n%2 == 0 {
					k, v := fmt.Sprintf("w%d-%d", w, n), strings.Repeat(string(rune('a'+w)), 64<<10)
					if err = wc.Set(ctx, k, v, 0).Err(); err == nil {
						mu.Lock()
						sets[k] = v
						mu.Unlock()
					}
				} else {
					if err = wc.Do(ctx, "GEN", key, " and then", "MAXTOKENS", 40, "TEMPERATURE", 0.8).Err(); err == nil {
						toks, terr := wc.Do(ctx, "TOKENS", key).Int64Slice()
						if terr != nil {
							if !killed.Load() {
								t.Error(terr)
							}
							return
						}
						mu.Lock()
						sessions[key] = toks
						mu.Unlock()
					}
				}
				if err != nil {
					if strings.Contains(err.Error(), "context window full") {
						wc.Do(ctx, "ROLLBACK", key, 1)
						continue
					}
					mu.Lock()
					refusals = append(refusals, err.Error())
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
				if n%50 == 0 {
					wc.Do(ctx, "BGREWRITEAOF")
				}
			}
		}()
	}
	waitFor(t, "the disk to fill", func() bool {
		return strings.Contains(c.Info(ctx, "persistence").Val(), "aof_last_write_status:err")
	})
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with a full disk: %v", err)
	}
	if _, err := c.DBSize(ctx).Result(); err != nil {
		t.Fatalf("a read with a full disk: %v", err)
	}
	if err := c.Set(ctx, "probe", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "MISCONF") {
		t.Fatalf("a write with a full disk: %v, want -MISCONF", err)
	}
	// Space returns: the store's next flush succeeds and writes resume.
	os.Remove(ballast)
	waitFor(t, "writes to succeed again", func() bool { return c.Set(ctx, "probe", "x", 0).Err() == nil })
	// Full again, and killed while full: with appendfsync always nothing
	// acknowledged may be lost, replies to records the disk did not take
	// are held, never sent.
	fill := filepath.Join(dir, "fill")
	if f, err := os.Create(fill); err == nil {
		f.Write(make([]byte, 8<<20)) // as much as fits
		f.Close()
	}
	waitFor(t, "the disk to fill again", func() bool {
		return strings.Contains(c.Info(ctx, "persistence").Val(), "aof_last_write_status:err")
	})
	time.Sleep(200 * time.Millisecond)
	killed.Store(true)
	s.cmd.Process.Signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	s.stop()
	os.Remove(fill)
	mu.Lock()
	defer mu.Unlock()
	for _, r := range refusals {
		if !strings.HasPrefix(r, "MISCONF") && !strings.Contains(r, "OOM") && !strings.Contains(r, "no space") && !strings.Contains(r, "disk") && !isReset(fmt.Errorf("%s", r)) && !strings.Contains(r, "EOF") && !strings.Contains(r, "connection reset") &&
			!strings.Contains(r, "connection refused") { // a dial after the kill
			t.Errorf("an unclear refusal with a full disk: %q", r)
		}
	}
	if len(refusals) == 0 {
		t.Error("no write was refused while the disk was full")
	}

	r := startIn(t, dir, "--appendonly", "yes")
	rc := redis.NewClient(options(r.Addr(), 2))
	defer rc.Close()
	for k, v := range sets {
		if got, err := rc.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("acknowledged SET %s lost after the full disk and a restart: %v", k, err)
		}
	}
	for k, toks := range sessions {
		got, err := rc.Do(ctx, "TOKENS", k).Int64Slice()
		if err != nil || !slices.Equal(got, toks) {
			t.Fatalf("session %s has %d tokens after the restart (%v), %d were acknowledged", k, len(got), err, len(toks))
		}
	}
	t.Logf("%d SETs and %d sessions acknowledged, %d writes refused while the disk was full; all back after the restart", len(sets), len(sessions), len(refusals))
}
