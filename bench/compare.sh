#!/usr/bin/env bash
# compare.sh runs llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binaries,
# build: "never") and `reddwarf bench` on the same GGUF with the same threads
# and prompt, alternating the two engines for --reps repetitions, and prints
# the medians side by side with their ratio and the decode roofline. This is
# how every speed change to reddwarf is judged; the output format below is
# stable (new lines may be added at the end of a section, nothing renamed).
#
#   bench/compare.sh --model FILE [--threads N] [--reps N] [--prompt-tokens N]
#                    [--gen-tokens N] [--cpus LIST] [--keep DIR] [--reddwarf BIN]
#                    [--base-model FILE]
#
# Defaults: --threads 2, --reps 3, --prompt-tokens 128, --gen-tokens 64.
# --cpus pins both engines with taskset (e.g. 0-1). --keep DIR keeps every
# run's JSON lines. --reddwarf BIN uses that binary instead of building the
# work tree. Without --model it uses models/stories260K.gguf.
#
# --base-model FILE is the same model with fewer layers (a few-layer file's
# decode time is mostly its output head, so one file can't tell what a layer
# costs): both engines also decode it, in the same repetitions, and a layer
# section gives the decode time per layer as the difference of the two
# files' ms per token divided by the difference of their layer counts,
# against the roofline of the bytes one layer reads. For deepseek4:
#
#   reddwarf synth --arch deepseek4 --shape full --layers 3 --quant q2 --fast -o /tmp/dsv4-3.gguf
#   reddwarf synth --arch deepseek4 --shape full --layers 4 --quant q2 --fast -o /tmp/dsv4-4.gguf
#   bench/compare.sh --model /tmp/dsv4-4.gguf --base-model /tmp/dsv4-3.gguf --prompt-tokens 32
#
# (llama.cpp 3.21.1 stops with SIGFPE on a 2-layer deepseek4 file: use 3 or
# more.) Bytes per token count a mixture of experts' routed experts at
# expert_used_count of expert_count (reddwarf bench's weight_bytes_per_token).
#
# Output (medians over the reps; "ratio" is reddwarf ÷ llama.cpp):
#
#   compare v1
#   model            FILE
#   machine          CPU model, cores; metalkit backend
#   threads          N   reps N   prompt N   gen N
#   read_gb_s        the memory read ceiling at --threads: the highest of the
#                    probe (bench/machine, before each reddwarf run:
#                    metalkit.ReadBandwidth, the best of several read loops
#                    at 1 to --threads threads) and the weight bytes per
#                    second either engine decoded at in any run, so that no
#                    engine is ever above "the roofline"
#   bytes_per_token  weight bytes one decode step reads
#   roofline_tok_s   read_gb_s ÷ bytes_per_token: the batch-1 decode ceiling
#   load             1-minute load average before and after the runs; above
#                    the core count, other programs shared the CPUs and the
#                    numbers say more about them than about the engines
#   read_probe       the probe's best loop and its GB/s (best of the reps),
#                    and each engine's best decode rate in weight GB/s
#   cpu_flags        the CPU's AVX2, AVX-512 and AMX flags
#
#   metric           llama.cpp     reddwarf      ratio
#   prefill_tok_s    …             …             …x
#   decode_tok_s     …             …             …x
#   roofline_frac    …             …
#
#   runs prefill     llama.cpp a b c | reddwarf a b c
#   runs decode      llama.cpp a b c | reddwarf a b c
#
# With --base-model, before RESULT (medians of each file's decode ms per
# token, then the difference):
#
#   layers           N (base FILE: M); per layer = (ms/token − base ms/token) ÷ (N − M)
#   layer_bytes      weight bytes one layer reads per decoded token
#   layer_roofline_ms  layer_bytes ÷ read_gb_s
#
#   metric           llama.cpp     reddwarf      ratio
#   layer_ms         …             …             …x   (ratio: llama.cpp ÷ reddwarf)
#   layer_roofline_frac  …         …
#   base_decode_tok_s    …         …             …x
#   runs layer_ms    llama.cpp a b c | reddwarf a b c  (each repetition's pair)
#
#   RESULT {one JSON object with all of the above}
#
# llama.cpp's rates are its own timers (llama_perf: prompt eval, eval), which
# leave out node's per-call overhead; its wall-clock rates are in the RESULT
# line (llamacpp_wall_*). Both engines use an f16 KV cache and no flash
# attention; prompts are the same pseudo-random token ids.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
model="$root/models/stories260K.gguf"
threads=2 reps=3 prompt=128 gen=64 cpus="" keep="" bin="" base=""
while [ $# -gt 0 ]; do
	case "$1" in
	--model) model=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--prompt-tokens) prompt=$2; shift 2 ;;
	--gen-tokens) gen=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--reddwarf) bin=$2; shift 2 ;;
	--base-model) base=$2; shift 2 ;;
	-h | --help) sed -n '2,79p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done
[ -f "$model" ] || { echo "compare.sh: no model $model" >&2; exit 2; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
if [ -n "$base" ]; then
	[ -f "$base" ] || { echo "compare.sh: no base model $base" >&2; exit 2; }
	base=$(cd "$(dirname "$base")" && pwd)/$(basename "$base")
fi

# llama.cpp through node-llama-cpp, pinned in tools/llamacpp-ref.
ref="$root/tools/llamacpp-ref"
if ! (cd "$ref" && node -e 'import("node-llama-cpp")' >/dev/null 2>&1); then
	echo "compare.sh: installing node-llama-cpp 3.21.1 in $ref" >&2
	(cd "$ref" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund node-llama-cpp@3.21.1; }) >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${keep:-$work}
mkdir -p "$out"
if [ -n "$bin" ]; then
	cp "$bin" "$work/reddwarf"
else
	(cd "$root" && go build -o "$work/reddwarf" .)
fi
(cd "$root" && go build -o "$work/machine" ./bench/machine)

load0=$(cut -d' ' -f1 /proc/loadavg)
pin=()
[ -n "$cpus" ] && pin=(taskset -c "$cpus")
args=(--model "$model" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen")
for i in $(seq 1 "$reps"); do
	echo "compare.sh: rep $i/$reps llama.cpp" >&2
	(cd "$ref" && "${pin[@]}" node bench.mjs "${args[@]}") >"$out/llamacpp-$i.jsonl" 2>"$out/llamacpp-$i.err"
	echo "compare.sh: rep $i/$reps read bandwidth" >&2
	"${pin[@]}" "$work/machine" --threads "$threads" >"$out/machine-$i.json"
	echo "compare.sh: rep $i/$reps reddwarf" >&2
	"${pin[@]}" "$work/reddwarf" bench "${args[@]}" >"$out/reddwarf-$i.jsonl" 2>"$out/reddwarf-$i.err"
	if [ -n "$base" ]; then
		bargs=(--model "$base" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen")
		echo "compare.sh: rep $i/$reps llama.cpp, base model" >&2
		(cd "$ref" && "${pin[@]}" node bench.mjs "${bargs[@]}") >"$out/base-llamacpp-$i.jsonl" 2>"$out/base-llamacpp-$i.err"
		echo "compare.sh: rep $i/$reps reddwarf, base model" >&2
		"${pin[@]}" "$work/reddwarf" bench "${bargs[@]}" --bandwidth=false >"$out/base-reddwarf-$i.jsonl" 2>"$out/base-reddwarf-$i.err"
	fi
done

load1=$(cut -d' ' -f1 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
ncpu=$(nproc)
backend=$(jq -r .backend "$out"/machine-1.json 2>/dev/null || echo unknown)

# Summarise: last JSON line of each run, medians, ratios.
jq -rs --arg model "$model" --arg cpu "$cpu" --argjson ncpu "$ncpu" --arg backend "$backend" --arg load0 "$load0" --arg load1 "$load1" \
	--argjson threads "$threads" --argjson reps "$reps" --argjson prompt "$prompt" --argjson gen "$gen" --arg base "$base" '
def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
def f(n): if . == null then "-" else (. * pow(10; n) | round) / pow(10; n) | tostring end;
def pad(w): tostring | . + (" " * ([w - length, 0] | max));
(map(select(.read_gb_s != null))) as $bw
| (map(select(.engine == "reddwarf" and (.base | not)))) as $rd
| (map(select(.engine != null and .engine != "reddwarf" and (.base | not)))) as $lc
| (map(select(.engine == "reddwarf" and .base))) as $brd
| (map(select(.engine != null and .engine != "reddwarf" and .base))) as $blc
| {
	model: $model, cpu: $cpu, cpus: $ncpu, backend: $backend, threads: $threads, reps: $reps,
	prompt_tokens: $prompt, gen_tokens: $gen, load_before: ($load0 | tonumber), load_after: ($load1 | tonumber),
	probe_read_gb_s: ($bw | map(.read_gb_s) | max),
	probe_best: ($bw | max_by(.read_gb_s) | .read_best),
	cpu_flags: ($bw[0].cpu_flags // [] | join(" ")),
	reddwarf_bench_read_gb_s: ($rd | map(.read_bandwidth_gb_s) | median),
	bytes_per_token: ($rd[0].weight_bytes_per_token),
	llamacpp_prefill_tok_s: ($lc | map(.llamacpp_prefill_tok_s // .prefill_tok_s) | median),
	llamacpp_decode_tok_s: ($lc | map(.llamacpp_decode_tok_s // .decode_tok_s) | median),
	llamacpp_wall_prefill_tok_s: ($lc | map(.prefill_tok_s) | median),
	llamacpp_wall_decode_tok_s: ($lc | map(.decode_tok_s) | median),
	reddwarf_prefill_tok_s: ($rd | map(.prefill_tok_s) | median),
	reddwarf_decode_tok_s: ($rd | map(.decode_tok_s) | median),
	runs: {
		llamacpp_prefill: ($lc | map(.llamacpp_prefill_tok_s // .prefill_tok_s)),
		llamacpp_decode: ($lc | map(.llamacpp_decode_tok_s // .decode_tok_s)),
		reddwarf_prefill: ($rd | map(.prefill_tok_s)),
		reddwarf_decode: ($rd | map(.decode_tok_s))
	}
  }
| .llamacpp_best_gb_s = (if .bytes_per_token then ($lc | map(.llamacpp_decode_tok_s // .decode_tok_s) | max) * .bytes_per_token / 1e9 else null end)
| .reddwarf_best_gb_s = (if .bytes_per_token then ($rd | map(.decode_tok_s) | max) * .bytes_per_token / 1e9 else null end)
| .read_gb_s = ([.probe_read_gb_s, .llamacpp_best_gb_s, .reddwarf_best_gb_s] | map(select(. != null)) | max)
| .roofline_tok_s = (if .read_gb_s and .bytes_per_token then .read_gb_s * 1e9 / .bytes_per_token else null end)
| .prefill_ratio = (if .llamacpp_prefill_tok_s then .reddwarf_prefill_tok_s / .llamacpp_prefill_tok_s else null end)
| .decode_ratio = (if .llamacpp_decode_tok_s then .reddwarf_decode_tok_s / .llamacpp_decode_tok_s else null end)
| .llamacpp_roofline_frac = (if .roofline_tok_s then .llamacpp_decode_tok_s / .roofline_tok_s else null end)
| .reddwarf_roofline_frac = (if .roofline_tok_s then .reddwarf_decode_tok_s / .roofline_tok_s else null end)
| if $base == "" then . else
	# Per layer: the two files differ only in layer count.
	def lcms: map(1000 / (.llamacpp_decode_tok_s // .decode_tok_s));
	def rdms: map(1000 / .decode_tok_s);
	def sub(a; b): if a == null or b == null then null else a - b end;
	def div(a; b): if a == null or b == null or b == 0 then null else a / b end;
	.base_model = $base
	| .layers = $rd[0].layers | .base_layers = $brd[0].layers
	| sub(.layers; .base_layers) as $dl
	| .layer_bytes = (if ($dl // 0) > 0 then div(sub($rd[0].weight_bytes_per_token; $brd[0].weight_bytes_per_token); $dl) else null end)
	| .llamacpp_base_decode_tok_s = ($blc | map(.llamacpp_decode_tok_s // .decode_tok_s) | median)
	| .reddwarf_base_decode_tok_s = ($brd | map(.decode_tok_s) | median)
	| .llamacpp_layer_ms = (if .layer_bytes then div(sub($lc | lcms | median; $blc | lcms | median); $dl) else null end)
	| .reddwarf_layer_ms = (if .layer_bytes then div(sub($rd | rdms | median; $brd | rdms | median); $dl) else null end)
	| .layer_ratio = div(.llamacpp_layer_ms; .reddwarf_layer_ms)
	| .base_decode_ratio = div(.reddwarf_base_decode_tok_s; .llamacpp_base_decode_tok_s)
	| .layer_roofline_ms = div(.layer_bytes; (if .read_gb_s then .read_gb_s * 1e6 else null end))
	| .llamacpp_layer_roofline_frac = div(.layer_roofline_ms; .llamacpp_layer_ms)
	| .reddwarf_layer_roofline_frac = div(.layer_roofline_ms; .reddwarf_layer_ms)
	| .runs.llamacpp_layer_ms = ([$lc | lcms, ($blc | lcms)] | transpose | map(div(sub(.[0]; .[1]); $dl)))
	| .runs.reddwarf_layer_ms = ([$rd | rdms, ($brd | rdms)] | transpose | map(div(sub(.[0]; .[1]); $dl)))
  end
| . as $r
| "compare v1",
  "model            \($r.model)",
  "machine          \($r.cpu), \($r.cpus) cores; metalkit \($r.backend)",
  "threads          \($r.threads)   reps \($r.reps)   prompt \($r.prompt_tokens)   gen \($r.gen_tokens)",
  "read_gb_s        \($r.read_gb_s | f(2))",
  "bytes_per_token  \($r.bytes_per_token)",
  "roofline_tok_s   \($r.roofline_tok_s | f(2))",
  "load             before \($r.load_before) after \($r.load_after) on \($r.cpus) cores",
  "read_probe       \($r.probe_best // "-") (best of \($r.reps)); decoding: llama.cpp \($r.llamacpp_best_gb_s | f(2)), reddwarf \($r.reddwarf_best_gb_s | f(2)) GB/s",
  "cpu_flags        \($r.cpu_flags)",
  "",
  "metric           \("llama.cpp" | pad(14))\("reddwarf" | pad(14))ratio",
  "prefill_tok_s    \($r.llamacpp_prefill_tok_s | f(2) | pad(14))\($r.reddwarf_prefill_tok_s | f(2) | pad(14))\($r.prefill_ratio | f(3))x",
  "decode_tok_s     \($r.llamacpp_decode_tok_s | f(2) | pad(14))\($r.reddwarf_decode_tok_s | f(2) | pad(14))\($r.decode_ratio | f(3))x",
  "roofline_frac    \($r.llamacpp_roofline_frac | f(3) | pad(14))\($r.reddwarf_roofline_frac | f(3))",
  "",
  "runs prefill     llama.cpp \($r.runs.llamacpp_prefill | map(f(1)) | join(" ")) | reddwarf \($r.runs.reddwarf_prefill | map(f(1)) | join(" "))",
  "runs decode      llama.cpp \($r.runs.llamacpp_decode | map(f(2)) | join(" ")) | reddwarf \($r.runs.reddwarf_decode | map(f(2)) | join(" "))",
  (if $base == "" then empty else
  "",
  "layers           \($r.layers) (base \($r.base_model): \($r.base_layers)); per layer = (ms/token − base ms/token) ÷ \(if $r.layers and $r.base_layers then $r.layers - $r.base_layers else "-" end)",
  "layer_bytes      \($r.layer_bytes | f(0))",
  "layer_roofline_ms  \($r.layer_roofline_ms | f(3))",
  "",
  "metric           \("llama.cpp" | pad(14))\("reddwarf" | pad(14))ratio",
  "layer_ms         \($r.llamacpp_layer_ms | f(3) | pad(14))\($r.reddwarf_layer_ms | f(3) | pad(14))\($r.layer_ratio | f(3))x",
  "layer_roofline_frac  \($r.llamacpp_layer_roofline_frac | f(3) | pad(10))\($r.reddwarf_layer_roofline_frac | f(3))",
  "base_decode_tok_s    \($r.llamacpp_base_decode_tok_s | f(2) | pad(10))\($r.reddwarf_base_decode_tok_s | f(2) | pad(14))\($r.base_decode_ratio | f(3))x",
  "runs layer_ms    llama.cpp \($r.runs.llamacpp_layer_ms | map(f(2)) | join(" ")) | reddwarf \($r.runs.reddwarf_layer_ms | map(f(2)) | join(" "))",
  "" end),
  "RESULT \($r | del(.runs) | tojson)"
' <(for f in "$out"/llamacpp-*.jsonl "$out"/reddwarf-*.jsonl "$out"/machine-*.json; do tail -n 1 "$f"; done
	for f in "$out"/base-*.jsonl; do [ -f "$f" ] && tail -n 1 "$f" | jq -c '. + {base: true}'; done)
