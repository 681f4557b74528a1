package redistests

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// HSCAN, SSCAN and ZSCAN over collections past their compact encodings
// iterate with a cursor, as Redis's dictScan does: about COUNT elements a
// call, every element present for the whole iteration returned at least
// once even while others are added and removed between calls, and a
// small (listpack, intset) collection answered whole with cursor 0.

// scanAll runs one full iteration of cmd (HSCAN, SSCAN, ZSCAN) over key
// with count, calling between after each call, and returns how many times
// each name came back, the largest number of names one call returned, and
// the number of calls.
func scanAll(t *testing.T, c *redis.Client, cmd, key string, count int, between func(call int)) (seen map[string]int, most, calls int) {
	t.Helper()
	seen = map[string]int{}
	per := 2
	if cmd == "SSCAN" {
		per = 1
	}
	cursor := "0"
	for {
		r, err := c.Do(ctx, cmd, key, cursor, "COUNT", count).Slice()
		if err != nil {
			t.Fatalf("%s %s %s: %v", cmd, key, cursor, err)
		}
		calls++
		cursor = r[0].(string)
		items := r[1].([]any)
		most = max(most, len(items)/per)
		for i := 0; i < len(items); i += per {
			seen[items[i].(string)]++
		}
		if cursor == "0" {
			return
		}
		if calls > 100000 {
			t.Fatalf("%s never returned cursor 0", cmd)
		}
		if between != nil {
			between(calls)
		}
	}
}

func TestCollectionScanIteratesBigCollections(t *testing.T) {
	c := client(t)
	const n = 2000
	for i := 0; i < n; i += 500 {
		var h, s, z []any
		for j := i; j < i+500; j++ {
			name := "m" + strconv.Itoa(j)
			h = append(h, name, j)
			s = append(s, name)
			z = append(z, j, name)
		}
		do(t, c, append([]any{"HSET", "h"}, h...)...)
		do(t, c, append([]any{"SADD", "s"}, s...)...)
		do(t, c, append([]any{"ZADD", "z"}, z...)...)
	}
	for _, k := range []struct{ cmd, key, enc string }{{"HSCAN", "h", "hashtable"}, {"SSCAN", "s", "hashtable"}, {"ZSCAN", "z", "skiplist"}} {
		want(t, c, k.enc, "OBJECT", "ENCODING", k.key)
		seen, most, calls := scanAll(t, c, k.cmd, k.key, 10, nil)
		if len(seen) != n {
			t.Errorf("%s returned %d distinct elements, want %d", k.cmd, len(seen), n)
		}
		// COUNT is a hint: Redis visits buckets, so a call returns about
		// COUNT; one reply with everything is no iteration.
		if calls < n/40 || most > 100 {
			t.Errorf("%s COUNT 10 over %d elements: %d calls, at most %d elements a call", k.cmd, n, calls, most)
		}
	}
	// The values that go with the names.
	r, err := c.Do(ctx, "HSCAN", "h", 0, "MATCH", "m1999").Slice()
	for cursor := ""; err == nil && cursor != "0"; {
		if items := r[1].([]any); len(items) > 0 {
			if fmt.Sprint(items) != "[m1999 1999]" {
				t.Errorf("HSCAN MATCH m1999: %v", items)
			}
			break
		}
		cursor = r[0].(string)
		r, err = c.Do(ctx, "HSCAN", "h", cursor, "MATCH", "m1999").Slice()
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	cursor := "0"
	for {
		r, err := c.Do(ctx, "ZSCAN", "z", cursor, "COUNT", 100).Slice()
		if err != nil {
			t.Fatal(err)
		}
		items := r[1].([]any)
		for i := 0; i < len(items); i += 2 {
			seen[items[i].(string)] = items[i+1].(string)
		}
		if cursor = r[0].(string); cursor == "0" {
			break
		}
	}
	if seen["m7"] != "7" || seen["m1500"] != "1500" || len(seen) != n {
		t.Errorf("ZSCAN scores: m7=%q m1500=%q, %d members", seen["m7"], seen["m1500"], len(seen))
	}
	// Small collections come back whole, with cursor 0.
	do(t, c, "HSET", "small", "a", 1, "b", 2, "c", 3)
	want(t, c, "[0 [a 1 b 2 c 3]]", "HSCAN", "small", 0, "COUNT", 1)
	do(t, c, "SADD", "ints", 3, 1, 2)
	want(t, c, "[0 [1 2 3]]", "SSCAN", "ints", 0, "COUNT", 1)
	want(t, c, "[0 []]", "SSCAN", "nokey", 0)
	wantErr(t, c, "ERR invalid cursor", "HSCAN", "h", "x")
}

// The guarantee under change: while a full iteration runs, a writer
// removes elements and adds new ones between calls; every element present
// from start to end still comes back.
func TestCollectionScanReturnsSurvivorsUnderChange(t *testing.T) {
	c := client(t)
	const n = 3000
	for _, k := range []struct{ cmd, key string }{{"HSCAN", "h"}, {"SSCAN", "s"}, {"ZSCAN", "z"}} {
		var args []any
		for j := 0; j < n; j++ {
			name := "e" + strconv.Itoa(j)
			switch k.cmd {
			case "HSCAN":
				args = append(args, name, j)
			case "SSCAN":
				args = append(args, name)
			case "ZSCAN":
				args = append(args, j, name)
			}
		}
		add := map[string]string{"HSCAN": "HSET", "SSCAN": "SADD", "ZSCAN": "ZADD"}[k.cmd]
		del := map[string]string{"HSCAN": "HDEL", "SSCAN": "SREM", "ZSCAN": "ZREM"}[k.cmd]
		do(t, c, append([]any{add, k.key}, args...)...)
		// Between calls: remove the next of e0, e3, e6... (2000 and up
		// only, so the survivors are known) and add two new elements.
		removed := map[string]bool{}
		next := 2000
		seen, _, _ := scanAll(t, c, k.cmd, k.key, 7, func(call int) {
			if next < n {
				name := "e" + strconv.Itoa(next)
				do(t, c, del, k.key, name)
				removed[name] = true
				next += 3
			}
			for i := 0; i < 2; i++ {
				name := fmt.Sprintf("new%d-%d", call, i)
				if k.cmd == "ZSCAN" {
					do(t, c, add, k.key, call, name)
				} else if k.cmd == "HSCAN" {
					do(t, c, add, k.key, name, call)
				} else {
					do(t, c, add, k.key, name)
				}
			}
		})
		missing := 0
		for j := 0; j < n; j++ {
			name := "e" + strconv.Itoa(j)
			if !removed[name] && seen[name] == 0 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s under change: %d of the elements present throughout were never returned", k.cmd, missing)
		}
		if len(removed) == 0 {
			t.Errorf("%s: the iteration ended before any change", k.cmd)
		}
	}
}
