#!/usr/bin/env bash
# cpu-amx.sh: issue 14's compare on an AMX host, in one lent call of a GPU
# machine (its Xeon has amx_tile amx_int8 amx_bf16; the GPU is not used).
# llama.cpp's CPU llama-bench, built there from the source node-llama-cpp
# 3.21.1 ships (its git bundle, cut as bench/gpu-llamacpp.sh cuts it, less
# CUDA) with GGML_NATIVE=ON (so with its AMX kernels, as node-llama-cpp's
# Sapphire Rapids build), against `reddwarf bench` on the same synth 1B
# Q8_0 and Q4_K files, both pinned to the same CPUs (two CPUs on distinct
# physical cores, then one), alternating engine by engine for REPS
# repetitions; medians and their ratio, and the CPU flags.
#
# llama-bench's prompt is random tokens, reddwarf bench's its own prompt:
# the same counts (prefill 128 tokens in one batch, decode 64 tokens), as
# compare.sh does with node-llama-cpp.
#
#   Here:   bench/cpu-amx.sh pack DIR BUNDLE   (DIR: ignored by git, e.g.
#           zz_amx in .git/info/exclude; BUNDLE: node-llama-cpp's
#           llama/gitRelease.bundle)
#   There:  bash DIR/cpu-amx.sh run            (writes to $OUT)
set -uo pipefail
REPS=${REPS:-3}

# lc_rate: llama-bench's tokens per second (avg_ts) from its JSON lines.
lc_rate() { grep -oE '"avg_ts": *[0-9.e+]+' | tail -1 | grep -oE '[0-9.e+]+$'; }
case "${1:-}" in
pack)
	dir=${2:?usage: cpu-amx.sh pack DIR BUNDLE}
	bundle=${3:?usage: cpu-amx.sh pack DIR BUNDLE}
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
		ggml-virtgpu ggml-vulkan ggml-webgpu ggml-zdnn ggml-zendnn ggml-musa ggml-hip ggml-cuda)
	(cd "$tmp/src" && tar cf - llama.cpp) | xz -9e -T2 >"$dir/llamacpp-cpu-src.tar.xz"
	(cd "$root" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$tmp/reddwarf" .)
	xz -9e -T2 -c "$tmp/reddwarf" >"$dir/reddwarf.xz"
	cp "$0" "$dir/"
	rm -rf "$tmp"
	du -sb "$dir"
	;;
run)
	here=$(cd "$(dirname "$0")" && pwd)
	out=${OUT:-$PWD/amx-out}
	mkdir -p "$out"
	w=/tmp/amx
	mkdir -p "$w"
	ncpu=$(nproc)
	xz -dc "$here/reddwarf.xz" >"$w/reddwarf" && chmod +x "$w/reddwarf"
	# Two CPUs on distinct physical cores (hyperthread siblings would
	# share one core's units), the rest for building.
	a=0
	b=$(for c in /sys/devices/system/cpu/cpu[0-9]*; do
		n=${c##*cpu}
		[ "$(cat $c/topology/core_id)" != "$(cat /sys/devices/system/cpu/cpu0/topology/core_id)" ] && echo $n
	done | sort -n | head -1)
	rest=$(seq 0 $((ncpu - 1)) | grep -v -x -e $a -e "$b" | paste -sd, -)
	(
		echo "start $(date -u +%T)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $ncpu CPUs; measuring on CPUs $a,$b (core ids $(cat /sys/devices/system/cpu/cpu$a/topology/core_id),$(cat /sys/devices/system/cpu/cpu$b/topology/core_id))"
		echo "cpu_flags: $(grep -m1 -o -w 'avx2\|fma\|f16c\|avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		lscpu | grep -E '^(L1d|L2|L3)'
		uptime
	) >"$out/host.txt" 2>&1
	(
		cd "$w" && xz -dc "$here/llamacpp-cpu-src.tar.xz" | tar xf - && cd llama.cpp &&
			taskset -c "$rest" cmake -B build -G Ninja -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
				-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release &&
			taskset -c "$rest" cmake --build build -j"$((ncpu - 2))" --target llama-bench
		echo "build rc=$?"
	) >"$out/llamacpp-build.txt" 2>&1 &
	build=$!
	for q in q8_0 q4_k; do
		taskset -c "$rest" "$w/reddwarf" synth --arch llama --shape 1b --quant $q -o "$w/llama1b-$q.gguf" >>"$out/synth.txt" 2>&1
	done
	# metalkit's backend here, as reddwarf bench reports it.
	taskset -c $a "$w/reddwarf" bench --prompt-tokens 8 --gen-tokens 4 --threads 1 --bandwidth=false 2>&1 | tail -1 >"$out/backend.json"
	wait $build
	tail -2 "$out/llamacpp-build.txt"
	lb=$w/llama.cpp/build/bin/llama-bench
	grep -i -m3 'amx\|AVX512' "$out/llamacpp-build.txt" >/dev/null
	: >"$out/runs.txt"
	for q in q8_0 q4_k; do
		for t in 2 1; do
			cpus=$a,$b
			[ $t = 1 ] && cpus=$a
			for ((r = 1; r <= REPS; r++)); do
				lc=$(taskset -c $cpus timeout 120 "$lb" -m "$w/llama1b-$q.gguf" -t $t -p 128 -n 0 -r 1 -o jsonl 2>/dev/null | lc_rate)
				ld=$(taskset -c $cpus timeout 120 "$lb" -m "$w/llama1b-$q.gguf" -t $t -p 0 -n 64 -r 1 -o jsonl 2>/dev/null | lc_rate)
				rj=$(taskset -c $cpus timeout 120 "$w/reddwarf" bench --model "$w/llama1b-$q.gguf" --threads $t --prompt-tokens 128 --gen-tokens 64 --bandwidth=false 2>/dev/null | tail -1)
				rp=$(echo "$rj" | grep -oE '"prefill_tok_s":[0-9.e+]*' | cut -d: -f2)
				rd=$(echo "$rj" | grep -oE '"decode_tok_s":[0-9.e+]*' | cut -d: -f2)
				echo "$q t$t rep$r llamacpp_prefill $lc llamacpp_decode $ld reddwarf_prefill $rp reddwarf_decode $rd" | tee -a "$out/runs.txt"
			done
		done
	done
	uptime >>"$out/host.txt"
	cat "$out/host.txt" "$out/backend.json"
	# Medians per (file, threads) and the ratios.
	awk '
		function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		{ k = $1 " " $2; keys[k] = 1; lp[k] = lp[k] " " $5; ld[k] = ld[k] " " $7; rp[k] = rp[k] " " $9; rd[k] = rd[k] " " $11 }
		END { printf "%-10s %-8s %12s %12s %7s %12s %12s %7s\n", "file", "threads", "lc_prefill", "rd_prefill", "ratio", "lc_decode", "rd_decode", "ratio"
			for (k in keys) { split(k, f, " "); a = med(lp[k]); b = med(rp[k]); c = med(ld[k]); d = med(rd[k])
				printf "%-10s %-8s %12.2f %12.2f %6.2fx %12.2f %12.2f %6.2fx\n", f[1], f[2], a, b, b / a, c, d, d / c } }' "$out/runs.txt" | tee "$out/summary.txt"
	;;
*)
	sed -n '2,20p' "$0"
	exit 2
	;;
esac
