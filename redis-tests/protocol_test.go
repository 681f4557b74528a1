package redistests

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// protoError sends a malformed request on a fresh connection and checks the
// exact error and that the server then closes the connection.
func protoError(t *testing.T, req, msg string) {
	t.Helper()
	r := dialRaw(t, shared.Addr())
	r.send(req)
	r.expect("-ERR Protocol error: " + msg)
	r.closed()
}

func TestMalformedRequestsGetAProtocolErrorAndAreDisconnected(t *testing.T) {
	client(t)
	protoError(t, "*3000000000\r\n", "invalid multibulk length")
	protoError(t, "*3\r\n$abc\r\n", "invalid bulk length")
	protoError(t, "*1\r\n$-5\r\n", "invalid bulk length")
	protoError(t, "*1\r\n$2000000000\r\n", "invalid bulk length")
	protoError(t, "*1\r\nfoo\r\n", "expected '$', got 'f'")
	protoError(t, "*abc\r\n", "invalid multibulk length")
	protoError(t, "set \"\"\"test-key\"\"\" test-value\r\n", "unbalanced quotes in request")
	protoError(t, "set \"a\\x\" b \"c\r\n", "unbalanced quotes in request")
}

// Lengths are integers as Redis's string2ll reads them: a sign, a leading
// zero or "-0" is a protocol error (the texts are redis-server 7.0.15's).
func TestSignedOrZeroPaddedLengthsAreProtocolErrors(t *testing.T) {
	client(t)
	protoError(t, "*1\r\n$+4\r\nPING\r\n", "invalid bulk length")
	protoError(t, "*1\r\n$04\r\nPING\r\n", "invalid bulk length")
	protoError(t, "*1\r\n$-0\r\n", "invalid bulk length")
	protoError(t, "*+1\r\n$4\r\nPING\r\n", "invalid multibulk length")
	protoError(t, "*01\r\n$4\r\nPING\r\n", "invalid multibulk length")
	protoError(t, "*00\r\nPING\r\n", "invalid multibulk length")
	protoError(t, "*-0\r\n", "invalid multibulk length")
	// Plain zero is a length like any other.
	r := dialRaw(t, shared.Addr())
	r.send("*0\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n")
	r.expect("$0")
	r.expect("")
}

func TestTooLongInlineOrHeaderLinesAreRejected(t *testing.T) {
	client(t)
	protoError(t, strings.Repeat("a", 70000), "too big inline request")
	protoError(t, "*"+strings.Repeat("1", 70000), "too big mbulk count string")
	protoError(t, "*1\r\n$"+strings.Repeat("1", 70000), "too big bulk count string")
}

func TestNonPositiveMultibulkCountIsIgnored(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("*-10\r\n*0\r\nPING\r\n")
	r.expect("+PONG")
}

func TestInlineCommandsWithQuotesAndBareNewlines(t *testing.T) {
	c := client(t)
	r := dialRaw(t, shared.Addr())
	r.send("set k \"a b\\x41\\n\"\r\n")
	r.expect("+OK")
	r.send("\r\n\r\nget k\n")
	if v := r.value(); v != "a bA\n" {
		t.Errorf("GET k = %q, want \"a bA\\n\" (\\x41 is 'A' inside double quotes)", v)
	}
	r.send("  echo   'it''s'  \r\n")
	r.expect("-ERR Protocol error: unbalanced quotes in request")
	want(t, c, "a bA\n", "GET", "k")
}

func TestMultibulkAndInlineRequestsCanBeMixedInOneWrite(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n")
	r.expect("+OK")
	r.expect("$2")
	r.expect("v1")
	r.expect("$0")
	r.expect("")
}

func TestRequestSplitAcrossManyWritesIsReassembled(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	req := "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
	for i := range req {
		r.send(req[i : i+1])
	}
	r.expect("+OK")
}

func TestUnauthenticatedClientsAreLimitedInRequestSize(t *testing.T) {
	s := startServer(t, "--requirepass", "pw")
	r := dialRaw(t, s.Addr())
	r.send("*20\r\n")
	r.expect("-ERR Protocol error: unauthenticated multibulk length")
	r.closed()
	r = dialRaw(t, s.Addr())
	r.send("*1\r\n$100000\r\n")
	r.expect("-ERR Protocol error: unauthenticated bulk length")
	r.closed()
}

func TestProtoMaxBulkLenLimitsBulkStrings(t *testing.T) {
	c := client(t)
	wantErr(t, c, "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive", "CONFIG", "SET", "proto-max-bulk-len", 100)
	want(t, c, "OK", "CONFIG", "SET", "proto-max-bulk-len", "1mb")
	defer do(t, c, "CONFIG", "SET", "proto-max-bulk-len", "512mb")
	protoError(t, "*1\r\n$1048577\r\n", "invalid bulk length")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "k", 1048576, "x")
	wantErr(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "k", 1048575, "xy")
}

func TestResp3UsesNullAndMapTypes(t *testing.T) {
	client(t)
	r := dialRaw(t, shared.Addr())
	r.send("GET nosuch\r\n")
	r.expect("$-1")
	r.send("HELLO 3\r\n")
	r.value()
	r.send("GET nosuch\r\nCONFIG GET maxmemory\r\nEXISTS nosuch\r\n")
	r.expect("_")
	r.expect("%1")
	r.expect("$9")
	r.expect("maxmemory")
	r.expect("$1")
	r.expect("0")
	r.expect(":0")
	r.send("HELLO 2\r\n")
	r.value()
	r.send("GET nosuch\r\n")
	r.expect("$-1")
}

func TestPipelineOfAThousandCommands(t *testing.T) {
	c := client(t)
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 1000; i++ {
			p.Incr(ctx, "counter")
		}
		return nil
	})
	if err != nil || len(cmds) != 1000 {
		t.Fatalf("Pipelined: %d cmds, %v", len(cmds), err)
	}
	for i, cmd := range cmds {
		if v := cmd.(*redis.IntCmd).Val(); v != int64(i+1) {
			t.Fatalf("reply %d = %d", i, v)
		}
	}
	// The same over one raw write.
	r := dialRaw(t, shared.Addr())
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("*2\r\n$4\r\nINCR\r\n$2\r\nrc\r\n")
	}
	r.send(b.String())
	for i := 1; i <= 1000; i++ {
		r.expect(":" + itoa(int64(i)))
	}
}
