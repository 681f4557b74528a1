package redistests

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
)

// redsync (a Redis lock library whose unlock and extend are Lua scripts)
// guards a read-modify-write that is not atomic on its own: eight workers
// each add 1 twenty times through GET then SET, holding the lock; every
// increment must survive. A lock held elsewhere is refused, and extended
// only by its owner.
func TestRedsyncLockGuardsACounter(t *testing.T) {
	c := client(t)
	rs := redsync.New(goredis.NewPool(c))
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			m := rs.NewMutex("lock:counter", redsync.WithExpiry(5*time.Second), redsync.WithTries(1000), redsync.WithRetryDelay(2*time.Millisecond))
			for i := 0; i < each; i++ {
				if err := m.LockContext(ctx); err != nil {
					errs <- err
					return
				}
				v, err := c.Get(ctx, "counter").Result()
				if err != nil && err != redis.Nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(v)
				time.Sleep(100 * time.Microsecond) // widen the window a missing lock would lose an update in
				if err := c.Set(ctx, "counter", n+1, 0).Err(); err != nil {
					errs <- err
					return
				}
				if ok, err := m.UnlockContext(ctx); !ok || err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want(t, c, strconv.Itoa(workers*each), "GET", "counter")

	a := rs.NewMutex("lock:x", redsync.WithTries(1))
	b := rs.NewMutex("lock:x", redsync.WithTries(1))
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(); err == nil {
		t.Error("a second owner took a held lock")
	}
	if ok, err := b.Extend(); ok || err == nil {
		t.Errorf("a non-owner extended the lock: %v %v", ok, err)
	}
	if ok, err := a.Extend(); !ok || err != nil {
		t.Errorf("the owner could not extend: %v %v", ok, err)
	}
	if ok, err := a.Unlock(); !ok || err != nil {
		t.Errorf("unlock: %v %v", ok, err)
	}
	if err := b.Lock(); err != nil {
		t.Errorf("the lock was not free after unlock: %v", err)
	}
}
