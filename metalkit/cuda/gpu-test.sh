#!/bin/sh
# The GPU tests and bandwidth benchmark of metalkit/cuda, for a machine with
# an NVIDIA GPU and driver but no Go toolchain or CUDA toolkit.
#
#   On a machine with Go (here):   metalkit/cuda/gpu-test.sh build
#       writes metalkit/cuda/bin/cuda-{nocgo,cgo}.test (ignored by git:
#       carry metalkit/cuda/bin to the GPU machine)
#   On the GPU machine:            metalkit/cuda/gpu-test.sh run
#       writes into $OUT (default ./gpu-out): nvidia-smi.txt, cpu-flags.txt,
#       test-nocgo.txt and test-cgo.txt (go test -v output: every op against
#       metalkit's CPU device on odd sizes), bandwidth.json and .txt (HBM
#       read GB/s; Q8_0/Q4_K matmul GB/s on a 1B llama's shapes at 1, 8,
#       512 columns), stories.txt (stories260K greedy through the Device
#       ops on the GPU vs the published sample). Exit status 0 only if every
#       test passed.
#
# The test binary is built twice: without cgo (purego's own loader; what a
# plain `CGO_ENABLED=0 go build` gives users) and with it (the default when
# a C compiler is installed). The benchmark runs in the first only.
set -eu
cd "$(dirname "$0")"
case "${1:-}" in
build)
	mkdir -p bin
	CGO_ENABLED=0 go test -c -ldflags='-s -w' -o bin/cuda-nocgo.test .
	CGO_ENABLED=1 go test -c -ldflags='-s -w' -o bin/cuda-cgo.test .
	CGO_ENABLED=0 go test -c -ldflags='-s -w' -o bin/infer-nocgo.test ../../infer
	ls -l bin
	;;
run)
	out=${OUT:-$PWD/gpu-out}
	mkdir -p "$out"
	nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$out/nvidia-smi.txt"
	grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u >"$out/cpu-flags.txt" || true
	# One process per test: a kernel fault leaves the CUDA context unusable
	# and panics the binary, which must not hide the other tests' results.
	status=0
	tests='TestEntries TestGraph TestAddRMSNorm TestMatMul TestMatMulMMA TestMatMuls TestCPUMatMulBound TestUploadRefuses TestEmbed TestFloatOps TestAttention TestQueuedOps TestIQ2XXSGrid TestClampedSwiGLU TestMatMulExperts TestRMSNormF64 TestHCPre TestHCPost TestRopeTail TestRoundTrip TestRoute TestMatMulExpertsBy TestScaleRowsCombine TestCompress TestRingPut TestIndexerTopK TestAttendSink'
	for v in nocgo cgo; do
		: >"$out/test-$v.txt"
		for t in $tests; do
			REDDWARF_GPU=1 ./bin/cuda-$v.test -test.v -test.count=1 -test.run "^$t\$" >>"$out/test-$v.txt" 2>&1 || status=1
		done
	done
	REDDWARF_GPU=1 REDDWARF_GPU_BENCH="$out/bandwidth.json" ./bin/cuda-nocgo.test -test.v -test.count=1 -test.run '^TestBandwidth$' \
		>"$out/bandwidth.txt" 2>&1 || status=1
	# stories260K through the Device ops on the GPU: greedy text equals the
	# published sample, logits within 1e-2 of llama.Forward's (run where
	# its testdata is).
	bin=$PWD/bin
	(cd ../../infer && REDDWARF_GPU=1 "$bin/infer-nocgo.test" -test.v -test.count=1 -test.run '^TestDeviceStoriesGreedy$') \
		>"$out/stories.txt" 2>&1 || status=1
	for f in test-nocgo.txt test-cgo.txt bandwidth.txt stories.txt; do
		echo "== $f"
		grep -E '^(--- FAIL|FAIL|ok|PASS)|_test.go|panic' "$out/$f" | head -60
	done
	head -15 "$out/nvidia-smi.txt"
	exit $status
	;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
