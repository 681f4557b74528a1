package redistests

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Random scripts sent to reddwarf and to redis-server 7.0 alike: each
// returns a random Lua value (numbers, strings, booleans, nil holes,
// nested tables, status and error tables, RESP3 map/set/double/big
// number tables, replies of redis.call and redis.pcall) under a random
// redis.setresp, to a RESP2 or RESP3 connection; the reply bytes must be
// the same. Maps and sets hold one element: Lua's table order is the
// interpreter's own; no NaN double: C's printf writes 0/0 as -nan.

// luaValue returns a random Lua expression.
func luaValue(r *rand.Rand, depth int) string {
	n := 14
	if depth > 2 {
		n = 8
	}
	switch r.IntN(n) {
	case 0:
		return strconv.Itoa(r.IntN(2001) - 1000)
	case 1:
		return []string{"3.99", "-2.5", "0.1", "1e15", "2^53", "-0.0", "1/0", "-1/0"}[r.IntN(8)]
	case 2:
		return []string{"'hello'", "''", "'a\\r\\nb'", "string.rep('x', 40)"}[r.IntN(4)]
	case 3:
		return []string{"true", "false", "nil"}[r.IntN(3)]
	case 4:
		return []string{"redis.call('get','s')", "redis.call('get','nokey')", "redis.call('incr','c')", "redis.call('lrange','l',0,-1)", "redis.call('set','s','v')", "redis.call('hgetall','h')", "redis.call('smembers','one')", "redis.call('zrange','z',0,-1,'withscores')", "redis.call('zscore','z','m')"}[r.IntN(9)]
	case 5:
		return []string{"redis.pcall('incr','l')", "redis.pcall('nosuch')", "redis.error_reply('MY boom')", "redis.status_reply('FINE')", "{ok='good'}", "{err='bad thing'}"}[r.IntN(6)]
	case 6:
		return []string{"{double=3.25}", "{double=-1/0}", "{big_number='123456789012345678901234567890'}", "{map={k=1}}", "{set={x=true}}", "{map={}}"}[r.IntN(6)]
	case 7:
		return "type(" + luaValue(r, depth+1) + ")"
	}
	k := r.IntN(4)
	parts := make([]string, k)
	for i := range parts {
		parts[i] = luaValue(r, depth+1)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// rawReply reads one whole reply and returns its bytes.
func rawReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	out := line
	body := strings.TrimSuffix(line[1:], "\r\n")
	switch line[0] {
	case '$', '=', '!':
		n, _ := strconv.Atoi(body)
		if n >= 0 {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(br, b); err != nil {
				return "", err
			}
			out += string(b)
		}
	case '*', '~', '>', '%':
		n, _ := strconv.Atoi(body)
		if line[0] == '%' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			s, err := rawReply(br)
			if err != nil {
				return "", err
			}
			out += s
		}
	}
	return out, nil
}

type respConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialProto(t *testing.T, addr string, proto int) *respConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &respConn{c: c, br: bufio.NewReader(c)}
	rc.do(t, "HELLO", strconv.Itoa(proto))
	return rc
}

func (rc *respConn) do(t *testing.T, args ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		t.Fatal(err)
	}
	s, err := rawReply(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScriptRepliesCompareWithRedis(t *testing.T) {
	if target == "redis" {
		t.Skip("the reference is the target: nothing to compare")
	}
	client(t)
	ref := referenceRedis(t).(*redis.Client)
	for _, proto := range []int{2, 3} {
		mine := dialProto(t, shared.Addr(), proto)
		theirs := dialProto(t, ref.Options().Addr, proto)
		for seed := uint64(1); seed <= 40; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(proto)))
			for _, c := range []*respConn{mine, theirs} {
				for _, line := range [][]string{{"FLUSHALL"}, {"SET", "s", "str"}, {"SET", "c", "10"}, {"RPUSH", "l", "a", "b", "c"},
					{"HSET", "h", "f", "v"}, {"SADD", "one", "m"}, {"ZADD", "z", "1.5", "m"}} {
					c.do(t, line...)
				}
			}
			for i := 0; i < 25; i++ {
				script := fmt.Sprintf("redis.setresp(%d) return %s", 2+r.IntN(2), luaValue(r, 0))
				a, b := mine.do(t, "EVAL", script, "0"), theirs.do(t, "EVAL", script, "0")
				if a != b {
					t.Fatalf("RESP%d seed %d: EVAL %q\nreddwarf: %q\nredis:    %q", proto, seed, script, a, b)
				}
			}
		}
	}
}

// The struct library packs and unpacks as Redis's does.
func TestStructLibraryCompareWithRedis(t *testing.T) {
	if target == "redis" {
		t.Skip("the reference is the target: nothing to compare")
	}
	client(t)
	ref := referenceRedis(t).(*redis.Client)
	mine, theirs := dialProto(t, shared.Addr(), 2), dialProto(t, ref.Options().Addr, 2)
	hex := "local function hex(s) local h = '' for i = 1, #s do h = h .. string.format('%02x', string.byte(s, i)) end return h end "
	for _, script := range []string{
		"return hex(struct.pack('>I2<i4bBhHlL', 258, -2, -1, 255, -300, 65000, -5, 7))",
		"return hex(struct.pack('!4 b i4 b d', 1, 2, 3, 1.5))",
		"return hex(struct.pack('c3 s x f >d', 'abcdef', 'zt', 0.5, -2.25))",
		"return hex(struct.pack('i8', 2^40))",
		"return {struct.unpack('>I2<i4bB', struct.pack('>I2<i4bB', 258, -2, -1, 255))}",
		"local a, b, c, n = struct.unpack('d s c2', struct.pack('d s c2', 3.25, 'str', 'xy')) return {tostring(a), b, c, n}",
		"return {struct.unpack('b c0', struct.pack('b c0', 3, 'abc'))}",
		"return {struct.size('!8 b d i2'), struct.size('<i3 h c5')}",
	} {
		a, b := mine.do(t, "EVAL", hex+script, "0"), theirs.do(t, "EVAL", hex+script, "0")
		if a != b {
			t.Errorf("EVAL %q\nreddwarf: %q\nredis:    %q", script, a, b)
		}
	}
	// Errors: the same message (gopher-lua words the argument's position
	// its own way: "to (anonymous)" for Lua's "to '?'").
	for script, msg := range map[string]string{
		"return {struct.unpack('h', 'ab', 2)}":     "data string too short",
		"return {pcall(struct.size, 's')}":         "option 's' has no fixed size",
		"return {pcall(struct.pack, 'i33', 1)}":    "integral size 33 is larger than limit of 32",
		"return {pcall(struct.unpack, 'd', 'ab')}": "data string too short",
		"return {pcall(struct.pack, 'q', 1)}":      "invalid format option 'q'",
		"return {pcall(struct.pack, '!3', 1)}":     "alignment 3 is not a power of 2",
	} {
		a, b := mine.do(t, "EVAL", script, "0"), theirs.do(t, "EVAL", script, "0")
		if !strings.Contains(a, msg) || !strings.Contains(b, msg) {
			t.Errorf("EVAL %q\nreddwarf: %q\nredis:    %q\nwant both to say %q", script, a, b, msg)
		}
	}
}
