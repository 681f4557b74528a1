package redistests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Commands on the collection types reach the append-only log in a form
// that replays to the same data: a blocking pop served later is logged
// as the pop it did, random pops as the SREM of what they took, float
// increments as the value they produced.
func TestAOFLogsCollectionWritesDeterministically(t *testing.T) {
	s := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	waitFor(t, "the AOF rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1")
	})
	ch := blocked(t, c, "BLPOP", "q", 0)
	do(t, c, "RPUSH", "q", "a", "b")
	if v := recv(t, ch); !same(v, "[q a]") {
		t.Fatalf("BLPOP got %v", v)
	}
	do(t, c, "BLPOP", "q", 0) // served at once
	do(t, c, "SADD", "s", "x", "y", "z")
	popped := do(t, c, "SPOP", "s").(string)
	do(t, c, "HINCRBYFLOAT", "h", "f", "0.1")
	do(t, c, "ZADD", "z", 1, "m", 2, "n")
	do(t, c, "BZPOPMIN", "z", 0)
	var got []string
	for _, cmd := range readAOFCommands(t, s.Dir) {
		if cmd[0] != "SELECT" {
			got = append(got, strings.Join(cmd, " "))
		}
	}
	want := []string{"RPUSH q a b", "LPOP q", "LPOP q", "SADD s x y z", "SREM s " + popped,
		"HSET h f 0.1", "ZADD z 1 m 2 n", "ZPOPMIN z"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the log holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
