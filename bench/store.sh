#!/usr/bin/env bash
# store.sh measures the session store (issue 12) on this machine, every
# figure beside its baseline from the same run, and prints the CPU flags:
#
#   bench/store.sh [--gb N] [--count N]
#
#   1. GEN throughput of 8 clients with appendonly no, everysec and always
#      (BenchmarkServerDecodeAOF, --count runs each, medians by benchstat
#      when it is installed);
#   2. write amplification of one long session against rewriting its
#      whole prefix every 10,000 tokens (persist/store
#      BenchmarkWriteAmplification);
#   3. a restart with --gb GB of sessions (default 4): first PONG, RSS,
#      cold-session and 3,968-token-prefix time to first token beside
#      prefilling again, page-read rate beside dd's direct bandwidth
#      (BenchmarkStoreRestart).
set -euo pipefail
cd "$(dirname "$0")/.."
gb=4 count=5
while [ $# -gt 0 ]; do
	case "$1" in
	--gb) gb=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	*) echo "usage: $0 [--gb N] [--count N]" >&2; exit 2 ;;
	esac
done
echo "== host"
grep -m1 'model name' /proc/cpuinfo || true
echo "cores: $(nproc)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "flags: $(grep -m1 -o -w 'avx2\|avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
df -h "${TMPDIR:-/tmp}" | tail -1

echo "== GEN throughput, 8 clients: appendonly off / everysec / always"
go test ./redis-tests -run '^$' -bench 'ServerDecodeAOF' -benchtime 5x -count "$count" -timeout 60m | tee /tmp/store-aof.txt | grep -E '^Benchmark'
median() { # median tok/s of one mode
	grep "^BenchmarkServerDecodeAOF/aof=$1-" /tmp/store-aof.txt | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "tok/s") print $i}' |
		sort -n | awk '{v[NR] = $1} END {print v[int((NR+1)/2)]}'
}
off=$(median off) every=$(median everysec) always=$(median always)
echo "median tok/s: off $off   everysec $every   always $always"
awk -v o="$off" -v e="$every" -v a="$always" 'BEGIN {printf "everysec/off %.3f   always/off %.3f\n", e/o, a/o}'

echo "== write amplification (one long session)"
go test ./persist/store -run '^$' -bench 'WriteAmplification' -benchtime 1x | grep -E '^Benchmark|amplif'

echo "== restart with ${gb} GB of sessions"
REDDWARF_BENCH_STORE_MB=$((gb * 1024)) go test ./redis-tests -run '^$' -bench 'StoreRestart' -benchtime 1x -timeout 120m -v | grep -E '^Benchmark|store_bench_test'
