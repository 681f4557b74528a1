#!/usr/bin/env bash
# gpu-seam.sh: metalkit/cuda's GPU op tests (TestGraph: ops through CUDA
# graphs give the bits of direct launches) and TestBandwidth (HBM read,
# the op floor, matmul on a 1B llama's shapes), stories260K through the
# Device ops (directly and as a CUDA graph a step, in lockstep), the
# seam's llama forward on the synth 1B Q8_0 and Q4_K files
# (TestDeviceLlamaSpeed: 64 greedy steps of the direct path, the graph
# path and the CPU path in lockstep; decode tok/s of both GPU paths,
# alternately), Model.Step through the Device ops on the GPU against the
# CPU path (TestSeam*: stories260K's sample, batches mixing prefill and
# decode over four architectures, sessions moved between the paths,
# forks, a full KV pool), TestDeviceLlamaProfile (each kernel's GPU time
# in a step: decode of one and of eight sessions, a 512-token prefill;
# printed last), and the server on the GPU (`--device cuda`, the
# synth 1B Q8_0 file): `GEN` timed from a client against `reddwarf bench
# --device cuda` on the same file (issue 15: within 5%), and deepseek4's
# device forward (TestDeepSeek4Seam*/cuda after the seam tests; last,
# TestDeviceDeepSeek4Full on 3- and 2-layer full-width q2 synth files), in
# one lent call.
#
# What travels: cuda.test, infer.test and reddwarf (which also writes the
# synth files) in one tar.xz, ~6.2 MB: xz over the three finds the
# embedded models and the runtime once (three separate .xz files would be
# ~9.3 MB). A call takes 64 MiB with the checkout, whose tracked files are
# ~50 MB (the Gemma 4 vocabulary is gzipped for this), so this leaves ~7 MB: check `du -sb` below.
#
#   Here:    bench/gpu-seam.sh pack DIR   (DIR: a folder of the checkout
#            the call sends, ignored by git, e.g. .gpu-seam listed in
#            .git/info/exclude; name it in the run call's carry)
#   There:   bash DIR/gpu-seam.sh run    (from the checkout's root; writes
#            its files to $OUT)
#   Either:  bench/gpu-seam.sh serve REDDWARF FILE DEVICE OUT (the server
#            step alone; here with DEVICE cpu or cpu-seam, to try it)
set -uo pipefail
export LC_ALL=C # byte counts for RESP's bulk strings

# resp_send ARGS...: one command on fd 3, as a RESP array, in one write:
# written piece by piece, the pieces after the first wait for the
# server's delayed ACK (Nagle's algorithm on bash's socket), about 40 ms a
# command, which the server never sees.
resp_send() {
	local a s
	printf -v s '*%d\r\n' $#
	for a in "$@"; do printf -v s '%s$%d\r\n%s\r\n' "$s" ${#a} "$a"; done
	printf '%s' "$s" >&3
}

# resp_read: one reply from fd 3, printed one value a line (arrays
# flattened; a bulk string's newlines kept); an error reply fails.
resp_read() {
	local line n i
	IFS= read -r line <&3 || return 1
	line=${line%$'\r'}
	case $line in
	'*'*) for ((i = 0; i < ${line#\*}; i++)); do resp_read || return 1; done ;;
	'$-1') echo ;;
	'$'*)
		n=${line#\$}
		IFS= read -r -N $((n + 2)) line <&3 || return 1
		printf '%s\n' "${line%$'\r\n'}"
		;;
	-*) echo "$line" >&2; return 1 ;;
	*) echo "${line:1}" ;;
	esac
}

# serve REDDWARF FILE DEVICE OUT: start the server on DEVICE with FILE,
# time GEN of 256 tokens after a prefilled prompt (three sessions, one
# after another) from a client, and run `reddwarf bench` on the same
# file, device and lengths; print both rates and their ratio. Both sides
# read every step's logits back and take their argmax.
serve() {
	local rd=$1 file=$2 dev=$3 out=$4 port=$((20000 + RANDOM % 20000)) i t0 t1 stats
	local dir
	dir=$(mktemp -d)
	: >"$out/serve.txt"
	"$rd" --port $port --dir "$dir" --save "" --appendonly no --model "$file" --device "$dev" --ctx 1024 >"$out/serve-server.log" 2>&1 &
	local pid=$!
	# The server goes with this script, however it ends (timeout's TERM).
	trap "kill $pid 2>/dev/null" EXIT
	trap "exit 1" TERM INT
	for ((i = 0; i < 600; i++)); do
		{ exec 3<>/dev/tcp/127.0.0.1/$port; } 2>/dev/null && break
		kill -0 $pid 2>/dev/null || { echo "server exited"; tail -5 "$out/serve-server.log"; return 1; }
		sleep 0.1
	done
	resp_send INFO model && resp_read | tr -d '\r' | grep -E '^(device|architecture|quant):'
	for i in 1 2 3; do
		resp_send PREFILL "g$i" "Once upon a time there was a little robot who lived in a big old house by the sea." && resp_read >/dev/null
		# The client's clock is bash's own (EPOCHREALTIME, µs) and the
		# reply is read into a file by this shell: nothing forks between
		# the two readings (a $(date) or a pipe costs milliseconds a fork).
		t0=${EPOCHREALTIME/./}
		resp_send GEN "g$i" "" MAXTOKENS 256 TEMPERATURE 0 WITHSTATS
		resp_read >"$dir/reply"
		t1=${EPOCHREALTIME/./}
		stats=$(tr '\n' ' ' <"$dir/reply")
		echo "gen $i: client $((t1 - t0)) µs; $stats" | sed -E 's/text .*prompt_tokens/prompt_tokens/' >>"$out/serve.txt"
		tail -1 "$out/serve.txt"
	done
	exec 3>&-
	kill $pid
	wait $pid 2>/dev/null
	rm -rf "$dir"
	"$rd" bench --model "$file" --device "$dev" --prompt-tokens 24 --gen-tokens 256 --bandwidth=false >"$out/serve-bench.json" 2>&1
	tail -1 "$out/serve-bench.json" | grep -oE '"(model|decode_tok_s)":[^,]*'
	# GEN's rate from the client: its tokens over the client's time of
	# each GEN (the prefill of the empty prompt is nothing), and the
	# server's own (WITHSTATS decode_ms); bench's decode rate; the ratio
	# of the best GEN to bench.
	awk -v bench="$(tail -1 "$out/serve-bench.json" | grep -oE '"decode_tok_s":[0-9.e+]*' | cut -d: -f2)" '
		/^gen / { us = $4; for (i = 1; i <= NF; i++) { if ($i == "generated_tokens") n = $(i+1); if ($i == "decode_ms") d = $(i+1) }
			r = n / (us / 1e6); if (r > best) best = r
			printf "GEN %d tokens: %.1f tok/s from the client, %.1f by the server'"'"'s decode_ms\n", n, r, n / (d / 1e3) }
		END { printf "best GEN %.1f tok/s, reddwarf bench %.1f tok/s: ratio %.3f\n", best, bench, best / bench }' "$out/serve.txt"
}

case "${1:-}" in
pack)
	dir=${2:?usage: gpu-seam.sh pack DIR}
	root=$(cd "$(dirname "$0")/.." && pwd)
	set -e
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/cuda.test" ./metalkit/cuda)
	(cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$tmp/infer.test" ./infer)
	(cd "$root" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$tmp/reddwarf" .)
	tar -C "$tmp" -cf - cuda.test infer.test reddwarf | xz -9e -T1 >"$dir/gpu-seam.tar.xz"
	cp "$0" "$dir/"
	rm -rf "$tmp"
	du -sb "$dir"
	;;
serve)
	serve "${2:?usage: gpu-seam.sh serve REDDWARF FILE DEVICE OUT}" "${3:?}" "${4:?}" "${5:?}"
	;;
run)
	here=$(cd "$(dirname "$0")" && pwd)
	out=${OUT:-$PWD/gpu-out}
	mkdir -p "$out"
	w=/tmp/gpu-seam
	mkdir -p "$w"
	xz -dc "$here/gpu-seam.tar.xz" | tar -C "$w" -xf -
	(
		echo "start $(date -u +%T)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
		uptime
		nvidia-smi --query-gpu=name,driver_version --format=csv
	) >"$out/host.txt" 2>&1
	# The 1B files are written on CPUs 4-15 while the op tests (which time
	# nothing) run on 0-3.
	(for q in q8_0 q4_k; do taskset -c 4-15 "$w/reddwarf" synth --arch llama --shape 1b --quant $q -o "$w/llama1b-$q.gguf" || exit 1; done) >"$out/synth.txt" 2>&1 &
	spid=$!
	# Every op test in its own process (a kernel fault poisons the context).
	for t in TestEntries TestGraph TestAddRMSNorm TestQueuedOps TestAttention TestFloatOps TestEmbed TestUploadRefuses TestCPUMatMulBound TestMatMul TestMatMulMMA TestMatMuls TestIQ2XXSGrid TestClampedSwiGLU TestMatMulExperts TestRMSNormF64 TestHCPre TestHCPost TestRopeTail TestRoundTrip TestRoute TestMatMulExpertsBy TestScaleRowsCombine TestCompress TestRingPut TestIndexerTopK TestAttendSink; do
		(cd metalkit/cuda && REDDWARF_GPU=1 timeout 45 taskset -c 0-3 "$w/cuda.test" -test.v -test.count=1 -test.run "^$t\$") >>"$out/tests.txt" 2>&1
		echo "$t rc=$? at $(date -u +%T)" >>"$out/tests.txt"
	done
	# Model.Step through the Device ops on the GPU (the cuda subtests).
	(cd infer && REDDWARF_GPU=1 timeout 90 taskset -c 0-3 "$w/infer.test" -test.v -test.count=1 -test.run '^TestSeam.*/cuda') >"$out/seam.txt" 2>&1
	echo "seam rc=$? at $(date -u +%T)" >>"$out/seam.txt"
	# deepseek4 through the Device ops on the GPU against its host forward
	# and transformers (tiny models, a small synth file).
	(cd infer && REDDWARF_GPU=1 timeout 120 taskset -c 0-3 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeepSeek4Seam.*/cuda') >"$out/ds4-seam.txt" 2>&1
	echo "ds4 seam rc=$? at $(date -u +%T)" >>"$out/ds4-seam.txt"
	wait $spid
	echo "synth rc=$? at $(date -u +%T)" >>"$out/synth.txt"
	# Issue 15's criterion first, so that a call cut short still has it.
	timeout 90 bash "$0" serve "$w/reddwarf" "$w/llama1b-q8_0.gguf" cuda "$out" >"$out/serve-summary.txt" 2>&1
	echo "serve rc=$? at $(date -u +%T)" >>"$out/serve-summary.txt"
	for q in q8_0 q4_k; do
		(cd infer && REDDWARF_GPU_MODEL="$w/llama1b-$q.gguf" timeout 100 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceLlamaSpeed$') >"$out/device-llama-$q.txt" 2>&1
		echo "llama $q rc=$? at $(date -u +%T)" >>"$out/device-llama-$q.txt"
		# Where a step's GPU time goes, kernel by kernel (decode of 1 and
		# of 8 sessions, a 512-token prefill), into the same file: only
		# 8 files come back from a call.
		(cd infer && REDDWARF_GPU_MODEL="$w/llama1b-$q.gguf" timeout 100 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceLlamaProfile$') >>"$out/device-llama-$q.txt" 2>&1
		echo "profile $q rc=$? at $(date -u +%T)" >>"$out/device-llama-$q.txt"
	done
	(cd infer && REDDWARF_GPU=1 timeout 60 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceStoriesGreedy$') >"$out/stories.txt" 2>&1
	echo "stories rc=$? at $(date -u +%T)" >>"$out/stories.txt"
	(cd metalkit/cuda && REDDWARF_GPU=1 REDDWARF_GPU_BENCH="$out/bandwidth.json" timeout 150 "$w/cuda.test" -test.v -test.count=1 -test.run '^TestBandwidth$') >"$out/bandwidth.txt" 2>&1
	echo "bandwidth rc=$? at $(date -u +%T)" >>"$out/bandwidth.txt"
	# deepseek4 at full width (issue 15): 3- and 2-layer q2 synth files;
	# 64 greedy steps against the host forward, then decode ms/token of
	# both (their difference: one layer). Last, so that a call cut short
	# keeps the rest.
	(for l in 3 2; do "$w/reddwarf" synth --arch deepseek4 --shape full --layers $l --quant q2 --fast -o "$w/ds4-full-$l.gguf" || exit 1; done) >"$out/ds4-synth.txt" 2>&1
	echo "ds4 synth rc=$? at $(date -u +%T)" >>"$out/ds4-synth.txt"
	(cd infer && REDDWARF_GPU=1 REDDWARF_GPU_DS4="$w/ds4-full-3.gguf $w/ds4-full-2.gguf" timeout 300 "$w/infer.test" -test.v -test.count=1 -test.run '^TestDeviceDeepSeek4Full$') >"$out/ds4-full.txt" 2>&1
	echo "ds4 full rc=$? at $(date -u +%T)" >>"$out/ds4-full.txt"
	rm -f "$w"/ds4-full-*.gguf
	(echo "end $(date -u +%T)"; uptime) >>"$out/host.txt"
	cat "$out/host.txt"
	grep -h -E '^(--- |ok|FAIL)|rc=|panic|_test.go|tok/s|cuda: ' "$out"/tests.txt "$out"/seam.txt "$out"/stories.txt "$out"/device-llama-*.txt "$out"/ds4-seam.txt "$out"/ds4-full.txt | grep -v -E -- '--- PASS: TestMatMul(MMA)?/|/bound vs float64 ' | head -100
	cat "$out/serve-summary.txt"
	grep -h -E 'GB/s|µs|rc=' "$out/bandwidth.txt" | sed 's/^ *bench_test.go:[0-9]*: //' | head -120
	# The profiles last (the reply keeps the output's end): per step,
	# each kernel's GPU time, the 12 longest of each table and its total
	# (the whole tables are in device-llama-*.txt).
	for q in q8_0 q4_k; do
		echo "== profile $q"
		sed -n -e '/GPU time by kernel/,/^ *total/p' -e '/^profile .*rc=/p' "$out/device-llama-$q.txt" |
			sed -e 's/^ *device.*_test.go:[0-9]*: //' -e 's/^        //' |
			awk '/GPU time by kernel/ { n = 0 } { n++ } n <= 14 || /^total|rc=/'
	done
	;;
*)
	sed -n '2,/^set /p' "$0" | sed '$d'
	exit 2
	;;
esac
