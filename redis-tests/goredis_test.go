package redistests

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisTypedApiOverResp2AndResp3 goes through go-redis's typed
// commands, which parse replies into Go types and fail on an unexpected
// RESP type or layout, once per protocol version.
func TestGoRedisTypedApiOverResp2AndResp3(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			c := clientProto(t, proto)
			check := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
			check("Set", c.Set(ctx, "s", "v", time.Minute).Err())
			if v, err := c.Get(ctx, "s").Result(); err != nil || v != "v" {
				t.Errorf("Get = %q, %v", v, err)
			}
			if _, err := c.Get(ctx, "nosuch").Result(); err != redis.Nil {
				t.Errorf("Get nosuch: %v, want redis.Nil", err)
			}
			if v, err := c.MGet(ctx, "s", "nosuch").Result(); err != nil || len(v) != 2 || v[0] != "v" || v[1] != nil {
				t.Errorf("MGet = %v, %v", v, err)
			}
			if v, err := c.TTL(ctx, "s").Result(); err != nil || v <= 0 || v > time.Minute {
				t.Errorf("TTL = %v, %v", v, err)
			}
			if v, err := c.IncrByFloat(ctx, "f", 1.5).Result(); err != nil || v != 1.5 {
				t.Errorf("IncrByFloat = %v, %v", v, err)
			}
			if ok, err := c.SetNX(ctx, "s", "x", 0).Result(); err != nil || ok {
				t.Errorf("SetNX = %v, %v", ok, err)
			}
			if v, err := c.SetArgs(ctx, "s", "w", redis.SetArgs{Get: true, KeepTTL: true}).Result(); err != nil || v != "v" {
				t.Errorf("SET GET KEEPTTL = %q, %v", v, err)
			}
			if v, err := c.ExpireNX(ctx, "s", time.Hour).Result(); err != nil || v {
				t.Errorf("ExpireNX = %v, %v", v, err)
			}
			if v, err := c.Exists(ctx, "s", "f", "nosuch").Result(); err != nil || v != 2 {
				t.Errorf("Exists = %v, %v", v, err)
			}
			if v, err := c.Type(ctx, "s").Result(); err != nil || v != "string" {
				t.Errorf("Type = %v, %v", v, err)
			}
			var keys []string
			it := c.Scan(ctx, 0, "*", 10).Iterator()
			for it.Next(ctx) {
				keys = append(keys, it.Val())
			}
			check("Scan", it.Err())
			if len(keys) != 2 {
				t.Errorf("Scan found %v", keys)
			}
			if v, err := c.ConfigGet(ctx, "maxmemory*").Result(); err != nil || v["maxmemory"] != "0" || v["maxmemory-policy"] != "noeviction" {
				t.Errorf("ConfigGet = %v, %v", v, err)
			}
			if v, err := c.Info(ctx, "server").Result(); err != nil || len(v) < 100 {
				t.Errorf("Info = %q, %v", v, err)
			}
			if v, err := c.ClientInfo(ctx).Result(); err != nil || v.ID == 0 || v.Resp != proto {
				t.Errorf("ClientInfo = %+v, %v", v, err)
			}
			if v, err := c.ClientList(ctx).Result(); err != nil || v == "" {
				t.Errorf("ClientList = %q, %v", v, err)
			}
			if v, err := c.Time(ctx).Result(); err != nil || time.Since(v).Abs() > 5*time.Second {
				t.Errorf("Time = %v, %v", v, err)
			}
			if v, err := c.DBSize(ctx).Result(); err != nil || v != 2 {
				t.Errorf("DBSize = %v, %v", v, err)
			}
			if v, err := c.ObjectEncoding(ctx, "s").Result(); err != nil || v != "embstr" {
				t.Errorf("ObjectEncoding = %v, %v", v, err)
			}
			if v, err := c.MemoryUsage(ctx, "s").Result(); err != nil || v <= 0 {
				t.Errorf("MemoryUsage = %v, %v", v, err)
			}
			if v, err := c.PubSubNumSub(ctx, "a", "b").Result(); err != nil || len(v) != 2 || v["a"] != 0 {
				t.Errorf("PubSubNumSub = %v, %v", v, err)
			}
			if v, err := c.SlowLogGet(ctx, 1).Result(); err != nil || len(v) > 1 {
				t.Errorf("SlowLogGet = %v, %v", v, err)
			}
			if v, err := c.Command(ctx).Result(); err != nil || v["get"] == nil || v["get"].Arity != 2 || !v["get"].ReadOnly {
				t.Errorf("Command: %v, get = %+v", err, v["get"])
			}
			if v, err := c.CommandGetKeys(ctx, "MSET", "a", "1", "b", "2").Result(); err != nil || fmt.Sprint(v) != "[a b]" {
				t.Errorf("CommandGetKeys = %v, %v", v, err)
			}
			if v, err := c.Do(ctx, "HELLO").Result(); err != nil || v == nil {
				t.Errorf("HELLO = %v, %v", v, err)
			}
		})
	}
}
