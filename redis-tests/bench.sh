#!/usr/bin/env bash
# redis-benchmark against reddwarf and against redis-server on this machine
# (both without persistence: no save points, appendonly no),
# test by test, with the same parameters: ping, set and get, 100000 requests,
# 50 clients, without pipelining (-P 1) and with 16-deep pipelines (-P 16).
# Prints each pair of requests per second and the ratio reddwarf/redis.
# A benchmark, not a test: it never fails on a slow result.
#
#   redis-tests/bench.sh            # from anywhere in the repository
#   N=1000000 redis-tests/bench.sh  # more requests
#   TESTS=lpush,lpop,sadd,hset,zadd,lrange_100,xadd redis-tests/bench.sh  # other tests
#   REPS=3 redis-tests/bench.sh     # each pair 3 times, each server's best
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${N:-100000}
reps=${REPS:-}
tests=${TESTS:-ping,set,get}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

for tool in redis-server redis-benchmark redis-cli go; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not installed" >&2; exit 1; }
done

# free_port prints a random port in 30000-59999 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((RANDOM % 30000 + 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

wait_ping() {
	for _ in $(seq 200); do
		[ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	echo "bench.sh: nothing answers PING on port $1" >&2
	exit 1
}

(cd "$root" && go build -o "$tmp/reddwarf" .)

rd_port=$(free_port)
mkdir -p "$tmp/rd"
"$tmp/reddwarf" --port "$rd_port" --dir "$tmp/rd" --save "" --appendonly no >"$tmp/rd.log" 2>&1 &
pids+=($!)
rs_port=$(free_port)
mkdir -p "$tmp/rs"
redis-server --port "$rs_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/rs" >"$tmp/rs.log" 2>&1 &
pids+=($!)
wait_ping "$rd_port"
wait_ping "$rs_port"

# rps PORT PIPELINE TEST -> lines "test rps" (lrange_100 also prints the
# LPUSH that fills its list). redis-benchmark 7.0 has no XADD test of its
# own: "xadd" runs the command line XADD s * field value.
rps() {
	if [ "$3" = xadd ]; then
		redis-cli -p "$1" DEL s >/dev/null
		redis-benchmark -p "$1" -n "$n" -c 50 -P "$2" -q XADD s '*' field value 2>/dev/null |
			tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); print "XADD", a[1] }'
		return
	fi
	redis-benchmark -p "$1" -t "$3" -n "$n" -c 50 -P "$2" -q 2>/dev/null |
		tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); name = $1; gsub(/ /, "_", name); print name, a[1] }'
}

# Each test runs on both servers back to back, the first server taking
# turns, so that a change of load on a shared machine (which lasts
# seconds) falls on both sides of a ratio rather than on one server's
# whole series. With REPS=k each pair runs k times and each server's best
# counts: the run the other tenants of the machine disturbed least.
echo "redis-benchmark -t $tests -n $n -c 50 on $(nproc) cores; $(redis-server --version | cut -d' ' -f1-3)${reps:+; best of $reps}"
printf '%-22s %4s %14s %14s %8s\n' test P reddwarf redis ratio
best() { awk 'NF == 2 { if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' | sort; }
turn=0
for p in 1 16; do
	for t in ${tests//,/ }; do
		rd= rs=
		for _ in $(seq "${reps:-1}"); do
			if ((turn++ % 2 == 0)); then
				rd+=$(rps "$rd_port" "$p" "$t")$'\n'
				rs+=$(rps "$rs_port" "$p" "$t")$'\n'
			else
				rs+=$(rps "$rs_port" "$p" "$t")$'\n'
				rd+=$(rps "$rd_port" "$p" "$t")$'\n'
			fi
		done
		join <(best <<<"$rd") <(best <<<"$rs") | while read -r name a b; do
			printf '%-22s %4s %14s %14s %8s\n' "$name" "$p" "$a" "$b" \
				"$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		done
	done
done
