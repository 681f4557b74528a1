#!/usr/bin/env bash
# redis-benchmark against reddwarf and against redis-server on this machine
# (both without persistence: no save points, appendonly no),
# test by test, with the same parameters: 50 clients, without pipelining
# (-P 1, N requests, default 100000) and with 16-deep pipelines (-P 16,
# N16 requests, default 10×N: a run of N at 16 times the rate is too short
# to measure). Before measuring, every test runs once on both servers
# (warm-up: the servers' heaps and the machine's caches, not what a fresh
# process pays once). Each pair then runs REPS times (default 3), and each
# server's best counts. Prints each pair of requests per second and the
# ratio reddwarf/redis, with the CPU's flags and the load average before
# and after. A benchmark, not a test: it never fails on a slow result.
#
#   redis-tests/bench.sh            # from anywhere in the repository
#   N=200000 redis-tests/bench.sh   # more requests (N16=2000000 then)
#   TESTS=lpush,lpop,sadd,hset,zadd,lrange_100,xadd redis-tests/bench.sh  # other tests
#   REPS=5 WARMUP=0 redis-tests/bench.sh  # best of 5, no warm-up pass
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${N:-100000}
n16=${N16:-$((10 * n))}
reps=${REPS:-3}
warmup=${WARMUP:-1}
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

# rps PORT PIPELINE TEST [REQUESTS] -> lines "test rps" (lrange_100 also
# prints the LPUSH that fills its list). redis-benchmark 7.0 has no XADD
# test of its own: "xadd" runs the command line XADD s * field value.
# redis-benchmark spins when its server dies: timeout bounds it.
rps() {
	local reqs=${4:-$n}
	if [ -z "${4:-}" ] && [ "$2" -gt 1 ]; then reqs=$n16; fi
	if [ "$3" = xadd ]; then
		redis-cli -p "$1" DEL s >/dev/null
		timeout 300 redis-benchmark -p "$1" -n "$reqs" -c 50 -P "$2" -q XADD s '*' field value 2>/dev/null |
			tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); print "XADD", a[1] }'
		return
	fi
	timeout 300 redis-benchmark -p "$1" -t "$3" -n "$reqs" -c 50 -P "$2" -q 2>/dev/null |
		tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); name = $1; gsub(/ /, "_", name); print name, a[1] }'
}

# load prints the load averages (1, 5, 15 minutes).
load() { cut -d' ' -f1-3 /proc/loadavg; }

if [ "$warmup" != 0 ]; then
	for t in ${tests//,/ }; do
		rps "$rd_port" 16 "$t" "$n" >/dev/null
		rps "$rs_port" 16 "$t" "$n" >/dev/null
	done
fi

echo "redis-benchmark -t $tests -c 50, -P 1 -n $n, -P 16 -n $n16, on $(nproc) cores; $(redis-server --version | cut -d' ' -f1-3); best of $reps$( [ "$warmup" = 0 ] && echo ", no warm-up")"
grep -m1 '^model name' /proc/cpuinfo
grep -m1 '^flags' /proc/cpuinfo
echo "load before: $(load)"
printf '%-22s %4s %14s %14s %8s\n' test P reddwarf redis ratio
best() { awk 'NF == 2 { if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' | sort; }
# Each test runs on both servers back to back, the first server taking
# turns, so that a change of load on a shared machine (which lasts
# seconds) falls on both sides of a ratio rather than on one server's
# whole series. With REPS=k each pair runs k times and each server's best
# counts: the run the other tenants of the machine disturbed least.
turn=0
for p in 1 16; do
	for t in ${tests//,/ }; do
		rd= rs=
		for _ in $(seq "$reps"); do
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
echo "load after: $(load)"
