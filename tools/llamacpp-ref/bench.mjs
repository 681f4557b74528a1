// bench.mjs measures llama.cpp's prefill and decode speed on a GGUF, printing
// JSON lines in the shape of `reddwarf bench` so the two engines can be
// compared on the same file, prompt and threads.
//
//   node bench.mjs --model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N] [--sessions N]
//
// The prompts are the same pseudo-random token ids reddwarf bench uses
// (splitmix64, seed = session+1, ids in [3, vocab)); decoding is greedy, one
// token per call per session. With --sessions N the context has N sequences
// and each step's N calls are issued together, so node-llama-cpp batches
// them into one llama_decode, as reddwarf batches sessions into one Step. Two sets of rates are printed: wall clock around node-llama-cpp's
// calls (prefill_tok_s, decode_tok_s: what a Node program gets) and
// llama.cpp's own timers (llama_perf: llamacpp_prefill_tok_s,
// llamacpp_decode_tok_s: the engine alone, without the JS round trip; with
// several sessions llama.cpp counts batched decode steps as prompt
// evaluation, so only the wall-clock rates apply).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import path from "node:path";

const args = {model: "", threads: 1, "prompt-tokens": 128, "gen-tokens": 64, sessions: 1, kv: "f16"};
for (let i = 2; i < process.argv.length; i++) {
    const k = process.argv[i].replace(/^--?/, "");
    if (!(k in args)) throw new Error(`unknown flag ${process.argv[i]}`);
    args[k] = typeof args[k] === "number" ? Number(process.argv[++i]) : process.argv[++i];
}
if (!args.model) throw new Error("--model FILE is required");
const emit = (o) => console.log(JSON.stringify(o));

// llama.cpp's perf report arrives through the logger; keep its lines.
const perf = [];
const llama = await getLlama({
    gpu: false, build: "never", maxThreads: args.threads,
    logLevel: LlamaLogLevel.info,
    logger: (level, message) => { if (/eval time/.test(message)) perf.push(message); },
});
let t0 = performance.now();
const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
const ctxSize = args["prompt-tokens"] + args["gen-tokens"] + 8;
const N = args.sessions;
const context = await model.createContext({
    contextSize: ctxSize, sequences: N, batchSize: Math.max(512, args["prompt-tokens"] * N), threads: args.threads,
    flashAttention: false, performanceTracking: true,
});
const seqs = Array.from({length: N}, () => context.getSequence());
const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
emit({event: "loaded", engine: "llama.cpp", load_ms: performance.now() - t0, vocab});

// The same prompts as reddwarf bench's benchPrompt(n, vocab, seed).
function benchPrompt(n, vocab, seed) {
    const M = (1n << 64n) - 1n;
    const out = [];
    let x = (BigInt(seed) * 0x9e3779b97f4a7c15n) & M;
    for (let i = 0; i < n; i++) {
        x = (x + 0x9e3779b97f4a7c15n) & M;
        let z = x;
        z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
        z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
        z ^= z >> 31n;
        out.push(Number(3n + z % BigInt(vocab - 3)));
    }
    return out;
}
const prompts = seqs.map((_, i) => benchPrompt(args["prompt-tokens"], vocab, i + 1));
const greedy = {generateNext: {token: true, options: {temperature: 0}}};

// Prefill (the last prompt token also yields the first generated token).
await context.printTimings(); // reset llama.cpp's counters
perf.length = 0;
t0 = performance.now();
let res = await Promise.all(seqs.map((seq, i) =>
    seq.controlledEvaluate([...prompts[i].slice(0, -1), [prompts[i].at(-1), greedy]])));
const prefillMs = performance.now() - t0;
let toks = res.map((r) => r.at(-1).next.token);
const totalPrompt = args["prompt-tokens"] * N;
emit({event: "prefill", tokens: totalPrompt, ms: prefillMs, tok_s: totalPrompt / prefillMs * 1000});

// Decode, one token per session per step.
t0 = performance.now();
for (let step = 0; step < args["gen-tokens"]; step++) {
    res = await Promise.all(seqs.map((seq, i) => seq.controlledEvaluate([[toks[i], greedy]])));
    toks = res.map((r) => r[0].next.token);
    if ((step + 1) % 16 === 0 || step + 1 === args["gen-tokens"]) {
        const el = performance.now() - t0;
        emit({event: "decode", steps: step + 1, ms: el, tok_s: (step + 1) * N / el * 1000});
    }
}
const decodeMs = performance.now() - t0;
await context.printTimings();

// llama_perf lines: "prompt eval time = X ms / N tokens (...)" and "eval time = ...".
const rate = (re) => {
    for (const line of perf) {
        const m = line.match(re);
        if (m) return Number(m[2]) / Number(m[1]) * 1000;
    }
    return null;
};
emit({
    engine: "llama.cpp (node-llama-cpp 3.21.1, CPU)",
    model: path.basename(args.model), threads: args.threads,
    prompt_tokens: args["prompt-tokens"], gen_tokens: args["gen-tokens"], sessions: N, kv: "f16",
    prefill_tok_s: totalPrompt / prefillMs * 1000,
    decode_tok_s: args["gen-tokens"] * N / decodeMs * 1000,
    decode_tok_s_per_session: args["gen-tokens"] / decodeMs * 1000,
    prefill_ms: prefillMs, decode_ms: decodeMs,
    llamacpp_prefill_tok_s: rate(/prompt eval time\s*=\s*([\d.]+) ms\s*\/\s*(\d+) tokens/),
    llamacpp_decode_tok_s: rate(/^(?!.*prompt).*eval time\s*=\s*([\d.]+) ms\s*\/\s*(\d+) runs/),
});
await context.dispose();
await model.dispose();
