#!/usr/bin/env bash
# compare-gpu.sh: one GPU-machine session that runs everything issue 15 and
# issue 14 need from a machine with an NVIDIA GPU, for a machine that has
# no Go toolchain and cannot reach the network (the lent H100/H200 hosts).
#
#   Here (Go, network):  bench/compare-gpu.sh pack BUNDLE BUILD_SCRIPT
#       builds metalkit/cuda's test binaries (gpu-test.sh build), the AMX
#       check binary (bench/amx-check.sh build), a stripped reddwarf, and
#       copies BUNDLE (node-llama-cpp 3.21.1's llama/gitRelease.bundle, from
#       `npm pack node-llama-cpp@3.21.1`) beside them, all into
#       metalkit/cuda/bin (ignored by git; carry it). It is ~60 MB: a lent
#       machine's call takes 64 MiB with the session's checkout, and this
#       project's tracked files are ~59 MB of that, so it does not travel
#       there; bench/gpu-quick.sh is the run that does (without llama.cpp).
#   There:               bench/compare-gpu.sh run
#       writes into $OUT (default ./gpu-out):
#         gpu-test.log and gpu-test.sh's files: every metalkit/cuda op against
#           the CPU device, stories260K greedy on the GPU, HBM read GB/s and
#           matmul GB/s on a 1B llama's shapes (bandwidth.json);
#         amx-check.txt: metalkit's AMX kernels vs the Go reference and their
#           benchmarks beside AVX-512 VNNI (the host's CPU flags in it);
#         llama-bench-*.txt: llama.cpp's CUDA build (build-llamacpp-cuda.sh,
#           the same source as the CPU baseline) on reddwarf synth's 1B
#           llama in Q8_0 and Q4_K, -ngl 99, prefill 512 and decode 128.
#       The llama.cpp build runs on CPUs 2.. while the GPU tests run, so
#       that amx-check's benchmarks (CPUs 0-1) come after it has finished.
#
# Each part has its own time limit so that one hang cannot eat the others'
# results; the whole run fits the 10 minutes a lent machine gives a call.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/metalkit/cuda/bin
case "${1:-}" in
pack)
	bundle=${2:?usage: compare-gpu.sh pack BUNDLE [BUILD_SCRIPT]}
	# The team's llama.cpp CUDA build script (build-llamacpp-cuda.sh) is
	# not part of this repository: name it, or set LLAMACPP_CUDA_BUILD.
	build=${3:-${LLAMACPP_CUDA_BUILD:?usage: compare-gpu.sh pack BUNDLE BUILD_SCRIPT (build-llamacpp-cuda.sh)}}
	set -e
	"$root/metalkit/cuda/gpu-test.sh" build
	"$root/bench/amx-check.sh" build "$bin/amx"
	(cd "$root" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$bin/reddwarf" .)
	gzip -f -9 "$bin/reddwarf" # the carry limit is 64 MiB; the bundle alone is 35 MB
	cp "$bundle" "$bin/llama.bundle"
	cp "$build" "$bin/build-llamacpp-cuda.sh"
	du -sh "$bin"
	;;
run)
	out=${OUT:-$PWD/gpu-out}
	export OUT=$out
	mkdir -p "$out"
	ncpu=$(nproc)
	(
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $ncpu cores"
		echo "cpu_flags: $(grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		uptime
		nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
		which nvcc cmake ninja git && nvcc --version | tail -2
	) >"$out/host.txt" 2>&1
	# llama.cpp's CUDA build and the 1B models, in the background on CPUs 2..
	work=/tmp/cgpu
	mkdir -p "$work"
	gunzip -c "$bin/reddwarf.gz" >"$work/reddwarf" && chmod +x "$work/reddwarf"
	(
		taskset -c 2-$((ncpu - 1)) bash "$bin/build-llamacpp-cuda.sh" "$bin/llama.bundle" "$work/lcpp" 90 >"$out/llamacpp-build.txt" 2>&1
		echo "build rc=$?" >>"$out/llamacpp-build.txt"
	) &
	build=$!
	for q in q8_0 q4_k; do
		taskset -c 2-$((ncpu - 1)) "$work/reddwarf" synth --arch llama --shape 1b --quant $q -o "$work/llama1b-$q.gguf" >"$out/synth-$q.txt" 2>&1 &
	done
	timeout 200 "$root/metalkit/cuda/gpu-test.sh" run >"$out/gpu-test.log" 2>&1
	echo "gpu-test rc=$?" >>"$out/gpu-test.log"
	wait $build
	wait
	# The seam's llama forward on the GPU (infer's TestDeviceLlamaSpeed):
	# decode tok/s and 64 greedy steps against the CPU path. avx2: the CPU
	# backend that keeps Q8_0/Q4_K in the GGUF layout the GPU uploads.
	for q in q8_0 q4_k; do
		(cd "$root/infer" && METALKIT_BACKEND=avx2 REDDWARF_GPU_MODEL="$work/llama1b-$q.gguf" timeout 60 "$bin/infer-nocgo.test" \
			-test.v -test.count=1 -test.run '^TestDeviceLlamaSpeed$') >"$out/device-llama-$q.txt" 2>&1
	done
	(cd "$bin/amx" && timeout 100 ./amx-check.sh run ./metalkit.test 0-1) >"$out/amx-check.txt" 2>&1
	echo "amx-check rc=$?" >>"$out/amx-check.txt"
	# The CPU path before and after the seam (infer's BenchmarkStep,
	# stories260K, one thread) on this quiet host, alternating, when pack
	# was given the two test binaries (infer-before/after.test.gz).
	if [ -f "$bin/infer-before.test.gz" ]; then
		for v in before after; do gunzip -c "$bin/infer-$v.test.gz" >"$work/infer-$v.test" && chmod +x "$work/infer-$v.test"; done
		for rep in 1 2 3; do
			for v in before after; do
				echo "$v $(cd "$root/infer" && taskset -c 0 "$work/infer-$v.test" -test.run XXX -test.bench BenchmarkStep -test.benchtime 500x -test.cpu 1 2>&1 | grep '^Benchmark' | tr '\n' ' ')"
			done
		done >"$out/seam-bench.txt" 2>&1
	fi
	lb=$work/lcpp/build/bin/llama-bench
	for q in q8_0 q4_k; do
		[ -x "$lb" ] && [ -f "$work/llama1b-$q.gguf" ] || { echo "no llama-bench or model" >"$out/llama-bench-$q.txt"; continue; }
		timeout 45 "$lb" -m "$work/llama1b-$q.gguf" -ngl 99 -p 512 -n 128 -r 3 -o md >"$out/llama-bench-$q.txt" 2>&1
	done
	(uptime; nvidia-smi) >>"$out/host.txt" 2>&1
	tail -5 "$out"/gpu-test.log "$out"/amx-check.txt "$out"/llama-bench-*.txt "$out"/device-llama-*.txt "$out/seam-bench.txt" "$out/llamacpp-build.txt"
	;;
*)
	sed -n '2,24p' "$0"
	exit 2
	;;
esac
