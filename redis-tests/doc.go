// Package redistests holds black-box tests that talk to a running server
// through real clients: go-redis, redis-cli, raw TCP and ioredis (node/).
//
// Every test is written to pass against a real redis-server 7.0 first, then
// run against reddwarf. REDDWARF_TARGET picks the server:
//
//	go test ./redis-tests                        # build and start reddwarf
//	REDDWARF_TARGET=redis go test ./redis-tests  # start /usr/bin/redis-server
//
// One server is started per test binary on a free port (harness_test.go);
// tests that need their own configuration (requirepass) start another.
// Test names are sentences about behaviour, as in Redis's tests/unit/*.tcl.
package redistests
