package redistests

import (
	"sort"
	"strings"
	"testing"
)

// Sets, after Redis's tests/unit/type/set.tcl.

func TestSetAddRemoveAndIntsetEncoding(t *testing.T) {
	c := client(t)
	want(t, c, int64(3), "SADD", "s", 3, 1, 2)
	want(t, c, int64(0), "SADD", "s", 1)
	want(t, c, "intset", "OBJECT", "ENCODING", "s")
	want(t, c, "[1 2 3]", "SMEMBERS", "s")  // an intset is sorted
	want(t, c, int64(1), "SADD", "s", "01") // not canonical: a string
	want(t, c, "hashtable", "OBJECT", "ENCODING", "s")
	want(t, c, int64(1), "SISMEMBER", "s", "01")
	want(t, c, int64(0), "SISMEMBER", "s", "4")
	want(t, c, "[1 0 1]", "SMISMEMBER", "s", 1, 9, 3)
	want(t, c, int64(2), "SREM", "s", 1, "01", "zz")
	want(t, c, int64(2), "SCARD", "s")
	want(t, c, int64(1), "SMOVE", "s", "t", 2)
	want(t, c, "[2]", "SMEMBERS", "t")
	do(t, c, "SPOP", "s")
	want(t, c, int64(0), "EXISTS", "s")
	do(t, c, "SET", "str", "x")
	wantErr(t, c, "WRONGTYPE Operation against a key holding the wrong kind of value", "SADD", "str", "a")
	wantErr(t, c, "ERR value is out of range, must be positive", "SPOP", "t", -1)
	want(t, c, "[]", "SPOP", "none", 3)
}

func TestSetAlgebraAndStore(t *testing.T) {
	c := client(t)
	do(t, c, "SADD", "a", 1, 2, 3, 4)
	do(t, c, "SADD", "b", 3, 4, 5)
	do(t, c, "SADD", "c", 4, "x")
	sorted := func(args ...any) string {
		var out []string
		for _, v := range do(t, c, args...).([]any) {
			out = append(out, v.(string))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	if got := sorted("SINTER", "a", "b", "c"); got != "4" {
		t.Errorf("SINTER = %s", got)
	}
	if got := sorted("SUNION", "a", "b", "c"); got != "1,2,3,4,5,x" {
		t.Errorf("SUNION = %s", got)
	}
	if got := sorted("SDIFF", "a", "b", "none"); got != "1,2" {
		t.Errorf("SDIFF = %s", got)
	}
	want(t, c, int64(2), "SINTERCARD", 2, "a", "b")
	want(t, c, int64(1), "SINTERCARD", 2, "a", "b", "LIMIT", 1)
	wantErr(t, c, "ERR numkeys should be greater than 0", "SINTERCARD", 0, "a")
	wantErr(t, c, "ERR Number of keys can't be greater than number of args", "SINTERCARD", 3, "a")
	want(t, c, int64(2), "SDIFFSTORE", "d", "a", "b")
	want(t, c, "intset", "OBJECT", "ENCODING", "d")
	want(t, c, int64(0), "SINTERSTORE", "d", "a", "none")
	want(t, c, int64(0), "EXISTS", "d") // an empty result deletes the destination
	n := len(do(t, c, "SRANDMEMBER", "a", -10).([]any))
	if n != 10 {
		t.Errorf("SRANDMEMBER a -10 gave %d members", n)
	}
	want(t, c, "set", "TYPE", "a")
	want(t, c, "[0 [a]]", "SCAN", 0, "MATCH", "a", "TYPE", "set")
}
