package redistests

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// info parses an INFO reply into section -> field -> value.
func info(t *testing.T, c doer, args ...any) map[string]map[string]string {
	t.Helper()
	text := do(t, c, append([]any{"INFO"}, args...)...).(string)
	out := map[string]map[string]string{}
	var cur map[string]string
	for _, l := range strings.Split(text, "\r\n") {
		switch {
		case strings.HasPrefix(l, "# "):
			cur = map[string]string{}
			out[strings.ToLower(l[2:])] = cur
		case l == "":
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok || cur == nil {
				t.Errorf("INFO line %q is not field:value in a section", l)
				continue
			}
			cur[k] = v
		}
	}
	return out
}

func TestInfoHasRedisSectionsAndFieldNames(t *testing.T) {
	c := client(t)
	do(t, c, "CONFIG", "RESETSTAT")
	do(t, c, "SET", "k", "v", "EX", 100)
	do(t, c, "GET", "k")
	all := info(t, c, "everything")
	fields := map[string][]string{
		"server":       {"redis_version", "redis_mode", "os", "arch_bits", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "uptime_in_days", "hz", "configured_hz", "executable", "config_file"},
		"clients":      {"connected_clients", "blocked_clients", "maxclients", "tracking_clients"},
		"memory":       {"used_memory", "used_memory_human", "used_memory_rss", "used_memory_peak", "used_memory_peak_human", "maxmemory", "maxmemory_human", "maxmemory_policy", "mem_fragmentation_ratio"},
		"persistence":  {"loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time", "rdb_last_bgsave_status", "aof_enabled"},
		"stats":        {"total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec", "total_net_input_bytes", "total_net_output_bytes", "rejected_connections", "expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses", "pubsub_channels", "pubsub_patterns", "total_error_replies"},
		"replication":  {"role", "connected_slaves"},
		"cpu":          {"used_cpu_sys", "used_cpu_user"},
		"commandstats": {"cmdstat_set", "cmdstat_get"},
		"keyspace":     {"db0"},
	}
	for sec, fs := range fields {
		s, ok := all[sec]
		if !ok {
			t.Errorf("INFO everything has no # %s section", sec)
			continue
		}
		for _, f := range fs {
			if _, ok := s[f]; !ok {
				t.Errorf("INFO %s has no %s", sec, f)
			}
		}
	}
	if v := all["server"]["redis_mode"]; v != "standalone" {
		t.Errorf("redis_mode = %q", v)
	}
	if v := all["keyspace"]["db0"]; !regexp.MustCompile(`^keys=1,expires=1,avg_ttl=\d+$`).MatchString(v) {
		t.Errorf("db0 = %q", v)
	}
	if v := all["commandstats"]["cmdstat_set"]; !regexp.MustCompile(`^calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0$`).MatchString(v) {
		t.Errorf("cmdstat_set = %q", v)
	}
	if v := all["server"]["tcp_port"]; v != strconv.Itoa(shared.Port) {
		t.Errorf("tcp_port = %q, want %d", v, shared.Port)
	}
}

func TestInfoSectionSelection(t *testing.T) {
	c := client(t)
	def := info(t, c)
	if _, ok := def["commandstats"]; ok {
		t.Errorf("plain INFO includes commandstats")
	}
	for _, s := range []string{"server", "clients", "memory", "persistence", "stats", "keyspace"} {
		if _, ok := def[s]; !ok {
			t.Errorf("plain INFO lacks %s", s)
		}
	}
	one := info(t, c, "clients")
	if len(one) != 1 || one["clients"] == nil {
		t.Errorf("INFO clients has sections %v", one)
	}
	two := info(t, c, "server", "stats")
	if len(two) != 2 {
		t.Errorf("INFO server stats has %d sections", len(two))
	}
	want(t, c, "", "INFO", "nosuchsection")
}

func TestKeyspaceHitsMissesAndResetstat(t *testing.T) {
	c := client(t)
	want(t, c, "OK", "CONFIG", "RESETSTAT")
	do(t, c, "SET", "k", "v")
	do(t, c, "GET", "k")
	do(t, c, "GET", "k")
	do(t, c, "GET", "nosuch")
	wantErr(t, c, "ERR value is not an integer or out of range", "INCR", "k")
	s := info(t, c, "stats")["stats"]
	if s["keyspace_hits"] != "2" || s["keyspace_misses"] != "1" {
		t.Errorf("hits/misses = %s/%s, want 2/1", s["keyspace_hits"], s["keyspace_misses"])
	}
	if s["total_error_replies"] != "1" {
		t.Errorf("total_error_replies = %s", s["total_error_replies"])
	}
	e := info(t, c, "errorstats")["errorstats"]
	if e["errorstat_ERR"] != "count=1" {
		t.Errorf("errorstats = %v", e)
	}
	do(t, c, "CONFIG", "RESETSTAT")
	s = info(t, c, "stats")["stats"]
	if s["keyspace_hits"] != "0" || s["total_error_replies"] != "0" {
		t.Errorf("after RESETSTAT: %v", s)
	}
}

func TestConfigGetAndSet(t *testing.T) {
	c := client(t)
	want(t, c, []any{"maxmemory", "0"}, "CONFIG", "GET", "maxmemory")
	want(t, c, []any{}, "CONFIG", "GET", "nosuchparam")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "100mb")
	want(t, c, []any{"maxmemory", "104857600"}, "CONFIG", "GET", "maxmemory")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", 0)
	v := do(t, c, "CONFIG", "GET", "maxmemory*").([]any)
	names := map[string]bool{}
	for i := 0; i < len(v); i += 2 {
		names[v[i].(string)] = true
	}
	for _, n := range []string{"maxmemory", "maxmemory-policy", "maxmemory-samples"} {
		if !names[n] {
			t.Errorf("CONFIG GET maxmemory* lacks %s: %v", n, v)
		}
	}
	v = do(t, c, "CONFIG", "GET", "port", "databases").([]any)
	if len(v) != 4 {
		t.Errorf("CONFIG GET port databases = %v", v)
	}
	want(t, c, []any{"databases", "16"}, "CONFIG", "GET", "databases")
	wantErr(t, c, "ERR Unknown option or number of arguments for CONFIG SET - 'bogus'", "CONFIG", "SET", "bogus", "1")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value", "CONFIG", "SET", "maxmemory", "lots")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction", "CONFIG", "SET", "maxmemory-policy", "bogus")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config", "CONFIG", "SET", "databases", "4")
	wantErr(t, c, "ERR wrong number of arguments for 'config|set' command", "CONFIG", "SET", "maxmemory")
	wantErr(t, c, "ERR unknown subcommand 'bogus'. Try CONFIG HELP.", "CONFIG", "bogus")
}

func TestTimeIsNowInSecondsAndMicroseconds(t *testing.T) {
	c := client(t)
	v := do(t, c, "TIME").([]any)
	if len(v) != 2 {
		t.Fatalf("TIME = %v", v)
	}
	sec, _ := strconv.ParseInt(v[0].(string), 10, 64)
	usec, _ := strconv.ParseInt(v[1].(string), 10, 64)
	if d := time.Now().Unix() - sec; d < -2 || d > 2 || usec < 0 || usec >= 1e6 {
		t.Errorf("TIME = %v", v)
	}
}

func TestCommandCountListAndDocs(t *testing.T) {
	c := client(t)
	n := do(t, c, "COMMAND", "COUNT").(int64)
	list := do(t, c, "COMMAND", "LIST").([]any)
	if int64(len(list)) < n || n < 30 { // LIST names subcommands too ("config|get")
		t.Errorf("COMMAND COUNT %d, COMMAND LIST has %d", n, len(list))
	}
	all := do(t, c, "COMMAND").([]any)
	if int64(len(all)) != n {
		t.Errorf("COMMAND has %d entries, COUNT says %d", len(all), n)
	}
	docs := do(t, c, "COMMAND", "DOCS", "get").([]any)
	if len(docs) != 2 || docs[0] != "get" {
		t.Fatalf("COMMAND DOCS get = %v", docs)
	}
	fields := map[string]any{}
	d := docs[1].([]any)
	for i := 0; i+1 < len(d); i += 2 {
		fields[d[i].(string)] = d[i+1]
	}
	for _, f := range []string{"summary", "since", "group", "complexity", "arguments"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("COMMAND DOCS get lacks %s", f)
		}
	}
	if fields["group"] != "string" {
		t.Errorf("COMMAND DOCS get group = %v", fields["group"])
	}
	want(t, c, []any{}, "COMMAND", "DOCS", "nosuch")
	want(t, c, []any{nil}, "COMMAND", "INFO", "nosuch")
	if v := do(t, c, "COMMAND", "LIST", "FILTERBY", "PATTERN", "get*").([]any); len(v) < 4 {
		t.Errorf("COMMAND LIST FILTERBY PATTERN get* = %v", v)
	}
}

func TestCommandGetkeys(t *testing.T) {
	c := client(t)
	want(t, c, []any{"a"}, "COMMAND", "GETKEYS", "SET", "a", "b")
	want(t, c, []any{"a", "c"}, "COMMAND", "GETKEYS", "MSET", "a", "b", "c", "d")
	want(t, c, []any{"a", "b"}, "COMMAND", "GETKEYS", "COPY", "a", "b", "DB", 1)
	wantErr(t, c, "ERR The command has no key arguments", "COMMAND", "GETKEYS", "PING", "x")
	wantErr(t, c, "ERR wrong number of arguments for 'command|getkeys' command", "COMMAND", "GETKEYS", "PING")
	wantErr(t, c, "ERR Invalid number of arguments specified for command", "COMMAND", "GETKEYS", "SET", "a")
	wantErr(t, c, "ERR Invalid command specified", "COMMAND", "GETKEYS", "NOSUCH", "a")
}

func TestSlowlogRecordsSlowCommands(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "CLIENT", "SETNAME", "slowpoke")
	do(t, cn, "CONFIG", "SET", "slowlog-log-slower-than", 0)
	defer do(t, c, "CONFIG", "SET", "slowlog-log-slower-than", 10000)
	want(t, cn, "OK", "SLOWLOG", "RESET")
	do(t, cn, "SET", "k", "v")
	if n := do(t, cn, "SLOWLOG", "LEN").(int64); n < 1 {
		t.Fatalf("SLOWLOG LEN = %d", n)
	}
	e := do(t, cn, "SLOWLOG", "GET", 1).([]any)
	if len(e) != 1 {
		t.Fatalf("SLOWLOG GET 1 = %v", e)
	}
	entry := e[0].([]any)
	if len(entry) != 6 || fmt.Sprint(entry[3]) != "[SLOWLOG LEN]" || entry[5] != "slowpoke" ||
		!strings.HasPrefix(entry[4].(string), "127.0.0.1:") {
		t.Errorf("SLOWLOG entry = %v", entry)
	}
	do(t, cn, "CONFIG", "SET", "slowlog-log-slower-than", -1)
	do(t, cn, "SLOWLOG", "RESET")
	do(t, cn, "SET", "k", "v")
	want(t, cn, int64(0), "SLOWLOG", "LEN")
	wantErr(t, cn, "ERR unknown subcommand 'bogus'. Try SLOWLOG HELP.", "SLOWLOG", "bogus")
}

func TestSlowlogTruncatesLongArguments(t *testing.T) {
	c := client(t)
	do(t, c, "CONFIG", "SET", "slowlog-log-slower-than", 0)
	defer do(t, c, "CONFIG", "SET", "slowlog-log-slower-than", 10000)
	do(t, c, "SLOWLOG", "RESET")
	args := []any{"DEL"}
	for i := 0; i < 40; i++ {
		args = append(args, "k")
	}
	do(t, c, args...)
	do(t, c, "SET", "k", strings.Repeat("x", 200))
	e := do(t, c, "SLOWLOG", "GET").([]any)
	set := e[0].([]any)[3].([]any)
	if set[2] != strings.Repeat("x", 128)+"... (72 more bytes)" {
		t.Errorf("long argument logged as %q", set[2])
	}
	del := e[1].([]any)[3].([]any)
	if len(del) != 32 || del[31] != "... (10 more arguments)" {
		t.Errorf("DEL with 41 args logged as %d args ending %q", len(del), del[len(del)-1])
	}
}

func TestLatencyAndDebugSleep(t *testing.T) {
	c := client(t)
	want(t, c, []any{}, "LATENCY", "LATEST")
	want(t, c, int64(0), "LATENCY", "RESET")
	if h := do(t, c, "LATENCY", "HELP").([]any); len(h) < 4 {
		t.Errorf("LATENCY HELP = %v", h)
	}
	wantErr(t, c, "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.", "DEBUG", "SLEEP", 0)
	// The refusal comes before MULTI queues the command, so EXEC aborts.
	cn := conn(t, c)
	want(t, cn, "OK", "MULTI")
	wantErrPrefix(t, cn, "ERR DEBUG command not allowed.", "DEBUG", "SLEEP", 0)
	wantErr(t, cn, "EXECABORT Transaction discarded because of previous errors.", "EXEC")
	c = redisClientAt(t, startServer(t, "--enable-debug-command", "local").Addr())
	want(t, c, "OK", "DEBUG", "SLEEP", 0)
	start := time.Now()
	want(t, c, "OK", "DEBUG", "SLEEP", "0.2")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("DEBUG SLEEP 0.2 took %v", d)
	}
}

func TestMonitorStreamsEveryCommand(t *testing.T) {
	c := client(t)
	m := dialRaw(t, shared.Addr())
	m.send("MONITOR\r\n")
	m.expect("+OK")
	cn := conn(t, c)
	do(t, cn, "SELECT", 3)
	do(t, cn, "SET", "foo", "bar baz")
	re := regexp.MustCompile(`^\+\d+\.\d{6} \[(\d+) 127\.0\.0\.1:\d+\] (.*)$`)
	seen := ""
	for i := 0; i < 4 && !strings.Contains(seen, `"SET"`); i++ {
		l := m.line()
		g := re.FindStringSubmatch(l)
		if g == nil {
			t.Fatalf("MONITOR line %q", l)
		}
		seen = g[1] + " " + g[2]
	}
	if seen != `3 "SET" "foo" "bar baz"` {
		t.Errorf("MONITOR saw %q", seen)
	}
}

// MONITOR never shows a password: AUTH's arguments and HELLO's AUTH pair
// read "(redacted)", whether the password was right or not, as Redis 7.0
// shows them (the lines below are redis-server 7.0.15's).
func TestMonitorRedactsPasswords(t *testing.T) {
	s := startServer(t, "--requirepass", "pw")
	m := dialRaw(t, s.Addr())
	m.send("AUTH pw\r\nMONITOR\r\n")
	m.expect("+OK")
	m.expect("+OK")
	c := dialRaw(t, s.Addr())
	sent := []string{"AUTH pw", "AUTH default pw", "AUTH wrong", "HELLO 2 AUTH default pw SETNAME x",
		"HELLO 3 AUTH default wrong", "HELLO 2 SETNAME y AUTH default pw", "PING"}
	for _, cmd := range sent {
		c.send(cmd + "\r\n")
		c.value()
	}
	wantLines := []string{`"AUTH" "(redacted)"`, `"AUTH" "(redacted)" "(redacted)"`, `"AUTH" "(redacted)"`,
		`"HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "x"`, `"HELLO" "3" "AUTH" "(redacted)" "(redacted)"`,
		`"HELLO" "2" "SETNAME" "y" "AUTH" "(redacted)" "(redacted)"`, `"PING"`}
	re := regexp.MustCompile(`^\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] (.*)$`)
	for i, w := range wantLines {
		l := m.line()
		g := re.FindStringSubmatch(l)
		if g == nil || g[1] != w {
			t.Errorf("MONITOR line for %q: %q, want %s", sent[i], l, w)
		}
	}
}

func TestHelpSubcommandsReplyWellFormedArrays(t *testing.T) {
	client(t)
	for _, cmd := range []string{"CLIENT", "OBJECT", "CONFIG", "COMMAND", "SLOWLOG", "LATENCY", "PUBSUB", "MEMORY"} {
		r := dialRaw(t, shared.Addr())
		r.send(cmd + " HELP\r\nPING\r\n")
		v, ok := r.value().([]any)
		if !ok || len(v) < 3 {
			t.Errorf("%s HELP = %v", cmd, v)
		}
		for _, l := range v {
			if _, ok := l.(string); !ok {
				t.Errorf("%s HELP line %#v is not a string", cmd, l)
			}
		}
		if got := r.value(); got != "PONG" {
			t.Errorf("after %s HELP, PING read %#v: the HELP array has more lines than its count", cmd, got)
		}
	}
}

func TestMaxmemoryRejectsDenyoomCommandsWhenFull(t *testing.T) {
	c := redisClientAt(t, startServer(t).Addr())
	cn := conn(t, c)
	do(t, c, "SET", "k", "v")
	do(t, cn, "MULTI")
	do(t, cn, "GET", "k")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", 1)
	want(t, cn, []any{"v"}, "EXEC") // queued reads run even when full
	const oom = "OOM command not allowed when used memory > 'maxmemory'."
	wantErr(t, c, oom, "SET", "x", "y")
	wantErr(t, c, oom, "APPEND", "k", "more")
	want(t, c, "v", "GET", "k")
	want(t, c, int64(1), "EXISTS", "k")
	// Queuing itself uses memory: inside MULTI every command is refused.
	do(t, cn, "MULTI")
	wantErr(t, cn, oom, "SET", "x", "y")
	wantErr(t, cn, oom, "GET", "k")
	want(t, cn, "OK", "DISCARD")
	want(t, c, int64(1), "DEL", "k")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", 0)
	want(t, c, "OK", "SET", "x", "y")
}

func TestConfigSetSeveralParametersIsAllOrNothing(t *testing.T) {
	c := client(t)
	defer do(t, c, "CONFIG", "SET", "maxmemory", 0, "maxmemory-policy", "noeviction")
	want(t, c, "OK", "CONFIG", "SET", "maxmemory", "10mb", "maxmemory-policy", "allkeys-lru")
	want(t, c, []any{"maxmemory", "10485760"}, "CONFIG", "GET", "maxmemory")
	want(t, c, []any{"maxmemory-policy", "allkeys-lru"}, "CONFIG", "GET", "maxmemory-policy")
	wantErrPrefix(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')", "CONFIG", "SET", "maxmemory", "20mb", "maxmemory-policy", "bogus")
	want(t, c, []any{"maxmemory", "10485760"}, "CONFIG", "GET", "maxmemory")
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter", "CONFIG", "SET", "maxmemory", "1mb", "maxmemory", "2mb")
	wantErr(t, c, "ERR syntax error", "CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy")
}
