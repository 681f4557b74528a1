#!/usr/bin/env bash
# gpu-quick.sh: the GPU-machine run that fits what a lent machine's call can
# take along. The call sends the checkout the session started in (whose
# tracked files are ~59 MB of the 64 MiB limit) plus one carried folder, so
# only ~7.8 MB of binaries travel, xz-compressed: metalkit/cuda's GPU tests
# (no cgo), infer's test binary (stories260K through the Device ops on the
# GPU; BenchmarkStep), the same infer tests built from another commit (the
# CPU path before a change, BenchmarkStep only) and metalkit's test binary
# for bench/amx-check.sh. llama.cpp's source bundle (35 MB) does not fit:
# bench/compare-gpu.sh is the full run for when it does.
#
#   Here:    bench/gpu-quick.sh pack DIR [BEFORE-COMMIT]
#            (DIR: a folder of the session's checkout that .git/info/exclude
#            ignores; name it in the run call's carry)
#   There:   DIR/gpu-quick.sh run      (from the checkout's root; writes $OUT)
set -uo pipefail
case "${1:-}" in
pack)
	dir=${2:?usage: gpu-quick.sh pack DIR [BEFORE-COMMIT]}
	root=$(cd "$(dirname "$0")/.." && pwd)
	set -e
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	(cd "$root/metalkit/cuda" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/cuda-nocgo.test" .)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/infer.test" ./infer)
	(cd "$root" && go test -c -ldflags='-s -w' -o "$tmp/metalkit.test" ./metalkit)
	if [ -n "${3:-}" ]; then
		git -C "$root" archive "$3" | tar -x -C "$tmp" --one-top-level=before
		# Only BenchmarkStep: the other tests' code would cost ~0.5 MB of
		# the few that travel.
		rm -f "$tmp/before/infer/"*_test.go
		cp "$root/infer/bench_test.go" "$tmp/before/infer/"
		(cd "$tmp/before" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/infer-before.test" ./infer)
	fi
	for f in "$tmp"/*.test; do xz -9e -T2 -c "$f" >"$dir/$(basename "$f").xz"; done
	cp "$0" "$root/bench/amx-check.sh" "$dir/"
	rm -rf "$tmp"
	du -sb "$dir"
	;;
run)
	here=$(cd "$(dirname "$0")" && pwd)
	out=${OUT:-$PWD/gpu-out}
	mkdir -p "$out"
	b=/tmp/gq
	mkdir -p "$b"
	for f in "$here"/*.test.xz; do xz -dc "$f" >"$b/$(basename "$f" .xz)" && chmod +x "$b/$(basename "$f" .xz)"; done
	(
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
		echo "cpu_flags: $(grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		uptime
		nvidia-smi
	) >"$out/host.txt" 2>&1
	# Every GPU test in its own process (a kernel fault poisons the context).
	for t in TestMatMul TestUploadRefuses TestEmbed TestFloatOps TestAttention TestCPUMatMulBound; do
		(cd metalkit/cuda && REDDWARF_GPU=1 timeout 60 "$b/cuda-nocgo.test" -test.v -test.count=1 -test.run "^$t\$") >>"$out/test-nocgo.txt" 2>&1
		echo "$t rc=$?" >>"$out/test-nocgo.txt"
	done
	(cd metalkit/cuda && REDDWARF_GPU=1 REDDWARF_GPU_BENCH="$out/bandwidth.json" timeout 90 "$b/cuda-nocgo.test" -test.v -test.count=1 -test.run '^TestBandwidth$') >"$out/bandwidth.txt" 2>&1
	(cd infer && REDDWARF_GPU=1 timeout 90 "$b/infer.test" -test.v -test.count=1 -test.run '^TestDeviceStoriesGreedy$') >"$out/stories.txt" 2>&1
	echo "stories rc=$?" >>"$out/stories.txt"
	# The CPU path before and after (BenchmarkStep, stories260K, one thread,
	# pinned to CPU 2), alternating, on this quiet host.
	if [ -x "$b/infer-before.test" ]; then
		for rep in 1 2 3; do
			for v in infer-before infer; do
				echo "$v $(cd infer && taskset -c 2 "$b/$v.test" -test.run XXX -test.bench BenchmarkStep -test.benchtime 1000x -test.cpu 1 2>&1 | grep '^Benchmark' | tr '\n' ' ')"
			done
		done >"$out/seam-bench.txt" 2>&1
	fi
	(cd "$here" && timeout 150 ./amx-check.sh run "$b/metalkit.test" 0-1) >"$out/amx-check.txt" 2>&1
	echo "amx-check rc=$?" >>"$out/amx-check.txt"
	uptime >>"$out/host.txt"
	grep -h -E '^(--- |ok|FAIL|PASS)|rc=|panic|_test.go' "$out"/test-nocgo.txt "$out"/stories.txt | head -60
	grep -h 'GB/s' "$out/bandwidth.txt" | head -20
	cat "$out/seam-bench.txt" 2>/dev/null
	tail -25 "$out/amx-check.txt"
	;;
*)
	sed -n '2,16p' "$0"
	exit 2
	;;
esac
