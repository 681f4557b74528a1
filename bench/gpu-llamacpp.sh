#!/usr/bin/env bash
# gpu-llamacpp.sh: issue 15's baseline and our GPU figures in one call of a
# lent GPU machine: llama.cpp's CUDA llama-bench on reddwarf's synth 1B
# llama (Q8_0 and Q4_K), and beside it, on the same GPU, metalkit/cuda's
# tests and matmul bandwidth and the seam's llama forward (infer's
# TestDeviceLlamaSpeed: decode tok/s, 64 greedy steps against the CPU path)
# on the same two files, and stories260K through the Device ops.
#
# It fits the call's 64 MiB beside the session's ~59.5 MB checkout: the
# llama.cpp source is node-llama-cpp 3.21.1's bundle (the CPU baseline's
# source) cut to what llama-bench's CUDA build needs (2.2 MB xz: no other
# backends, no models, tools/ only llama-bench, whose CMakeLists is
# replaced by one line), the models are written there by bench/synth1b
# (1.1 MB xz, the same files as `reddwarf synth --shape 1b`), and the test
# binaries are xz'd.
#
#   Here:   bench/gpu-llamacpp.sh pack DIR BUNDLE
#           (DIR: a folder of the session's checkout that .git/info/exclude
#           ignores; BUNDLE: node-llama-cpp's llama/gitRelease.bundle, from
#           `npm pack node-llama-cpp@3.21.1`)
#   There:  DIR/gpu-llamacpp.sh run     (from the checkout's root; $OUT)
set -uo pipefail
case "${1:-}" in
pack)
	dir=${2:?usage: gpu-llamacpp.sh pack DIR BUNDLE}
	bundle=${3:?usage: gpu-llamacpp.sh pack DIR BUNDLE}
	root=$(cd "$(dirname "$0")/.." && pwd)
	set -e
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	git clone -q "$bundle" "$tmp/full"
	src=$tmp/src/llama.cpp
	mkdir -p "$src/tools"
	(cd "$tmp/full" && cp -r CMakeLists.txt CMakePresets.json cmake include src common ggml vendor licenses LICENSE "$src/")
	cp -r "$tmp/full/tools/llama-bench" "$src/tools/"
	printf 'llama_add_compile_flags()\nadd_subdirectory(llama-bench)\n' >"$src/tools/CMakeLists.txt"
	(cd "$src/ggml/src" && rm -rf ggml-cann ggml-et ggml-hexagon ggml-metal ggml-opencl ggml-openvino ggml-sycl \
		ggml-virtgpu ggml-vulkan ggml-webgpu ggml-zdnn ggml-zendnn ggml-musa ggml-hip)
	(cd "$tmp/src" && tar cf - llama.cpp) | xz -9e -T2 >"$dir/llamacpp-src.tar.xz"
	(cd "$root/metalkit/cuda" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/cuda-nocgo.test" .)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/infer.test" ./infer)
	(cd "$root" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$tmp/synth1b" ./bench/synth1b)
	for f in cuda-nocgo.test infer.test synth1b; do xz -9e -T2 -c "$tmp/$f" >"$dir/$f.xz"; done
	cp "$0" "$dir/"
	rm -rf "$tmp"
	du -sb "$dir"
	;;
run)
	here=$(cd "$(dirname "$0")" && pwd)
	out=${OUT:-$PWD/gpu-out}
	mkdir -p "$out"
	w=/tmp/gl
	mkdir -p "$w"
	ncpu=$(nproc)
	for f in cuda-nocgo.test infer.test synth1b; do xz -dc "$here/$f.xz" >"$w/$f" && chmod +x "$w/$f"; done
	(
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $ncpu cores"
		echo "cpu_flags: $(grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		uptime
		nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
		which nvcc cmake ninja && nvcc --version | tail -2
	) >"$out/host.txt" 2>&1
	# llama.cpp's CUDA build (build-llamacpp-cuda.sh's flags, less the app
	# the cut source leaves out) and the models, on CPUs 2.. meanwhile.
	(
		cd "$w" && xz -dc "$here/llamacpp-src.tar.xz" | tar xf - && cd llama.cpp &&
			taskset -c 2-$((ncpu - 1)) cmake -B build -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=ON \
				-DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
				-DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release &&
			taskset -c 2-$((ncpu - 1)) cmake --build build -j"$((ncpu - 2))" --target llama-bench
		echo "build rc=$?"
	) >"$out/llamacpp-build.txt" 2>&1 &
	build=$!
	taskset -c 2-$((ncpu - 1)) "$w/synth1b" "$w" >"$out/synth.txt" 2>&1 &
	synth=$!
	for t in TestMatMul TestCPUMatMulBound TestUploadRefuses TestEmbed TestFloatOps TestAttention; do
		(cd metalkit/cuda && REDDWARF_GPU=1 timeout 60 "$w/cuda-nocgo.test" -test.v -test.count=1 -test.run "^$t\$") >>"$out/test-nocgo.txt" 2>&1
		echo "$t rc=$?" >>"$out/test-nocgo.txt"
	done
	(cd metalkit/cuda && REDDWARF_GPU=1 REDDWARF_GPU_BENCH="$out/bandwidth.json" timeout 60 "$w/cuda-nocgo.test" -test.v -test.count=1 -test.run '^TestBandwidth$') >"$out/bandwidth.txt" 2>&1
	(cd infer && REDDWARF_GPU=1 timeout 60 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceStoriesGreedy$') >"$out/stories.txt" 2>&1
	echo "stories rc=$?" >>"$out/stories.txt"
	wait $synth
	for q in q8_0 q4_k; do
		(cd infer && METALKIT_BACKEND=avx2 REDDWARF_GPU_MODEL="$w/llama1b-$q.gguf" timeout 90 "$w/infer.test" \
			-test.v -test.count=1 -test.run '^TestDeviceLlamaSpeed$') >"$out/device-llama-$q.txt" 2>&1
	done
	wait $build
	lb=$w/llama.cpp/build/bin/llama-bench
	for q in q8_0 q4_k; do
		timeout 60 "$lb" -m "$w/llama1b-$q.gguf" -ngl 99 -p 512 -n 128 -r 3 -o md >"$out/llama-bench-$q.txt" 2>&1
	done
	uptime >>"$out/host.txt"
	grep -h -E '^(--- |ok|FAIL)|rc=|panic|_test.go' "$out"/test-nocgo.txt "$out"/stories.txt "$out"/device-llama-*.txt | head -40
	grep -h 'GB/s' "$out/bandwidth.txt" | head -14
	tail -3 "$out/llamacpp-build.txt"
	cat "$out"/llama-bench-*.txt
	;;
*)
	sed -n '2,21p' "$0"
	exit 2
	;;
esac
