// Package redistests holds black-box tests that talk to a running server
// through real clients: go-redis, redis-cli, raw TCP and ioredis (node/).
//
// Every test of a Redis command is written to pass against a real
// redis-server 7.0 first, then runs against reddwarf. REDDWARF_TARGET picks
// the server:
//
//	go test ./redis-tests                        # build and start reddwarf
//	REDDWARF_TARGET=redis go test ./redis-tests  # start redis-server from PATH
//
// One server is started per test binary on a free port (harness_test.go);
// tests that need their own configuration (requirepass) start another.
// Tests run one at a time and begin with FLUSHALL. Test names are sentences
// about behaviour, as in Redis's tests/unit/*.tcl. Files follow the command
// families: connection, keyspace, strings, tx, pubsub, protocol, server,
// clients (redis-cli and the ioredis suite in node/, whose test runs `npm ci`
// there the first time).
//
// Not tests: bench.sh runs redis-benchmark against reddwarf and redis-server
// side by side; tools/redis-tcl/run.sh runs Redis's own Tcl units.
package redistests
