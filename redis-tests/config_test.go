package redistests

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CONFIG SET with several pairs, where a later value does not parse: the
// reply names the first bad one and no value changes (Redis's "CONFIG SET
// rollback on set error").
func TestConfigSetRollsBackEveryPairOnASetError(t *testing.T) {
	c := client(t)
	defer do(t, c, "CONFIG", "SET", "maxmemory", 0)
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", 10000002)
	mmc := do(t, c, "CONFIG", "GET", "maxmemory-clients")
	qbl := do(t, c, "CONFIG", "GET", "client-query-buffer-limit")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100",
		"CONFIG", "SET", "maxmemory", 10000001, "maxmemory-clients", "200%", "client-query-buffer-limit", "invalid")
	want(t, c, []any{"maxmemory", "10000002"}, "CONFIG", "GET", "maxmemory")
	want(t, c, mmc, "CONFIG", "GET", "maxmemory-clients")
	want(t, c, qbl, "CONFIG", "GET", "client-query-buffer-limit")

	want(t, c, "OK", "CONFIG", "SET", "maxmemory-clients", "10%")
	want(t, c, []any{"maxmemory-clients", "10%"}, "CONFIG", "GET", "maxmemory-clients")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory-clients", 0)
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value",
		"CONFIG", "SET", "maxmemory-clients", "-5")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'DAEMONIZE') - can't set immutable config",
		"CONFIG", "SET", "maxmemory", 1, "DAEMONIZE", "no")
	want(t, c, []any{"maxmemory", "10000002"}, "CONFIG", "GET", "maxmemory")
}

// CONFIG SET port rebinds the listener at run time. A port in use fails the
// whole command after the other values were set, and every one goes back
// (Redis's "CONFIG SET rollback on apply error"); a free port moves the
// listener and connected clients stay connected.
func TestConfigSetPortRebindsOrRollsBack(t *testing.T) {
	s := startServer(t)
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	cn := conn(t, c)

	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = cn.Do(ctx, "CONFIG", "SET", "maxmemory", 10000001, "port", busy.Addr().(*net.TCPAddr).Port, "client-query-buffer-limit", "10m").Err()
	if w := "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."; err == nil || err.Error() != w {
		t.Fatalf("CONFIG SET port <in use>: %v, want %q", err, w)
	}
	want(t, cn, []any{"maxmemory", "0"}, "CONFIG", "GET", "maxmemory")
	want(t, cn, []any{"port", fmt.Sprint(s.Port)}, "CONFIG", "GET", "port")
	want(t, cn, []any{"client-query-buffer-limit", "1073741824"}, "CONFIG", "GET", "client-query-buffer-limit")
	if !s.ping() {
		t.Fatal("the server stopped listening on its port")
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	want(t, cn, "OK", "CONFIG", "SET", "port", port)
	want(t, cn, "PONG", "PING") // the connection made through the old port
	moved := &Server{Port: port}
	if !moved.ping() {
		t.Error("nothing answers on the new port")
	}
	if d, err := net.DialTimeout("tcp4", s.Addr(), time.Second); err == nil {
		d.Close()
		t.Error("the old port still accepts connections")
	}
	want(t, cn, "OK", "CONFIG", "SET", "port", s.Port)
	if !s.ping() {
		t.Error("nothing answers on the old port again")
	}
}

// Every value CONFIG GET * prints, CONFIG SET takes back, and the value
// stays the same (Redis's "CONFIG sanity", with its list of configs that
// are immutable or would disturb the server). A hidden config is left out
// of patterns but found by its exact name.
func TestConfigGetValuesSetBackUnchanged(t *testing.T) {
	s := startServer(t)
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	skip := []string{"rdbchecksum", "daemonize", "io-threads-do-reads", "tcp-backlog", "always-show-logo",
		"syslog-enabled", "cluster-enabled", "disable-thp", "aclfile", "unixsocket", "pidfile", "syslog-ident",
		"appendfilename", "appenddirname", "supervised", "syslog-facility", "databases", "io-threads", "logfile",
		"unixsocketperm", "replicaof", "slaveof", "requirepass", "server_cpulist", "bio_cpulist",
		"aof_rewrite_cpulist", "bgsave_cpulist", "set-proc-title", "cluster-config-file", "cluster-port",
		"oom-score-adj", "oom-score-adj-values", "enable-protected-configs", "enable-debug-command",
		"enable-module-command", "dbfilename", "dir", "socket-mark-id", "tls-port", "tls-prefer-server-ciphers",
		"tls-session-cache-timeout", "tls-session-cache-size", "tls-session-caching", "tls-cert-file",
		"tls-key-file", "tls-client-cert-file", "tls-client-key-file", "tls-dh-params-file", "tls-ca-cert-file",
		"tls-ca-cert-dir", "tls-protocols", "tls-ciphers", "tls-ciphersuites"}
	all := func() map[string]string {
		v := do(t, c, "CONFIG", "GET", "*").([]any)
		m := map[string]string{}
		for i := 0; i+1 < len(v); i += 2 {
			m[v[i].(string)] = v[i+1].(string)
		}
		return m
	}
	before := all()
	for k, v := range before {
		if !slices.Contains(skip, k) {
			if err := c.Do(ctx, "CONFIG", "SET", k, v).Err(); err != nil {
				t.Errorf("CONFIG SET %s %q: %v", k, v, err)
			}
		}
	}
	after := all()
	for k, v := range before {
		if !slices.Contains(skip, k) && after[k] != v {
			t.Errorf("%s: %q after CONFIG SET of %q", k, after[k], v)
		}
	}

	if _, ok := before["key-load-delay"]; ok {
		t.Error("CONFIG GET * lists the hidden key-load-delay")
	}
	want(t, c, []any{"key-load-delay", "0"}, "CONFIG", "GET", "key-load-delay")
	want(t, c, []any{}, "CONFIG", "GET", "key-load-*")
	want(t, c, []any{"MAXMEMORY", "0"}, "CONFIG", "GET", "MAXMEMORY")
	want(t, c, []any{"client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
		"CONFIG", "GET", "client-output-buffer-limit")
	if before["lua-time-limit"] != before["busy-reply-threshold"] {
		t.Errorf("lua-time-limit %q, busy-reply-threshold %q: want one value (an alias)", before["lua-time-limit"], before["busy-reply-threshold"])
	}
}
