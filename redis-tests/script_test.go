package redistests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lua scripting and functions, checked against the behaviour of Redis
// 7.0: every test here passes against redis-server too
// (REDDWARF_TARGET=redis), but those on reddwarf's own persistence.

func TestEvalRepliesConvertAsRedisDocuments(t *testing.T) {
	c := client(t)
	want(t, c, int64(100), "EVAL", "return 100.5", "0")
	want(t, c, "hello", "EVAL", "return 'hello'", "0")
	want(t, c, int64(1), "EVAL", "return true", "0")
	want(t, c, nil, "EVAL", "return false", "0")
	want(t, c, "fine", "EVAL", "return {ok='fine'}", "0")
	wantErr(t, c, "My Error", "EVAL", "return {err='My Error'}", "0")
	wantErr(t, c, "ERR boom", "EVAL", "return redis.error_reply('boom')", "0")
	want(t, c, "[1 2 3 ciao [1 2]]", "EVAL", "return {1,2,3,'ciao',{1,2}}", "0")
	want(t, c, "[1 2]", "EVAL", "return {1,2,nil,4}", "0") // arrays end at the first nil
	want(t, c, "[a b x y]", "EVAL", "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}", "2", "a", "b", "x", "y")
	do(t, c, "SET", "n", "5")
	do(t, c, "RPUSH", "l", "a", "b")
	want(t, c, "[number 6 string table <nil>]", "EVAL",
		"return {type(redis.call('incr',KEYS[1])), redis.call('get',KEYS[1]), type(redis.call('get',KEYS[1])), type(redis.call('lrange',KEYS[2],0,-1)), redis.call('get','nokey')}", "2", "n", "l")
	want(t, c, "[table OK]", "EVAL", "local r = redis.call('set','x','y'); return {type(r), r.ok}", "0")
	want(t, c, "WRONGTYPE Operation against a key holding the wrong kind of value", "EVAL", "return redis.pcall('incr',KEYS[1]).err", "1", "l")
	want(t, c, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "EVAL", "return redis.sha1hex('')", "0")
	want(t, c, `[1,2,{"a":"x\/y"}]`, "EVAL", "return cjson.encode({1,2,{a='x/y'}})", "0")
	want(t, c, "cb3fb999999999999a", "EVAL", "local s = cmsgpack.pack(0.1); local h = ''; for i = 1, #s do h = h .. string.format('%02x', string.byte(s, i)) end; return h", "0")
	want(t, c, int64(3), "EVAL", "return bit.bxor(1,2)", "0")
}

func TestEvalErrorsAsRedisRaisesThem(t *testing.T) {
	c := client(t)
	wantErr(t, c, "ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.", "EVAL", "return redis.call('nosuch')", "0")
	wantErr(t, c, "ERR Unknown Redis command called from script", "EVAL", "return redis.pcall('nosuch')", "0")
	wantErr(t, c, "ERR Wrong number of args calling Redis command from script script: 6eba4e311779d6008f131fae6b48c40f8247503f, on @user_script:1.", "EVAL", "return redis.call('incr','a','b')", "0")
	wantErr(t, c, "ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: bbfcd1ececc90deec823f7fb730e4bfb2a4ba625, on @user_script:1.", "EVAL", "return a", "0")
	wantErrPrefix(t, c, "ERR user_script:1: Attempt to modify a readonly table", "EVAL", "a=1", "0")
	wantErrPrefix(t, c, "ERR user_script:1: Attempt to modify a readonly table", "EVAL", "redis.call = function() return 1 end", "0")
	wantErrPrefix(t, c, "ERR user_script:1: Script attempted to access nonexistent global variable 'os'", "EVAL", "return os.time()", "0")
	wantErrPrefix(t, c, "ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile'", "EVAL", "loadfile('x')", "0")
	wantErr(t, c, "ERR This Redis command is not allowed from script script: c329a1a294be6bf95b44144f7502610661ae925a, on @user_script:1.", "EVAL", "return redis.call('multi')", "0")
	wantErr(t, c, "ERR Number of keys can't be negative", "EVAL", "return 1", "-1")
	wantErr(t, c, "ERR Number of keys can't be greater than number of args", "EVAL", "return 1", "2", "a")
	wantErr(t, c, "NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0")
	wantErr(t, c, "ERR Write commands are not allowed from read-only scripts. script: 4cb91861d207e5689edc816618ab68f9d6de3b44, on @user_script:1.", "EVAL_RO", "return redis.call('set','x',1)", "0")
	wantErr(t, c, "ERR Can not execute a script with write flag using *_ro command.", "EVAL_RO", "#!lua\nreturn 1", "0")
	wantErrPrefix(t, c, "ERR Unexpected flag in script shebang: nope", "EVAL", "#!lua flags=nope\nreturn 1", "0")
}

func TestScriptLoadExistsFlushAndEvalsha(t *testing.T) {
	c := client(t)
	sha := do(t, c, "SCRIPT", "LOAD", "return ARGV[1]").(string)
	want(t, c, "x", "EVALSHA", sha, "0", "x")
	want(t, c, "x", "EVALSHA", strings.ToUpper(sha), "0", "x")
	want(t, c, "[1 0]", "SCRIPT", "EXISTS", sha, "ffffffffffffffffffffffffffffffffffffffff")
	want(t, c, "OK", "SCRIPT", "FLUSH", "ASYNC")
	want(t, c, "[0]", "SCRIPT", "EXISTS", sha)
	wantErrPrefix(t, c, "NOSCRIPT", "EVALSHA", sha, "0")
}

// A script's SELECT is its own: the caller stays in its database.
func TestEvalSelectDoesNotMoveTheCaller(t *testing.T) {
	c := client(t)
	cn := conn(t, c)
	do(t, cn, "SELECT", "9")
	do(t, cn, "SET", "k", "nine")
	want(t, cn, "nine", "EVAL", "return redis.call('get','k')", "0")
	want(t, cn, "zero", "EVAL", "redis.call('select','0'); redis.call('set','k','zero'); return redis.call('get','k')", "0")
	want(t, cn, "nine", "GET", "k")
}

// Redis 7.0 logs what a script did, in MULTI/EXEC when it is more than one
// command, never the EVAL; redis.set_repl(redis.REPL_NONE) leaves the
// calls after it out.
func TestEvalPropagatesItsEffects(t *testing.T) {
	s := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	waitFor(t, "the AOF rewrite", func() bool {
		info := c.Info(ctx, "persistence").Val()
		return strings.Contains(info, "aof_rewrite_in_progress:0") && !strings.Contains(info, "aof_rewrite_scheduled:1")
	})
	for _, line := range [][]any{
		{"EVAL", "redis.call('set',KEYS[1],'1'); redis.call('incr',KEYS[1]); return redis.call('get',KEYS[1])", "1", "a"},
		{"EVAL", "return redis.call('set',KEYS[1],'v')", "1", "b"},
		{"EVAL", "return redis.call('get',KEYS[1])", "1", "b"},
		{"EVAL", "redis.set_repl(redis.REPL_NONE); redis.call('set','hidden','1'); redis.set_repl(redis.REPL_ALL); return redis.call('set','shown','1')", "0"},
	} {
		if err := c.Do(ctx, line...).Err(); err != nil {
			t.Fatalf("%v: %v", line, err)
		}
	}
	var got []string
	for _, cmd := range readAOFCommands(t, s.Dir) {
		if strings.EqualFold(cmd[0], "SELECT") {
			continue
		}
		got = append(got, strings.ToLower(strings.Join(cmd, " ")))
	}
	wantLog := "multi|set a 1|incr a|exec|set b v|set shown 1"
	if strings.Join(got, "|") != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "|"), wantLog)
	}
}

// Past busy-reply-threshold other clients get -BUSY, SCRIPT KILL stops a
// script that has not written, and the script's own connection gets the
// kill as its error; one that wrote can't be killed.
func TestBusyScriptKill(t *testing.T) {
	s := startServer(t, "--lua-time-limit", "50")
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	other := redis.NewClient(options(s.Addr(), 2))
	defer other.Close()
	do(t, other, "PING")
	done := make(chan error, 1)
	go func() {
		done <- runner.Do(context.Background(), "EVAL", "local i = 0 while true do i = i + 1 end", "0").Err()
	}()
	waitFor(t, "-BUSY", func() bool {
		err := other.Do(ctx, "PING").Err()
		return err != nil && strings.HasPrefix(err.Error(), "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
	})
	wantErrPrefix(t, other, "BUSY", "GET", "x")
	want(t, other, "OK", "SCRIPT", "KILL")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL...") {
			t.Errorf("killed script's reply: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the script was not killed")
	}
	want(t, other, "PONG", "PING")
	wantErr(t, other, "NOTBUSY No scripts in execution right now.", "SCRIPT", "KILL")

	go func() {
		done <- runner.Do(context.Background(), "EVAL", "redis.call('set','w','1') local t = redis.call('time') while true do if tonumber(redis.call('time')[1]) > tonumber(t[1]) + 2 then return 'done' end end", "0").Err()
	}()
	waitFor(t, "-BUSY", func() bool { return other.Do(ctx, "PING").Err() != nil })
	wantErrPrefix(t, other, "UNKILLABLE Sorry the script already executed write commands", "SCRIPT", "KILL")
	if err := <-done; err != nil {
		t.Errorf("the unkillable script: %v", err)
	}
	want(t, other, "1", "GET", "w")
}

func TestFunctionLoadCallListDeleteDumpRestore(t *testing.T) {
	c := client(t)
	do(t, c, "FUNCTION", "FLUSH")
	t.Cleanup(func() { do(t, c, "FUNCTION", "FLUSH") })
	lib := "#!lua name=mylib\nredis.register_function('myset', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n" +
		"redis.register_function{function_name='myget', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}"
	want(t, c, "mylib", "FUNCTION", "LOAD", lib)
	wantErr(t, c, "ERR Library 'mylib' already exists", "FUNCTION", "LOAD", lib)
	want(t, c, "mylib", "FUNCTION", "LOAD", "REPLACE", lib)
	want(t, c, "OK", "FCALL", "myset", "1", "k", "v")
	want(t, c, "v", "FCALL_RO", "MYGET", "1", "k")
	wantErr(t, c, "ERR Can not execute a script with write flag using *_ro command.", "FCALL_RO", "myset", "1", "k", "v")
	wantErr(t, c, "ERR Function not found", "FCALL", "nosuch", "0")
	// A library's functions come in its dictionary's order (Redis's is
	// a hash table's): compare them sorted by name.
	list := do(t, c, "FUNCTION", "LIST").([]any)
	if len(list) == 1 {
		if lib, ok := list[0].([]any); ok && len(lib) == 6 {
			if fns, ok := lib[5].([]any); ok {
				sort.Slice(fns, func(i, j int) bool { return fmt.Sprint(fns[i]) < fmt.Sprint(fns[j]) })
			}
		}
	}
	if got := fmt.Sprint(list); got != "[[library_name mylib engine LUA functions [[name myget description reads flags [no-writes]] [name myset description <nil> flags []]]]]" {
		t.Errorf("FUNCTION LIST = %s", got)
	}
	wantErrPrefix(t, c, "ERR Error registering functions", "FUNCTION", "LOAD", "#!lua name=bad\nredis.call('ping')")
	dump := do(t, c, "FUNCTION", "DUMP").(string)
	want(t, c, "OK", "FUNCTION", "DELETE", "mylib")
	wantErr(t, c, "ERR Library not found", "FUNCTION", "DELETE", "mylib")
	want(t, c, "OK", "FUNCTION", "RESTORE", dump)
	wantErr(t, c, "ERR Library mylib already exists", "FUNCTION", "RESTORE", dump)
	want(t, c, "OK", "FUNCTION", "RESTORE", dump, "REPLACE")
	want(t, c, "v", "FCALL", "myget", "1", "k")
	wantErr(t, c, "ERR DUMP payload version or checksum are wrong", "FUNCTION", "RESTORE", "garbage")
}

// FUNCTION LOAD is logged as it came, so a restart from the log has the
// library again.
func TestFunctionsSurviveARestartThroughTheLog(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always")
	c := redisClientAt(t, s.Addr())
	do(t, c, "FUNCTION", "LOAD", "#!lua name=keep\nredis.register_function('hello', function() return 'hi' end)")
	s.stop()
	s2 := startIn(t, dir, "--appendonly", "yes")
	c2 := redisClientAt(t, s2.Addr())
	want(t, c2, "hi", "FCALL", "hello", "0")
}

// The libraries are in the snapshot and at the head of a rewritten log's
// base, so neither SAVE nor BGREWRITEAOF loses them.
func TestFunctionsSurviveSnapshotsAndLogRewrites(t *testing.T) {
	lib := "#!lua name=keep\nredis.register_function('hello', function() return 'hi' end)"
	t.Run("snapshot", func(t *testing.T) {
		dir := t.TempDir()
		s := startIn(t, dir)
		c := redisClientAt(t, s.Addr())
		do(t, c, "FUNCTION", "LOAD", lib)
		do(t, c, "SET", "k", "v")
		do(t, c, "SAVE")
		s.stop()
		s2 := startIn(t, dir)
		c2 := redisClientAt(t, s2.Addr())
		want(t, c2, "hi", "FCALL", "hello", "0")
		want(t, c2, "v", "GET", "k")
	})
	t.Run("rewritten log", func(t *testing.T) {
		dir := t.TempDir()
		s := startIn(t, dir, "--appendonly", "yes", "--appendfsync", "always")
		c := redisClientAt(t, s.Addr())
		do(t, c, "FUNCTION", "LOAD", lib)
		do(t, c, "BGREWRITEAOF")
		waitFor(t, "the AOF rewrite", func() bool {
			return strings.Contains(c.Info(ctx, "persistence").Val(), "aof_rewrite_in_progress:0")
		})
		do(t, c, "FUNCTION", "LOAD", strings.ReplaceAll(strings.ReplaceAll(lib, "keep", "later"), "hello", "later"))
		s.stop()
		s2 := startIn(t, dir, "--appendonly", "yes")
		c2 := redisClientAt(t, s2.Addr())
		want(t, c2, "hi", "FCALL", "hello", "0")
		want(t, c2, "hi", "FCALL", "later", "0")
	})
}

// TestBullMQ runs node/bullmq.test.js: BullMQ, a job queue built on Lua
// scripts, blocking commands and streams, doing real work. Its
// dependencies (bullmq and ioredis, pinned by package-lock.json) are
// installed by `npm ci` the first time; without node and npm it skips.
func TestBullMQ(t *testing.T) {
	client(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the BullMQ test needs node and npm")
	}
	dir, _ := filepath.Abs("bullmq")
	npmCI(t, dir, "bullmq")
	cmd := exec.Command(node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("REDDWARF_PORT=%d", shared.Port), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("node --test: %v\n%s", err, out)
	}
}

// A script sees the time its EVAL started: a key that expires while it
// runs is still there for its later commands (Redis 7.0).
func TestEvalTimeIsFrozen(t *testing.T) {
	c := client(t)
	do(t, c, "SET", "k", "v", "PX", "100")
	want(t, c, "[v v]", "EVAL", "local a = redis.call('get', KEYS[1]) local t = redis.call('time') while true do local n = redis.call('time') if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 300000 then break end end return {a, redis.call('get', KEYS[1])}", "1", "k")
	want(t, c, nil, "GET", "k")
}

// SHUTDOWN NOSAVE stops a server whose script runs past the threshold,
// even one that wrote; SHUTDOWN without NOSAVE gets -BUSY.
func TestShutdownNosaveStopsABusyScript(t *testing.T) {
	s := startServer(t, "--lua-time-limit", "50")
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	other := redis.NewClient(options(s.Addr(), 2))
	defer other.Close()
	do(t, other, "PING")
	go runner.Do(context.Background(), "EVAL", "redis.call('set','x','1') while true do end", "0")
	waitFor(t, "-BUSY", func() bool { return other.Do(ctx, "PING").Err() != nil })
	wantErrPrefix(t, other, "BUSY", "SHUTDOWN")
	wantErrPrefix(t, other, "UNKILLABLE", "SCRIPT", "KILL")
	other.Do(ctx, "SHUTDOWN", "NOSAVE") // the connection closes: no reply
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after SHUTDOWN NOSAVE")
	}
}

// A script looping inside a coroutine is served past the threshold and
// killed as any other.
func TestBusyScriptInACoroutineIsKillable(t *testing.T) {
	s := startServer(t, "--lua-time-limit", "50")
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	other := redis.NewClient(options(s.Addr(), 2))
	defer other.Close()
	do(t, other, "PING")
	want(t, other, "[1 2 done]", "EVAL", "local co = coroutine.wrap(function(a) local b = coroutine.yield(a) coroutine.yield(b) return 'done' end) return {co(1), co(2), co()}", "0")
	done := make(chan error, 1)
	go func() {
		done <- runner.Do(context.Background(), "EVAL", "local co = coroutine.create(function() while true do end end) return coroutine.resume(co)", "0").Err()
	}()
	waitFor(t, "-BUSY", func() bool { return other.Do(ctx, "PING").Err() != nil })
	want(t, other, "OK", "SCRIPT", "KILL")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the script was not killed")
	}
	want(t, other, "PONG", "PING")
}

// Scripts call the session commands that do not block (an agent's
// atomic "checkpoint, fork, read" step); GEN and PREFILL wait for the
// engine, so scripts are refused them, as MULTI is.
func TestScriptsCallSessionCommands(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	n := do(t, c, "PREFILL", "s:main", "Once upon a time there was a little girl named Lily.").(int64)
	got := do(t, c, "EVAL", `
local pos = redis.call('CHECKPOINT', KEYS[1], 'start')
redis.call('FORK', KEYS[1], KEYS[2])
local toks = redis.call('TOKENS', KEYS[2])
local top = redis.call('LOGITS', KEYS[2], 'TOP', 1)
local back = redis.call('ROLLBACK', KEYS[2], -2)
return {pos, #toks, back, type(top)}`, "2", "s:main", "s:fork")
	if fmt.Sprint(got) != fmt.Sprintf("[%d %d %d table]", n, n, n-2) {
		t.Errorf("script over sessions = %v (prefill %d)", got, n)
	}
	want(t, c, n, "EVAL", "return #redis.call('TOKENS', KEYS[1])", "1", "s:main")
	wantErrPrefix(t, c, "ERR This Redis command is not allowed from script", "EVAL", "return redis.call('GEN', KEYS[1], 'more')", "1", "s:main")
	wantErrPrefix(t, c, "ERR This Redis command is not allowed from script", "EVAL", "return redis.call('PREFILL', KEYS[1], 'more')", "1", "s:main")
}

// A library set bigger than one snapshot aux field (1 MiB) is kept whole.
func TestBigFunctionLibrariesSurviveASnapshot(t *testing.T) {
	dir := t.TempDir()
	s := startIn(t, dir)
	c := redisClientAt(t, s.Addr())
	big := "#!lua name=big\nlocal pad = '" + strings.Repeat("x", 1500000) + "'\nredis.register_function('padlen', function() return #pad end)"
	do(t, c, "FUNCTION", "LOAD", big)
	do(t, c, "SAVE")
	s.stop()
	s2 := startIn(t, dir)
	want(t, redisClientAt(t, s2.Addr()), int64(1500000), "FCALL", "padlen", "0")
}

// busyGoCall is a script that spends about a second inside one Go
// function, where the instruction hook never fires: a Lua pattern that
// backtracks over every pair of positions.
const busyGoCall = "local i = string.find(string.rep('a', 600), '.-.-b') return i"

// A script stuck inside a Go library function (a backtracking pattern
// here) does not hold the loop: past the threshold other clients get
// -BUSY, SCRIPT KILL answers, and the kill lands when the function
// returns to Lua. (Redis itself answers nobody while its C function
// runs: reddwarf only.)
func TestBusyInsideAGoFunctionIsServedAndKillable(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--lua-time-limit", "50")
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	other := redis.NewClient(options(s.Addr(), 2))
	defer other.Close()
	do(t, other, "PING")
	done := make(chan error, 1)
	go func() { done <- runner.Do(context.Background(), "EVAL", busyGoCall, "0").Err() }()
	waitFor(t, "-BUSY", func() bool {
		err := other.Do(ctx, "GET", "x").Err()
		return err != nil && strings.HasPrefix(err.Error(), "BUSY Redis is busy running a script. You can only call SCRIPT KILL")
	})
	want(t, other, "OK", "SCRIPT", "KILL")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL...") {
			t.Errorf("killed script's reply: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the script was not killed")
	}
	want(t, other, "PONG", "PING")
}

// A function whose body loops in a metamethod or in a Go function is
// served and killed as a plain loop is; SHUTDOWN NOSAVE stops a server
// whose script never leaves a Go function.
func TestBusyFunctionsInMetamethodsAndGoCalls(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--lua-time-limit", "50")
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	other := redis.NewClient(options(s.Addr(), 2))
	defer other.Close()
	do(t, runner, "FUNCTION", "LOAD", `#!lua name=busy
redis.register_function('meta', function() local t = setmetatable({}, {__index = function() while true do end end}) return t.x end)
redis.register_function('forever', function() return string.find(string.rep('a', 100000), '.-.-.-b') end)`)
	done := make(chan error, 1)
	go func() { done <- runner.Do(context.Background(), "FCALL", "meta", "0").Err() }()
	waitFor(t, "-BUSY", func() bool {
		err := other.Do(ctx, "PING").Err()
		return err != nil && strings.HasPrefix(err.Error(), "BUSY Redis is busy running a script. You can only call FUNCTION KILL")
	})
	wantErrPrefix(t, other, "BUSY", "SCRIPT", "KILL")
	want(t, other, "OK", "FUNCTION", "KILL")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "Script killed by user") {
		t.Errorf("killed function's reply: %v", err)
	}
	want(t, other, "PONG", "PING")

	go runner.Do(context.Background(), "FCALL", "forever", "0")
	waitFor(t, "-BUSY", func() bool { return other.Do(ctx, "PING").Err() != nil })
	want(t, other, "OK", "FUNCTION", "KILL")
	wantErrPrefix(t, other, "BUSY", "GET", "x") // still inside string.find
	other.Do(ctx, "SHUTDOWN", "NOSAVE")
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after SHUTDOWN NOSAVE")
	}
}

// FUNCTION LOAD stops a library body that runs past 500 ms, with Redis
// 7.0's error. (A body sees only register_function and log: it can't sit
// in a longer Go function.)
func TestFunctionLoadTimesOut(t *testing.T) {
	c := client(t)
	start := time.Now()
	err := c.Do(ctx, "FUNCTION", "LOAD", "#!lua name=spin\nwhile true do end").Err()
	if err == nil || err.Error() != "ERR Error registering functions: ERR FUNCTION LOAD timeout" {
		t.Errorf("FUNCTION LOAD of a loop: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 10*time.Second {
		t.Errorf("FUNCTION LOAD of a loop took %v, want about 500ms", d)
	}
	want(t, c, "PONG", "PING")
	wantErr(t, c, "ERR Function not found", "FCALL", "x", "0")
}

// GEN jobs keep stepping while a script runs past the threshold, but
// what a job writes waits for the script's end: the script sees its key
// unchanged, and the GEN's reply comes after the script's. The script
// reads the engine's step count in INFO itself, past the threshold, 2 s
// apart; a long GEN runs meanwhile, and a short one finishes.
func TestGenStepsWhileAScriptIsBusy(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--lua-time-limit", "50")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	prompt := num(t, c, "PREFILL", "short", "Once upon a time")
	sub := c.Subscribe(ctx, "__gen__:short")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	type genDone struct {
		at  time.Time
		err error
	}
	gen := func(key string, n int, done chan<- genDone) {
		g := redis.NewClient(options(s.Addr(), 2))
		go func() {
			defer g.Close()
			err := g.Do(ctx, "GEN", key, " there was", "MAXTOKENS", n, "TEMPERATURE", 0, "STREAM").Err()
			done <- genDone{time.Now(), err}
		}()
	}
	longDone, shortDone := make(chan genDone, 1), make(chan genDone, 1)
	gen("long", 1500, longDone)
	gen("short", 50, shortDone)
	if _, err := sub.ReceiveMessage(ctx); err != nil { // generating
		t.Fatal(err)
	}
	runner := redis.NewClient(options(s.Addr(), 2))
	defer runner.Close()
	ev, err := runner.Do(ctx, "EVAL", `local function steps()
  return tonumber(string.match(redis.call('INFO', 'inference'), 'engine_steps:(%d+)'))
end
local function wait(s)
  local t = redis.call('TIME')
  while (redis.call('TIME')[1] - t[1]) * 1000000 + redis.call('TIME')[2] - t[2] < s * 1000000 do end
end
local n = #redis.call('TOKENS', KEYS[1])
wait(0.5)
local a = steps()
wait(2)
return {n, #redis.call('TOKENS', KEYS[1]), steps() - a}`, "1", "short").Slice()
	evalDone := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 || ev[0] != prompt || ev[1] != prompt {
		t.Errorf("the script saw the short GEN's key go %v, want %d tokens throughout", ev[:2], prompt)
	}
	if len(ev) == 3 && ev[2].(int64) == 0 {
		t.Errorf("the engine did not step while the script was busy")
	}
	if d := <-shortDone; d.err != nil {
		t.Errorf("the short GEN: %v", d.err)
	} else if early := evalDone.Sub(d.at); early > 200*time.Millisecond {
		// Both replies leave in one loop turn, on two connections: which
		// the test reads first is a toss-up; a reply not held would come
		// seconds before.
		t.Errorf("the short GEN replied %v before the script it finished under", early)
	}
	if d := <-longDone; d.err != nil {
		t.Errorf("the long GEN: %v", d.err)
	}
	if toks := do(t, c, "TOKENS", "short").([]any); int64(len(toks)) <= prompt {
		t.Errorf("the short GEN's tokens were not committed after the script: %d", len(toks))
	}
}

// A script that keeps allocating fails once it holds more than
// script-max-memory, with Lua's words for a failed allocation, and the
// server goes on; one that allocates as much but keeps none of it runs to
// its end; CONFIG SET script-max-memory 0 lifts the limit.
func TestScriptMemoryLimit(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t, "--script-max-memory", "64mb")
	c := redis.NewClient(options(s.Addr(), 2))
	defer c.Close()
	want(t, c, []any{"script-max-memory", "67108864"}, "CONFIG", "GET", "script-max-memory")
	hoard := "local t, s = {}, string.rep('x', 1024*1024) for i = 1, 300 do t[i] = s .. i end return #t"
	err := c.Do(ctx, "EVAL", hoard, "0").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR user_script:1: not enough memory") {
		t.Errorf("a script keeping 300 MB under a 64 MB limit: %v", err)
	}
	want(t, c, "PONG", "PING")
	want(t, c, "ok", "EVAL", "for i = 1, 300 do local s = string.rep('x', 1024*1024) .. i end return 'ok'", "0")
	do(t, c, "FUNCTION", "LOAD", "#!lua name=hog\nredis.register_function('hog', function() local t, s = {}, string.rep('y', 1024*1024) for i = 1, 300 do t[i] = s .. i end return #t end)")
	wantErrPrefix(t, c, "ERR user_function:2: not enough memory", "FCALL", "hog", "0")
	do(t, c, "CONFIG", "SET", "script-max-memory", "0")
	want(t, c, int64(300), "EVAL", hoard, "0")
}
