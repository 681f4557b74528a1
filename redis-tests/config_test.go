package redistests

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// Numeric directives take Redis 7.0's bounds (those of the C type behind
// each), its strict integer syntax (no "+", no leading zeros, no "-0"),
// memory values compared as unsigned where Redis keeps them unsigned, and
// hz capped to 1..500 after it is accepted.
func TestConfigSetNumericBoundsAndSyntaxAsRedis70(t *testing.T) {
	c := redisClientAt(t, startServer(t).Addr())
	between := func(name, lo, hi string) string {
		return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - argument must be between " + lo + " and " + hi + " inclusive"
	}
	notInt := func(name string) string {
		return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - argument couldn't be parsed into an integer"
	}
	for _, tc := range []struct {
		name, value string
		get         string // the value CONFIG GET prints after it, or
		err         string // the error
	}{
		{"hz", "-1", "", between("hz", "0", "2147483647")},
		{"hz", "0", "1", ""},
		{"hz", "501", "500", ""},
		{"hz", "2147483647", "500", ""},
		{"hz", "2147483648", "", between("hz", "0", "2147483647")},
		{"hz", "+5", "", notInt("hz")},
		{"hz", "007", "", notInt("hz")},
		{"hz", "-0", "", notInt("hz")},
		{"hz", "1k", "", notInt("hz")},
		{"hz", "10", "10", ""},
		{"maxclients", "0", "", between("maxclients", "1", "4294967295")},
		{"maxclients", "-1", "", between("maxclients", "1", "4294967295")},
		{"maxclients", "4294967296", "", between("maxclients", "1", "4294967295")},
		{"maxclients", "10000", "10000", ""},
		{"lfu-log-factor", "2147483647", "2147483647", ""},
		{"lfu-log-factor", "2147483648", "", between("lfu-log-factor", "0", "2147483647")},
		{"lfu-log-factor", "10", "10", ""},
		{"lfu-decay-time", "-1", "", between("lfu-decay-time", "0", "2147483647")},
		{"lfu-decay-time", "2147483648", "", between("lfu-decay-time", "0", "2147483647")},
		{"slowlog-max-len", "-1", "", between("slowlog-max-len", "0", "9223372036854775807")},
		{"slowlog-max-len", "9223372036854775807", "9223372036854775807", ""},
		{"slowlog-max-len", "9223372036854775808", "", notInt("slowlog-max-len")},
		{"slowlog-max-len", "128", "128", ""},
		{"tcp-keepalive", "2147483648", "", between("tcp-keepalive", "0", "2147483647")},
		{"maxmemory-samples", "0", "", between("maxmemory-samples", "1", "2147483647")},
		{"maxmemory-samples", "65", "65", ""},
		{"maxmemory-samples", "5", "5", ""},
		{"busy-reply-threshold", "-1", "", between("busy-reply-threshold", "0", "9223372036854775807")},
		{"latency-monitor-threshold", "9223372036854775807", "9223372036854775807", ""},
		{"latency-monitor-threshold", "0", "0", ""},
		{"slowlog-log-slower-than", "-2", "", between("slowlog-log-slower-than", "-1", "9223372036854775807")},
		{"tracking-table-max-keys", "-1", "", between("tracking-table-max-keys", "0", "9223372036854775807")},
		{"client-query-buffer-limit", "1048575", "", between("client-query-buffer-limit", "1048576", "9223372036854775807")},
		{"client-query-buffer-limit", "9223372036854775808", "", between("client-query-buffer-limit", "1048576", "9223372036854775807")},
		{"client-query-buffer-limit", "1gb", "1073741824", ""},
		{"proto-max-bulk-len", "9223372036854775808", "", between("proto-max-bulk-len", "1048576", "9223372036854775807")},
		{"repl-backlog-size", "1", "16384", ""},
		{"repl-backlog-size", "1mb", "1048576", ""},
		{"maxmemory", "18446744073709551615", "18446744073709551615", ""},
		{"maxmemory", "0", "0", ""},
		{"maxmemory-clients", "9223372036854775808", "", "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"},
		{"maxmemory-clients", "0", "0", ""},
		{"loglevel", "nothing", "", "ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning"},
		{"loglevel", "WARNING", "warning", ""},
		{"loglevel", "notice", "notice", ""},
	} {
		if tc.err != "" {
			wantErr(t, c, tc.err, "CONFIG", "SET", tc.name, tc.value)
			continue
		}
		want(t, c, "OK", "CONFIG", "SET", tc.name, tc.value)
		want(t, c, []any{tc.name, tc.get}, "CONFIG", "GET", tc.name)
	}
	// A maxclients the open files limit cannot fit is refused with the
	// number that fits (Redis's adjustOpenFilesLimit); UINT_MAX itself
	// passes, as Redis's unsigned sum wraps.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 1<<30 {
		// Just over the hard limit: Redis tries limits 16 apart down to it.
		if err := c.Do(ctx, "CONFIG", "SET", "maxclients", lim.Max+100).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with ") {
			t.Errorf("CONFIG SET maxclients %d (hard limit %d): %v", lim.Max+100, lim.Max, err)
		}
	}
	want(t, c, "OK", "CONFIG", "SET", "maxclients", "4294967295")
	want(t, c, []any{"maxclients", "4294967295"}, "CONFIG", "GET", "maxclients")
}

// dir and dbfilename are protected configs: CONFIG SET refuses them unless
// the server started with enable-protected-configs yes (or local, for a
// loopback client); a missing directory then fails as chdir does.
func TestConfigSetProtectedConfigs(t *testing.T) {
	c := redisClientAt(t, startServer(t).Addr())
	want(t, c, []any{"enable-protected-configs", "no"}, "CONFIG", "GET", "enable-protected-configs")
	want(t, c, []any{"enable-module-command", "no"}, "CONFIG", "GET", "enable-module-command")
	for _, name := range []string{"dir", "dbfilename"} {
		wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - can't set protected config", "CONFIG", "SET", name, "x")
	}
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config", "CONFIG", "SET", "maxmemory", "0", "dir", "/tmp")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'enable-protected-configs') - can't set immutable config", "CONFIG", "SET", "enable-protected-configs", "yes")

	for _, mode := range []string{"yes", "local"} {
		s := startServer(t, "--enable-protected-configs", mode)
		c := redisClientAt(t, s.Addr())
		missing := filepath.Join(s.Dir, "no-such-dir")
		wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory", "CONFIG", "SET", "dir", missing)
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("CONFIG SET dir created %s", missing)
		}
		file := filepath.Join(s.Dir, "a-file")
		os.WriteFile(file, nil, 0o644)
		wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'dir') - Not a directory", "CONFIG", "SET", "dir", file)
		sub := filepath.Join(s.Dir, "sub")
		os.Mkdir(sub, 0o755)
		want(t, c, "OK", "CONFIG", "SET", "dir", sub, "dbfilename", "other.rdb")
		want(t, c, []any{"dir", sub}, "CONFIG", "GET", "dir")
		want(t, c, []any{"dbfilename", "other.rdb"}, "CONFIG", "GET", "dbfilename")
	}
}
