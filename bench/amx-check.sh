#!/usr/bin/env bash
# amx-check.sh runs metalkit's AMX kernels where they can run: their tests
# against the pure-Go reference (odd sizes, every backend, each backend
# forced in turn through METALKIT_BACKEND) and their benchmarks beside the
# AVX-512 VNNI kernels in the same run. The development VM has no AMX, so
# `go test ./metalkit` there skips the amx backend and says so; run this on
# a Sapphire Rapids (or later) Linux host.
#
#   bench/amx-check.sh                 build the test binary with go, then check
#   bench/amx-check.sh build DIR       only build DIR/metalkit.test and copy
#                                      this script to DIR (for a host without Go)
#   DIR/amx-check.sh run DIR/metalkit.test [CPUS]
#                                      check with that binary; CPUS (default
#                                      0-1) pins the benchmarks with taskset
#
# It fails if the CPU reports AMX-INT8 but metalkit did not run its amx
# backend (no tile state from the kernel, or detection broken), or if any
# test fails. Benchmarks print GB/s of weight bytes (higher is better):
# BenchmarkQ8_0x16 compares the kernels on one thread with the weights in
# cache (b16: the AMX tile against two eight-column VNNI calls), and
# BenchmarkMatMul the whole MatMul on the pinned CPUs.
set -euo pipefail

mode=${1:-all}
case "$mode" in
build)
	dir=${2:?usage: amx-check.sh build DIR}
	root=$(cd "$(dirname "$0")/.." && pwd)
	mkdir -p "$dir"
	(cd "$root" && go test -c -ldflags="-s -w" -o "$dir/metalkit.test" ./metalkit)
	cp "$0" "$dir/amx-check.sh"
	echo "built $dir/metalkit.test; on the AMX host: $dir/amx-check.sh run $dir/metalkit.test"
	exit 0
	;;
all)
	root=$(cd "$(dirname "$0")/.." && pwd)
	bin=$(mktemp -d)/metalkit.test
	(cd "$root" && go test -c -o "$bin" ./metalkit)
	cpus=0-1
	;;
run)
	bin=${2:?usage: amx-check.sh run BINARY [CPUS]}
	cpus=${3:-0-1}
	;;
*) sed -n '2,22p' "$0"; exit 2 ;;
esac

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
echo "cpu_flags: $(grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "kernel: $(uname -r)"

echo "== tests, every backend against the Go reference"
out=$("$bin" -test.count=1 -test.v 2>&1) || { echo "$out" | grep -v '^=== \|^    --- PASS\|^--- PASS' | tail -40; exit 1; }
echo "$out" | grep -E '^(ok|PASS|FAIL|metalkit:)' || true
if grep -qw amx_int8 /proc/cpuinfo && ! echo "$out" | grep -q '^metalkit: backends tested: .*amx'; then
	echo "amx-check: the CPU has AMX-INT8 but the amx backend did not run" >&2
	exit 1
fi

for b in go avx2 avx512vnni amx; do
	echo "== MatMul tests with METALKIT_BACKEND=$b"
	METALKIT_BACKEND=$b "$bin" -test.count=1 -test.run 'Repack|MatMul|LowBit' 2>&1 | grep -E '^(ok|PASS|FAIL|---|metalkit:)|in use' || true
done

echo "== kernels, one thread, weights in cache (GB/s of weights)"
taskset -c "${cpus%%[-,]*}" "$bin" -test.run XXX -test.bench 'Q8_0x16/|QuantKernels/Q8_0' -test.benchtime 1s -test.count 3 2>&1 | grep -E '^Benchmark'
for b in avx512vnni amx; do
	echo "== MatMul 8192x2048, METALKIT_BACKEND=$b, cpus $cpus"
	METALKIT_BACKEND=$b taskset -c "$cpus" "$bin" -test.run XXX -test.bench 'MatMul/Q8_0x16/8192x2048|MatMulCold/Q8_0x16/8192' -test.benchtime 1s -test.count 3 2>&1 | grep -E '^Benchmark'
done
