#!/usr/bin/env bash
# gpu-seam.sh: metalkit/cuda's GPU op tests (TestGraph: ops through CUDA
# graphs give the bits of direct launches) and TestBandwidth (HBM read,
# the op floor, matmul on a 1B llama's shapes), stories260K through the
# Device ops (directly and as a CUDA graph a step, in lockstep), and the
# seam's llama forward on the synth 1B Q8_0 and Q4_K files
# (TestDeviceLlamaSpeed: 64 greedy steps of the direct path, the graph
# path and the CPU path in lockstep; decode tok/s of both GPU paths,
# alternately), in one lent call. What travels: three xz'd binaries, ~5.1 MB
# (a call takes 64 MiB with the checkout, whose tracked files are ~60 MB).
#
#   Here:    bench/gpu-seam.sh pack DIR   (DIR: a folder of the checkout
#            the call sends, ignored by git, e.g. .gpu-seam listed in
#            .git/info/exclude; name it in the run call's carry)
#   There:   bash DIR/gpu-seam.sh run    (from the checkout's root; writes
#            eight files to $OUT)
set -uo pipefail
case "${1:-}" in
pack)
	dir=${2:?usage: gpu-seam.sh pack DIR}
	root=$(cd "$(dirname "$0")/.." && pwd)
	set -e
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/cuda.test" ./metalkit/cuda)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/infer.test" ./infer)
	(cd "$root" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$tmp/synth1b" ./bench/synth1b)
	for f in cuda.test infer.test synth1b; do xz -9e -T2 -c "$tmp/$f" >"$dir/$f.xz"; done
	cp "$0" "$dir/"
	rm -rf "$tmp"
	du -sb "$dir"
	;;
run)
	here=$(cd "$(dirname "$0")" && pwd)
	out=${OUT:-$PWD/gpu-out}
	mkdir -p "$out"
	w=/tmp/gpu-seam
	mkdir -p "$w"
	for f in cuda.test infer.test synth1b; do xz -dc "$here/$f.xz" >"$w/$f" && chmod +x "$w/$f"; done
	(
		echo "start $(date -u +%T)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
		uptime
		nvidia-smi --query-gpu=name,driver_version --format=csv
	) >"$out/host.txt" 2>&1
	# The 1B files are written on CPUs 4-15 while the op tests (which time
	# nothing) run on 0-3.
	taskset -c 4-15 "$w/synth1b" "$w" >"$out/synth.txt" 2>&1 &
	spid=$!
	# Every op test in its own process (a kernel fault poisons the context).
	for t in TestEntries TestGraph TestAddRMSNorm TestQueuedOps TestAttention TestFloatOps TestEmbed TestUploadRefuses TestCPUMatMulBound TestMatMul; do
		(cd metalkit/cuda && REDDWARF_GPU=1 timeout 45 taskset -c 0-3 "$w/cuda.test" -test.v -test.count=1 -test.run "^$t\$") >>"$out/tests.txt" 2>&1
		echo "$t rc=$? at $(date -u +%T)" >>"$out/tests.txt"
	done
	wait $spid
	echo "synth rc=$? at $(date -u +%T)" >>"$out/synth.txt"
	for q in q8_0 q4_k; do
		(cd infer && METALKIT_BACKEND=avx2 REDDWARF_GPU_MODEL="$w/llama1b-$q.gguf" timeout 100 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceLlamaSpeed$') >"$out/device-llama-$q.txt" 2>&1
		echo "llama $q rc=$? at $(date -u +%T)" >>"$out/device-llama-$q.txt"
	done
	(cd infer && REDDWARF_GPU=1 timeout 60 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceStoriesGreedy$') >"$out/stories.txt" 2>&1
	echo "stories rc=$? at $(date -u +%T)" >>"$out/stories.txt"
	(cd metalkit/cuda && REDDWARF_GPU=1 REDDWARF_GPU_BENCH="$out/bandwidth.json" timeout 75 "$w/cuda.test" -test.v -test.count=1 -test.run '^TestBandwidth$') >"$out/bandwidth.txt" 2>&1
	echo "bandwidth rc=$? at $(date -u +%T)" >>"$out/bandwidth.txt"
	(echo "end $(date -u +%T)"; uptime) >>"$out/host.txt"
	cat "$out/host.txt"
	grep -h -E '^(--- |ok|FAIL)|rc=|panic|_test.go|tok/s|cuda: ' "$out"/tests.txt "$out"/stories.txt "$out"/device-llama-*.txt | grep -v -- '--- PASS: TestMatMul/' | head -70
	grep -h -E 'GB/s|µs|rc=' "$out/bandwidth.txt" | head -40
	;;
*)
	sed -n '2,/^set /p' "$0" | sed '$d'
	exit 2
	;;
esac
