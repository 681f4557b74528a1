package server

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

// Config holds every directive's current value as the server uses it. The
// table below (directives) is the single description of each directive: its
// name, default, how it parses and whether CONFIG SET may change it.
type Config struct {
	values   map[string]string // canonical text of each directive, as CONFIG GET prints it
	file     string            // the config file given at start-up, for CONFIG REWRITE
	seenSave bool              // a save line was read: later ones add to it

	// Parsed copies of the values the hot paths read.
	Port int
	Bind []string
	// HTTPPort is the HTTP front end's port (package httpapi), on bind's
	// addresses; 0 (the default) serves no HTTP.
	HTTPPort                int
	ProtectedMode           bool
	RequirePass             string
	Dir                     string
	DBFilename              string
	Databases               int
	MaxClients              int
	Timeout                 int64 // seconds; 0 = never
	ProtoMaxBulkLen         int64
	ClientQueryBufferLimit  int64
	Hz                      int
	SlowlogSlowerThan       int64 // microseconds
	LatencyMonitorThreshold int64 // milliseconds; 0: the latency monitor is off
	LatencyTracking         bool  // per-command latency histograms (LATENCY HISTOGRAM)
	SlowlogMaxLen           int
	MaxMemory               int64
	MaxMemoryPolicy         string
	LFUPolicy               bool // maxmemory-policy is an LFU one: OBJECT FREQ is tracked
	LFULogFactor            int
	LFUDecayTime            int
	NotifyFlags             int                           // notify-keyspace-events classes (notify.go)
	OutputLimits            [numClientClasses]OutputLimit // client-output-buffer-limit, by ClientClass
	// Compact encodings: a value stays in its small form (listpack,
	// intset) while within these, as in Redis.
	HashMaxListpackEntries int64
	HashMaxListpackValue   int64
	SetMaxIntsetEntries    int64
	ZSetMaxListpackEntries int64
	ZSetMaxListpackValue   int64
	// A stream node (Redis's listpack) takes entries up to these; 0 is no
	// limit (stream.go).
	StreamNodeMaxBytes   int64
	StreamNodeMaxEntries int64
}

// ClientClass is a class of client-output-buffer-limit, Redis's
// CLIENT_TYPE_*: a MONITOR client is a normal one, a client with any
// subscription a pub/sub one. No client is a replica (reddwarf does not
// replicate): the class is kept so configurations written for Redis load.
type ClientClass int

const (
	ClassNormal ClientClass = iota
	ClassReplica
	ClassPubsub
	numClientClasses
)

// OutputLimit is one class's client-output-buffer-limit: a client whose
// pending output reaches Hard bytes is closed at once; one that stays at
// or over Soft bytes for more than SoftSeconds is closed too. 0 disables
// a limit.
type OutputLimit struct {
	Hard, Soft, SoftSeconds int64
}

type directiveKind int

const (
	kindString directiveKind = iota
	kindInt
	kindBool
	kindMemory        // bytes, accepts 1k 1kb 1m 1mb 1g 1gb
	kindMemoryPercent // kindMemory or "N%" (N <= -min), printed as Redis does
	kindEnum
	kindSpecial // parsed by its own setter, which stores its canonical text
)

// applyStep is work the server does after CONFIG SET changed a directive,
// Redis's apply functions: it may fail (a port already in use), and then
// the whole CONFIG SET is undone. Directives sharing a step run it once.
type applyStep int

const (
	stepNone        applyStep = iota
	stepPort                  // port: rebind the listening sockets
	stepBind                  // bind: the same, with its own error text
	stepMaxclients            // maxclients: raise the open files limit to fit
	stepReplBacklog           // repl-backlog-size: at least 16kb, as Redis resizes it
	stepAOF                   // appendonly, appendfsync, session-disk-max: persistence's ApplyConfig hooks
)

type directive struct {
	name string
	def  string
	kind directiveKind
	// immutable is Redis's IMMUTABLE_CONFIG: start-up only, CONFIG SET
	// refuses it. startupOnly marks reddwarf's own start-up directives (the
	// model's): CONFIG SET accepts only the value they already have, so a
	// client can write back everything CONFIG GET * printed (as Redis's
	// "CONFIG sanity" test does), and refuses any other as immutable.
	immutable   bool
	startupOnly bool
	// protected is Redis's PROTECTED_CONFIG: CONFIG SET refuses it unless
	// enable-protected-configs allows the client (yes, or local from
	// loopback), as it does DEBUG with enable-debug-command.
	protected bool
	hidden    bool     // Redis's HIDDEN_CONFIG: CONFIG GET finds it by exact name only
	enum      []string // for kindEnum
	// min and max bound kindInt and kindMemory values, inclusive, as Redis's
	// table has them for the C type behind the directive. unsigned marks
	// directives Redis keeps in an unsigned type (unsigned int, size_t,
	// unsigned long long): the value and both bounds are then compared as
	// uint64, so -1 is above any bound and ullongMax means ULLONG_MAX.
	min, max  int64
	unsigned  bool
	sensitive bool // not echoed in errors/logs
	set       func(c *Config, v string) error
	then      applyStep
}

// Bounds of Redis's C types, as its config table uses them.
const (
	intMax    = math.MaxInt32  // INT_MAX
	intMin    = math.MinInt32  // INT_MIN
	uintMax   = math.MaxUint32 // UINT_MAX
	longMax   = math.MaxInt64  // LONG_MAX, LLONG_MAX, SSIZE_MAX
	ullongMax = -1             // ULLONG_MAX, for unsigned directives only
)

// directives is the table of every directive reddwarf accepts, in the order
// CONFIG REWRITE writes them.
var directives = []*directive{
	{name: "port", def: "6380", kind: kindInt, min: 0, max: 65535, then: stepPort, set: func(c *Config, v string) error { c.Port = atoi(v); return nil }},
	{name: "bind", def: "127.0.0.1 -::1", kind: kindSpecial, then: stepBind, set: setBind},
	// http-port is off by default, as Redis's tls-port: an HTTP listener
	// is opened only when asked for (8080 is the usual choice, llama.cpp's).
	{name: "http-port", def: "0", kind: kindInt, startupOnly: true, min: 0, max: 65535, set: func(c *Config, v string) error { c.HTTPPort = atoi(v); return nil }},
	{name: "protected-mode", def: "yes", kind: kindBool, set: func(c *Config, v string) error { c.ProtectedMode = v == "yes"; return nil }},
	{name: "requirepass", def: "", kind: kindString, sensitive: true, set: func(c *Config, v string) error { c.RequirePass = v; return nil }},
	{name: "dir", def: ".", kind: kindSpecial, protected: true, set: setDir},
	{name: "dbfilename", def: "dump.dsv4", kind: kindString, protected: true, set: setDBFilename},
	{name: "save", def: "3600 1 300 100 60 10000", kind: kindSpecial, set: setSave},
	{name: "maxclients", def: "10000", kind: kindInt, min: 1, max: uintMax, unsigned: true, then: stepMaxclients, set: func(c *Config, v string) error { c.MaxClients = atoi(v); return nil }},
	{name: "timeout", def: "0", kind: kindInt, min: 0, max: intMax, set: func(c *Config, v string) error { c.Timeout = int64(atoi(v)); return nil }},
	{name: "databases", def: "16", kind: kindInt, immutable: true, min: 1, max: 1 << 20, set: func(c *Config, v string) error { c.Databases = atoi(v); return nil }},
	{name: "loglevel", def: "notice", kind: kindEnum, enum: []string{"debug", "verbose", "notice", "warning"}}, // "nothing" came in Redis 7.2
	{name: "logfile", def: "", kind: kindString, immutable: true},
	{name: "proto-max-bulk-len", def: "536870912", kind: kindMemory, min: 1 << 20, max: longMax, set: func(c *Config, v string) error { c.ProtoMaxBulkLen = atoi64(v); return nil }},
	{name: "client-query-buffer-limit", def: "1073741824", kind: kindMemory, min: 1 << 20, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.ClientQueryBufferLimit = atoi64(v); return nil }},
	{name: "client-output-buffer-limit", def: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", kind: kindSpecial, set: setOutputLimit},
	{name: "hz", def: "10", kind: kindInt, min: 0, max: intMax, set: setHz},
	{name: "slowlog-log-slower-than", def: "10000", kind: kindInt, min: -1, max: longMax, set: func(c *Config, v string) error { c.SlowlogSlowerThan = atoi64(v); return nil }},
	{name: "slowlog-max-len", def: "128", kind: kindInt, min: 0, max: longMax, set: func(c *Config, v string) error { c.SlowlogMaxLen = atoi(v); return nil }},
	{name: "latency-monitor-threshold", def: "0", kind: kindInt, min: 0, max: longMax, set: func(c *Config, v string) error { c.LatencyMonitorThreshold = atoi64(v); return nil }},
	{name: "latency-tracking", def: "yes", kind: kindBool, set: func(c *Config, v string) error { c.LatencyTracking = v == "yes"; return nil }},
	{name: "maxmemory", def: "0", kind: kindMemory, min: 0, max: ullongMax, unsigned: true, set: setMaxmemory},
	{name: "maxmemory-policy", def: "noeviction", kind: kindEnum, enum: []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"}, set: func(c *Config, v string) error {
		c.MaxMemoryPolicy = v
		c.LFUPolicy = strings.HasSuffix(v, "-lfu")
		return nil
	}},
	{name: "maxmemory-samples", def: "5", kind: kindInt, min: 1, max: intMax},
	{name: "maxmemory-eviction-tenacity", def: "10", kind: kindInt, min: 0, max: 100}, // evict.go reads it
	{name: "lfu-log-factor", def: "10", kind: kindInt, min: 0, max: intMax, set: func(c *Config, v string) error { c.LFULogFactor = atoi(v); return nil }},
	{name: "lfu-decay-time", def: "1", kind: kindInt, min: 0, max: intMax, set: func(c *Config, v string) error { c.LFUDecayTime = atoi(v); return nil }},
	{name: "stop-writes-on-bgsave-error", def: "yes", kind: kindBool},
	// The append-only store (persist/store): appendonly and appendfsync take
	// effect at once through persistence's ApplyConfig hook, as Redis 7.0
	// starts or stops its AOF on CONFIG SET; the file and directory names
	// are start-up only, as in Redis 7.0.
	{name: "appendonly", def: "yes", kind: kindBool, then: stepAOF}, // durability is the point of this server (Redis: no)
	{name: "appendfilename", def: "appendonly.aof", kind: kindString, immutable: true, set: func(c *Config, v string) error {
		return checkAOFName(v, "appendfilename can't be a path, just a filename")
	}},
	{name: "appenddirname", def: "appendonlydir", kind: kindString, immutable: true, set: func(c *Config, v string) error {
		return checkAOFName(v, "appenddirname can't be a path, just a dirname")
	}},
	{name: "appendfsync", def: "everysec", kind: kindEnum, enum: []string{"always", "everysec", "no"}, then: stepAOF},
	{name: "no-appendfsync-on-rewrite", def: "no", kind: kindBool},
	{name: "auto-aof-rewrite-percentage", def: "100", kind: kindInt, min: 0, max: intMax},
	{name: "auto-aof-rewrite-min-size", def: "67108864", kind: kindMemory, min: 0, max: longMax},
	{name: "aof-load-truncated", def: "yes", kind: kindBool},
	// session-disk-max bounds the store's bytes (0: the disk's size).
	{name: "session-disk-max", def: "0", kind: kindMemory, min: 0, max: longMax, then: stepAOF},
	// session-rewrite-rate bounds the bytes a second a rewrite's base and
	// its compaction write (persist/store's limiter), so a rewrite never
	// takes the disk from the GENs' appends; 0 = unlimited.
	{name: "session-rewrite-rate", def: "64mb", kind: kindMemory, min: 0, max: longMax, then: stepAOF},
	{name: "lazyfree-lazy-user-del", def: "no", kind: kindBool},
	{name: "lazyfree-lazy-user-flush", def: "no", kind: kindBool},
	{name: "hash-max-listpack-entries", def: "512", kind: kindInt, min: 0, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.HashMaxListpackEntries = atoi64(v); return nil }},
	{name: "hash-max-listpack-value", def: "64", kind: kindInt, min: 0, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.HashMaxListpackValue = atoi64(v); return nil }},
	{name: "set-max-intset-entries", def: "512", kind: kindInt, min: 0, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.SetMaxIntsetEntries = atoi64(v); return nil }},
	{name: "zset-max-listpack-entries", def: "128", kind: kindInt, min: 0, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.ZSetMaxListpackEntries = atoi64(v); return nil }},
	{name: "zset-max-listpack-value", def: "64", kind: kindInt, min: 0, max: longMax, unsigned: true, set: func(c *Config, v string) error { c.ZSetMaxListpackValue = atoi64(v); return nil }},
	// Stored only: lists are one deque whatever the node size (quicklist
	// is the only list encoding Redis 7.0 reports).
	{name: "list-max-listpack-size", def: "-2", kind: kindInt, min: intMin, max: intMax},
	{name: "list-compress-depth", def: "0", kind: kindInt, min: 0, max: intMax},
	{name: "stream-node-max-bytes", def: "4096", kind: kindMemory, min: 0, max: longMax, set: func(c *Config, v string) error { c.StreamNodeMaxBytes = atoi64(v); return nil }},
	{name: "stream-node-max-entries", def: "100", kind: kindInt, min: 0, max: longMax, set: func(c *Config, v string) error { c.StreamNodeMaxEntries = atoi64(v); return nil }},
	{name: "notify-keyspace-events", def: "", kind: kindSpecial, set: applyNotify},
	{name: "tcp-keepalive", def: "300", kind: kindInt, min: 0, max: intMax},
	{name: "daemonize", def: "no", kind: kindBool, immutable: true},
	{name: "busy-reply-threshold", def: "5000", kind: kindInt, min: 0, max: longMax},
	// Ours: Redis lets a script allocate until the process dies.
	{name: "script-max-memory", def: "1073741824", kind: kindMemory, min: 0, max: longMax},
	{name: "active-expire-effort", def: "1", kind: kindInt, min: 1, max: 10},
	{name: "set-proc-title", def: "yes", kind: kindBool, immutable: true},
	{name: "repl-backlog-size", def: "1048576", kind: kindMemory, min: 1, max: longMax, then: stepReplBacklog},
	// Accepted and stored only: reddwarf does not evict clients, so the
	// limit on their total memory has nothing to act on.
	{name: "maxmemory-clients", def: "0", kind: kindMemoryPercent, min: -100, max: longMax},
	{name: "replicaof", def: "", kind: kindString, immutable: true},
	{name: "replica-read-only", def: "yes", kind: kindBool},
	{name: "tracking-table-max-keys", def: "1000000", kind: kindInt, min: 0, max: longMax, unsigned: true},
	// Redis's protected actions: no, yes, or local (loopback clients only).
	// enable-protected-configs lets CONFIG SET change the protected
	// directives (dir, dbfilename); enable-debug-command allows DEBUG;
	// enable-module-command is stored only (there is no MODULE command).
	{name: "enable-protected-configs", def: "no", kind: kindEnum, immutable: true, enum: protectedActionModes},
	{name: "enable-debug-command", def: "no", kind: kindEnum, immutable: true, enum: protectedActionModes},
	{name: "enable-module-command", def: "no", kind: kindEnum, immutable: true, enum: protectedActionModes},
	// Hidden, accepted and stored only: Redis sleeps this long per key it
	// loads (a test hook); reddwarf loads snapshot values lazily.
	{name: "key-load-delay", def: "0", kind: kindInt, hidden: true, min: intMin, max: intMax},
	// Model directives (the inference engine reads them at start-up).
	{name: "model", def: "", kind: kindString, startupOnly: true},
	{name: "threads", def: "0", kind: kindInt, startupOnly: true, min: 0, max: 1024},
	{name: "device", def: "auto", kind: kindEnum, startupOnly: true, enum: []string{"auto", "cpu", "cuda", "cpu-seam"}},
	{name: "device-kv-memory", def: "0", kind: kindMemory, startupOnly: true, min: 0, max: longMax},
	{name: "ctx", def: "0", kind: kindInt, startupOnly: true, min: 0, max: 1 << 24},
	{name: "prefill-chunk", def: "256", kind: kindInt, min: 1, max: 1 << 16},
	{name: "kv-cache-type", def: "f16", kind: kindEnum, startupOnly: true, enum: []string{"f16", "f32"}},
	{name: "checkpoint-interval", def: "2048", kind: kindInt, min: 0, max: 1 << 30},
	{name: "dsv4-numerics", def: "ds4", kind: kindEnum, startupOnly: true, enum: []string{"ds4", "exact"}},
}

// protectedActionModes are the values of Redis's enable-*-command and
// enable-protected-configs directives.
var protectedActionModes = []string{"no", "yes", "local"}

// AllowProtected reports whether c may do what the protected-action
// directive (enable-debug-command, enable-protected-configs) guards: always
// with yes, from a loopback client with local, never with no. A nil client
// is the server itself and always may.
func (s *Server) AllowProtected(directive string, c *Client) bool {
	switch s.Config.Get(directive) {
	case "yes":
		return true
	case "local":
		return c == nil || c.IsLocal()
	}
	return c == nil
}

// Directive aliases Redis accepts for old names.
var directiveAliases = map[string]string{
	"slave-read-only":          "replica-read-only",
	"slaveof":                  "replicaof",
	"lua-time-limit":           "busy-reply-threshold",
	"hash-max-ziplist-entries": "hash-max-listpack-entries",
	"hash-max-ziplist-value":   "hash-max-listpack-value",
	"zset-max-ziplist-entries": "zset-max-listpack-entries",
	"zset-max-ziplist-value":   "zset-max-listpack-value",
	"list-max-ziplist-size":    "list-max-listpack-size",
}

func findDirective(name string) *directive {
	_, d := lookupDirective(name)
	return d
}

// lookupDirective finds a directive by name or alias, in any case. key is
// the name found, lower-cased: the alias itself when name is one, as Redis
// keeps an alias as an entry of its own (CONFIG GET * lists both, and an
// error about an alias names the alias).
func lookupDirective(name string) (key string, d *directive) {
	key = strings.ToLower(name)
	canon := key
	if a, ok := directiveAliases[key]; ok {
		canon = a
	}
	for _, d := range directives {
		if d.name == canon {
			return key, d
		}
	}
	return "", nil
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	c := &Config{values: map[string]string{}}
	for _, d := range directives {
		if err := c.set(d, d.def); err != nil {
			panic("config: bad default for " + d.name + ": " + err.Error())
		}
	}
	return c
}

// Get returns a directive's canonical value (by lower-case name or alias).
func (c *Config) Get(name string) string {
	if a, ok := directiveAliases[name]; ok {
		name = a
	}
	return c.values[name]
}

// Int returns a numeric directive's value.
func (c *Config) Int(name string) int64 { return atoi64(c.values[name]) }

// Set validates and stores one directive, as start-up does: immutability
// and the server's apply steps are CONFIG SET's concern (Server.ConfigSet).
func (c *Config) Set(name, value string) error {
	d := findDirective(name)
	if d == nil {
		return fmt.Errorf("unknown directive '%s'", name)
	}
	return c.set(d, value)
}

func (c *Config) set(d *directive, value string) error {
	canon := value
	switch d.kind {
	case kindInt:
		n, ok := parseStrictInt(value)
		if !ok {
			return fmt.Errorf("argument couldn't be parsed into an integer")
		}
		if err := d.checkBounds(n); err != nil {
			return err
		}
		canon = d.format(n)
	case kindMemory:
		n, ok := parseMemoryUnsigned(value)
		if !ok {
			return fmt.Errorf("argument must be a memory value")
		}
		if err := d.checkBounds(int64(n)); err != nil {
			return err
		}
		canon = d.format(int64(n))
	case kindMemoryPercent:
		var err error
		if canon, err = parseMemoryPercent(value, -d.min); err != nil {
			return err
		}
	case kindBool:
		switch strings.ToLower(value) {
		case "yes":
			canon = "yes"
		case "no":
			canon = "no"
		default:
			return fmt.Errorf("argument must be 'yes' or 'no'")
		}
	case kindEnum:
		canon = strings.ToLower(value)
		ok := false
		for _, e := range d.enum {
			ok = ok || e == canon
		}
		if !ok {
			return fmt.Errorf("argument(s) must be one of the following: %s", strings.Join(d.enum, ", "))
		}
	}
	// The canonical text is stored first, so a setter may store another
	// (hz stores the capped value); a setter that fails leaves the old one.
	old, had := c.values[d.name]
	if d.kind != kindSpecial {
		c.values[d.name] = canon
	}
	if d.set != nil {
		if err := d.set(c, canon); err != nil {
			if had {
				c.values[d.name] = old
			} else {
				delete(c.values, d.name)
			}
			return err
		}
	}
	return nil
}

// checkBounds is Redis's numeric bounds check: signed directives compare
// n as int64, unsigned ones as uint64 (a negative n is then huge).
func (d *directive) checkBounds(n int64) error {
	if d.unsigned {
		if uint64(n) < uint64(d.min) || uint64(n) > uint64(d.max) {
			return fmt.Errorf("argument must be between %d and %d inclusive", uint64(d.min), uint64(d.max))
		}
		return nil
	}
	if n < d.min || n > d.max {
		return fmt.Errorf("argument must be between %d and %d inclusive", d.min, d.max)
	}
	return nil
}

// format is the text CONFIG GET prints for a number within bounds.
func (d *directive) format(n int64) string {
	if d.unsigned {
		return strconv.FormatUint(uint64(n), 10)
	}
	return strconv.FormatInt(n, 10)
}

// parseStrictInt parses an integer as Redis's string2ll does: an optional
// minus and decimal digits without leading zeros, within int64. "+5",
// "007", "-0", " 5" and "1k" are not integers.
func parseStrictInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// parseMemoryUnsigned parses a memory value as Redis's memtoull does for
// directives: digits, then an optional unit (b k kb m mb g gb, any case).
// No sign is accepted; a number beyond 64 bits saturates at the maximum and
// the unit's product wraps, as strtoull and the C multiplication do.
func parseMemoryUnsigned(s string) (uint64, bool) {
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	var mul uint64
	switch strings.ToLower(s[digits:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1 << 20
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1 << 30
	default:
		return 0, false
	}
	if digits >= 128 {
		return 0, false // longer than memtoull's buffer
	}
	n, err := strconv.ParseUint(s[:digits], 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		n = math.MaxUint64
	} else if err != nil && digits > 0 {
		return 0, false
	}
	return n * mul, true // digits == 0 ("", "kb") is 0, as strtoull reads it
}

// setHz stores hz clamped to 1..500: Redis takes any int >= 0 as a hint and
// caps it (updateHZ), at start-up as on CONFIG SET, so CONFIG GET prints
// the capped value.
func setHz(c *Config, v string) error {
	c.Hz = min(max(atoi(v), minHz), maxHz)
	c.values["hz"] = strconv.Itoa(c.Hz)
	return nil
}

// Redis's CONFIG_MIN_HZ and CONFIG_MAX_HZ.
const (
	minHz = 1
	maxHz = 500
)

// setMaxmemory keeps the unsigned value for CONFIG GET; the hot paths read
// MaxMemory, capped at MaxInt64 (no heap comes near either).
func setMaxmemory(c *Config, v string) error {
	n, _ := strconv.ParseUint(v, 10, 64)
	c.MaxMemory = int64(min(n, math.MaxInt64))
	return nil
}

// parseMemoryPercent parses a memory value or a percentage ("10%", at most
// maxPercent) and returns the text CONFIG GET prints: bytes, or N%. Redis
// keeps a percentage as a negative number (0% is 0), so, as there, a memory
// value beyond MaxInt64 reads as a percentage.
func parseMemoryPercent(v string, maxPercent int64) (string, error) {
	var n int64
	if u, ok := parseMemoryUnsigned(v); ok {
		n = int64(u)
	} else if p, ok := parseStrictInt(strings.TrimSuffix(v, "%")); ok && len(v) > 1 && v[len(v)-1] == '%' && p >= 0 {
		n = -p
	} else {
		return "", fmt.Errorf("argument must be a memory or percent value")
	}
	if n < -maxPercent {
		return "", fmt.Errorf("percentage argument must be less or equal to %d", maxPercent)
	}
	if n < 0 {
		return strconv.FormatInt(-n, 10) + "%", nil
	}
	return strconv.FormatInt(n, 10), nil
}

// setBind takes Redis's space-separated address list ("" = no TCP
// listener); a leading - marks an address that may be unavailable.
func setBind(c *Config, v string) error {
	addrs := strings.Fields(v)
	if len(addrs) > maxBindAddrs {
		return fmt.Errorf("Too many bind addresses specified.")
	}
	c.Bind = addrs
	c.values["bind"] = strings.Join(addrs, " ")
	return nil
}

// maxBindAddrs is Redis's CONFIG_BINDADDR_MAX.
const maxBindAddrs = 16

// setDir takes a directory that exists, failing as Redis's chdir does
// with strerror's text ("No such file or directory", "Not a directory").
// reddwarf keeps the absolute path instead of changing its working
// directory.
func setDir(c *Config, v string) error {
	st, err := os.Stat(v)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errors.New(strerror(errno))
		}
		return err
	}
	if !st.IsDir() {
		return errors.New(strerror(syscall.ENOTDIR))
	}
	abs := v
	if a, err := absPath(v); err == nil {
		abs = a
	}
	c.Dir = abs
	c.values["dir"] = abs
	return nil
}

// strerror is errno's text as C's strerror prints it: Go's table has the
// same words, in lower case.
func strerror(errno syscall.Errno) string {
	msg := errno.Error()
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// checkAOFName refuses a path where Redis 7.0 wants a bare name (its
// isValidAOFfilename/dirname).
func checkAOFName(v, why string) error {
	if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\") {
		return errors.New(why)
	}
	return nil
}

func setDBFilename(c *Config, v string) error {
	if strings.ContainsRune(v, '/') {
		return fmt.Errorf("dbfilename can't be a path, just a filename")
	}
	c.DBFilename = v
	return nil
}

// SavePoint is one `save <seconds> <changes>` pair.
type SavePoint struct{ Seconds, Changes int64 }

// SavePoints returns the parsed save directive.
func (c *Config) SavePoints() []SavePoint {
	f := strings.Fields(c.values["save"])
	var sp []SavePoint
	for i := 0; i+1 < len(f); i += 2 {
		sp = append(sp, SavePoint{atoi64(f[i]), atoi64(f[i+1])})
	}
	return sp
}

func setSave(c *Config, v string) error {
	f := strings.Fields(v)
	if len(f)%2 != 0 {
		return fmt.Errorf("Invalid save parameters")
	}
	for _, x := range f {
		if n, err := strconv.ParseInt(x, 10, 64); err != nil || n < 0 {
			return fmt.Errorf("Invalid save parameters")
		}
	}
	c.values["save"] = strings.Join(f, " ")
	return nil
}

func setOutputLimit(c *Config, v string) error {
	f := strings.Fields(v)
	if len(f)%4 != 0 || len(f) == 0 {
		return fmt.Errorf("Wrong number of arguments in buffer limit configuration.")
	}
	cur := map[string][3]int64{}
	old := strings.Fields(c.values["client-output-buffer-limit"])
	for i := 0; i+3 < len(old); i += 4 {
		cur[outputLimitClass(old[i])] = [3]int64{atoi64(old[i+1]), atoi64(old[i+2]), atoi64(old[i+3])}
	}
	for i := 0; i < len(f); i += 4 {
		class := outputLimitClass(f[i])
		if class != "normal" && class != "replica" && class != "pubsub" {
			return fmt.Errorf("Invalid client class specified in buffer limit configuration.")
		}
		hard, err1 := ParseMemory(f[i+1])
		soft, err2 := ParseMemory(f[i+2])
		secs, err3 := strconv.ParseInt(f[i+3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || hard < 0 || soft < 0 || secs < 0 {
			return fmt.Errorf("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
		}
		cur[class] = [3]int64{hard, soft, secs}
	}
	var parts []string
	for _, class := range []string{"normal", "replica", "pubsub"} {
		l := cur[class]
		name := class
		if class == "replica" {
			name = "slave" // as Redis 7.0 prints it
		}
		parts = append(parts, fmt.Sprintf("%s %d %d %d", name, l[0], l[1], l[2]))
	}
	c.values["client-output-buffer-limit"] = strings.Join(parts, " ")
	for class, name := range map[ClientClass]string{ClassNormal: "normal", ClassReplica: "replica", ClassPubsub: "pubsub"} {
		l := cur[name]
		c.OutputLimits[class] = OutputLimit{Hard: l[0], Soft: l[1], SoftSeconds: l[2]}
	}
	return nil
}

// outputLimitClass is a client class of client-output-buffer-limit,
// lower-cased, with slave read as replica.
func outputLimitClass(name string) string {
	if name = strings.ToLower(name); name == "slave" {
		return "replica"
	}
	return name
}

// ParseMemory parses a Redis memory value: 100, 1k, 1kb, 5mb, 1g, 1gb.
func ParseMemory(s string) (int64, error) {
	ls := strings.ToLower(s)
	if ls == "" || ls[0] < '0' || ls[0] > '9' {
		return 0, fmt.Errorf("not a memory value") // no sign, no spaces: as Redis's memtoull
	}
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"kb", 1024}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1000}, {"m", 1000000}, {"g", 1000000000}, {"b", 1}} {
		if strings.HasSuffix(ls, u.suffix) {
			ls = strings.TrimSuffix(ls, u.suffix)
			mul = u.mul
			break
		}
	}
	n, err := strconv.ParseInt(ls, 10, 64)
	if err != nil {
		return 0, err
	}
	if n != 0 && (n*mul)/mul != n {
		return 0, fmt.Errorf("overflow")
	}
	return n * mul, nil
}

// LoadFile reads a redis.conf-syntax file: one directive per line, arguments
// separated by spaces, double or single quotes for values with spaces, #
// comments. Errors name the line and the directive.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("can't open config file '%s': %v", path, err)
	}
	defer f.Close()
	c.file = path
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		args, err := SplitArgs(text)
		if err != nil {
			return fmt.Errorf("config file %s line %d: %v", path, line, err)
		}
		if len(args) == 0 {
			continue
		}
		if err := c.applyArgs(args[0], args[1:]); err != nil {
			return fmt.Errorf("config file %s line %d: %v", path, line, err)
		}
	}
	return sc.Err()
}

// LoadArgs applies `--directive value ...` command-line arguments.
func (c *Config) LoadArgs(args []string) error {
	for i := 0; i < len(args); {
		if !strings.HasPrefix(args[i], "--") {
			return fmt.Errorf("unexpected argument '%s' (directives are given as --name value)", args[i])
		}
		name := args[i][2:]
		i++
		var vals []string
		for i < len(args) && !strings.HasPrefix(args[i], "--") {
			vals = append(vals, args[i])
			i++
		}
		if err := c.applyArgs(name, vals); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) applyArgs(name string, vals []string) error {
	d := findDirective(name)
	if d == nil {
		return fmt.Errorf("unknown directive '%s'", name)
	}
	v := strings.Join(vals, " ")
	if d.name == "save" && !c.seenSave {
		// In a config file successive save lines add up; the first one
		// replaces the default.
		c.seenSave = true
	} else if d.name == "save" {
		v = strings.TrimSpace(c.values["save"] + " " + v)
	}
	if err := c.set(d, v); err != nil {
		return fmt.Errorf("directive '%s': %v", d.name, err)
	}
	return nil
}

// Lookup is CONFIG GET: name, value pairs for the given parameters, each
// directive once. A parameter without glob characters is an exact name or
// alias, hidden directives included, printed as the client spelled it; a
// pattern matches names and aliases in any case, hidden ones left out, as
// Redis 7.0 does.
func (c *Config) Lookup(params []string) []string {
	var out []string
	seen := map[string]bool{} // lower-cased names and aliases already out
	add := func(printed, key string, d *directive) {
		if !seen[key] {
			seen[key] = true
			out = append(out, printed, c.values[d.name])
		}
	}
	for _, p := range params {
		if !strings.ContainsAny(p, "[*?") {
			if key, d := lookupDirective(p); d != nil {
				add(p, key, d)
			}
			continue
		}
		for _, key := range c.Match(p) {
			add(key, key, findDirective(key))
		}
	}
	return out
}

// Match returns the names and aliases a CONFIG GET glob matches (in any
// case), sorted, without hidden directives.
func (c *Config) Match(pattern string) []string {
	var out []string
	for _, d := range directives {
		if !d.hidden && GlobMatch(pattern, d.name, true) {
			out = append(out, d.name)
		}
	}
	for alias, name := range directiveAliases {
		if !findDirective(name).hidden && GlobMatch(pattern, alias, true) {
			out = append(out, alias)
		}
	}
	sort.Strings(out)
	return out
}

// ConfigSet is CONFIG SET from client cl (nil: the server itself, which
// may set protected directives): args are name, value pairs, applied all or none
// in Redis 7.0's three phases, and the error is the reply.
//
//  1. Look every name up. The first unknown, immutable, protected (and not
//     allowed to cl) or repeated one fails the command before anything
//     changes.
//  2. Set each value in turn, keeping the old ones. A value that does not
//     parse puts back the values set before it.
//  3. Run the apply step of every directive whose value changed, each step
//     once, in order. A step that fails (a port in use) puts back every
//     old value and runs the steps again, so the server is as it was.
//     Then ConfigChanged, for what cannot fail.
//
// It runs on the loop goroutine.
func (s *Server) ConfigSet(cl *Client, args []string) error {
	if len(args)%2 != 0 {
		return ErrSyntax
	}
	type change struct {
		key      string // the name or alias, lower-cased
		d        *directive
		old, new string
	}
	c := s.Config
	changes := make([]change, 0, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		name, value := args[i], args[i+1]
		key, d := lookupDirective(name)
		if d == nil {
			return Errorf("Unknown option or number of arguments for CONFIG SET - '" + name + "'")
		}
		if d.immutable || d.startupOnly && value != c.values[d.name] {
			return configSetError(name, "can't set immutable config")
		}
		if d.protected && !s.AllowProtected("enable-protected-configs", cl) {
			return configSetError(name, "can't set protected config")
		}
		for _, ch := range changes {
			if ch.key == key {
				return configSetError(name, "duplicate parameter")
			}
		}
		changes = append(changes, change{key: key, d: d, old: c.values[d.name], new: value})
	}
	restore := func(changed []change) {
		for _, ch := range changed {
			if err := c.set(ch.d, ch.old); err != nil {
				s.logf("warning", "Failed restoring failed CONFIG SET command. Error setting %s to '%s': %v", ch.key, ch.old, err)
			}
		}
	}

	var steps []applyStep
	var stepOwner []string // the directive that first asked for each step
	for i, ch := range changes {
		if err := c.set(ch.d, ch.new); err != nil {
			restore(changes[:i+1])
			return configSetError(ch.key, err.Error())
		}
		if ch.d.then != stepNone && c.values[ch.d.name] != ch.old && !slices.Contains(steps, ch.d.then) {
			steps = append(steps, ch.d.then)
			stepOwner = append(stepOwner, ch.key)
		}
	}

	for i, step := range steps {
		if err := s.applyConfig(step); err != nil {
			s.logf("warning", "Failed applying new configuration. Possibly related to new %s setting. Restoring previous settings.", stepOwner[i])
			restore(changes)
			for _, step := range steps {
				if err := s.applyConfig(step); err != nil {
					s.logf("warning", "Failed applying restored failed CONFIG SET command: %v", err)
				}
			}
			return configSetError(stepOwner[i], err.Error())
		}
	}
	s.ConfigChanged()
	return nil
}

// minReplBacklog is Redis's CONFIG_REPL_BACKLOG_MIN_SIZE: CONFIG SET of a
// smaller repl-backlog-size stores this (there is no backlog here; the
// value is only kept).
const minReplBacklog = 16 * 1024

func configSetError(name, why string) *Error {
	return Errorf("CONFIG SET failed (possibly related to argument '" + name + "') - " + why)
}

// applyConfig runs one apply step; its error is the text CONFIG SET
// replies, as Redis words it.
func (s *Server) applyConfig(step applyStep) error {
	switch step {
	case stepPort:
		if err := s.rebind(); err != nil {
			s.logf("warning", "%v", err)
			return errors.New("Unable to listen on this port. Check server logs.")
		}
	case stepBind:
		if err := s.rebind(); err != nil {
			s.logf("warning", "%v", err)
			return errors.New("Failed to bind to specified addresses.")
		}
	case stepMaxclients:
		if best := fitOpenFilesLimit(s.Config.MaxClients); best != s.Config.MaxClients {
			return fmt.Errorf("The operating system is not able to handle the specified number of clients, try with %d", best)
		}
	case stepAOF:
		for i := range s.hooks {
			if h := &s.hooks[i]; h.ApplyConfig != nil {
				if err := h.ApplyConfig(); err != nil {
					return err
				}
			}
		}
	case stepReplBacklog:
		if s.Config.Int("repl-backlog-size") < minReplBacklog {
			s.Config.values["repl-backlog-size"] = strconv.Itoa(minReplBacklog)
		}
	}
	return nil
}

// Rewrite writes the current configuration back to the file the server was
// started with, keeping its comments and replacing or appending directives
// whose value differs from the default.
func (c *Config) Rewrite() error {
	if c.file == "" {
		return fmt.Errorf("The server is running without a config file")
	}
	old, err := os.ReadFile(c.file)
	if err != nil {
		return fmt.Errorf("Rewriting config file: %v", err)
	}
	done := map[string]bool{}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			out = append(out, line)
			continue
		}
		args, err := SplitArgs(t)
		if err != nil || len(args) == 0 {
			out = append(out, line)
			continue
		}
		d := findDirective(args[0])
		if d == nil || done[d.name] {
			continue
		}
		done[d.name] = true
		out = append(out, c.rewriteLine(d))
	}
	for _, d := range directives {
		if !done[d.name] && c.values[d.name] != canonicalDefault(d) {
			out = append(out, c.rewriteLine(d))
		}
	}
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("Rewriting config file: %v", err)
	}
	if err := os.Rename(tmp, c.file); err != nil {
		return fmt.Errorf("Rewriting config file: %v", err)
	}
	return nil
}

func canonicalDefault(d *directive) string {
	tmp := NewConfig()
	return tmp.values[d.name]
}

func (c *Config) rewriteLine(d *directive) string {
	v := c.values[d.name]
	if v == "" || strings.ContainsFunc(v, unicode.IsSpace) && d.name != "save" && d.name != "bind" && d.name != "client-output-buffer-limit" {
		v = strconv.Quote(v)
	}
	return d.name + " " + v
}

// SplitArgs splits a line the way redis.conf and inline commands are split:
// spaces separate arguments; "double quotes" allow \n \r \t \xHH escapes,
// 'single quotes' only \'.
func SplitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return args, nil
		}
		var cur []byte
		inDq, inSq := false, false
		for {
			if inDq {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				ch := line[i]
				if ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
					v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					cur = append(cur, byte(v))
					i += 3
				} else if ch == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				} else if ch == '"' {
					if i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
						return nil, fmt.Errorf("unbalanced quotes")
					}
					inDq = false
					i++
					break
				} else {
					cur = append(cur, ch)
				}
			} else if inSq {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				ch := line[i]
				if ch == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					cur = append(cur, '\'')
					i++
				} else if ch == '\'' {
					if i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
						return nil, fmt.Errorf("unbalanced quotes")
					}
					inSq = false
					i++
					break
				} else {
					cur = append(cur, ch)
				}
			} else {
				if i >= len(line) {
					break
				}
				ch := line[i]
				if ch == ' ' || ch == '\t' {
					break
				}
				if ch == '"' && len(cur) == 0 {
					inDq = true
				} else if ch == '\'' && len(cur) == 0 {
					inSq = true
				} else {
					cur = append(cur, ch)
				}
			}
			i++
		}
		args = append(args, string(cur))
	}
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
