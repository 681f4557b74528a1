// archs.mjs writes llama.cpp's next-token log-probabilities for a model of
// any architecture with a large real vocabulary, the references of
// infer/archs_test.go.
//
//   node archs.mjs model.gguf out.json
//
// The prompts are texts, tokenised here by llama.cpp with the model's own
// vocabulary (BOS first when the vocabulary asks for one, special tokens
// parsed), so the Go test checks reddwarf's tokenizer against the same ids
// before it feeds them. A full-vocabulary row per position would be
// megabytes for a 150k-262k vocabulary, so each position keeps the
// log-probs of every 509th token id and of the 16 most probable ones,
// as [id, log-prob] pairs (rounded to 6 decimals). llama.cpp runs on the
// CPU with its default f16 KV cache, flash attention off, 1 thread.
import {getLlama} from "node-llama-cpp";
import {createHash} from "node:crypto";
import {readFileSync, writeFileSync} from "node:fs";
import path from "node:path";

const [modelPath, outPath] = process.argv.slice(2);
if (!modelPath || !outPath) throw new Error("usage: node archs.mjs model.gguf out.json");

// Keep in sync with nothing: the Go test reads the texts from the json.
const texts = [
    "Hello world",
    "Once upon a time, there was a little robot who loved to paint the sky. Every morning it climbed the hill behind the town and waited for the sun.",
    "<|im_start|>user\nWhat is 2+2? Answer in one word.<|im_end|>\n<|im_start|>assistant\n",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])",
];
const stride = 509, top = 16;

const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({contextSize: 512, batchSize: 512, threads: 1, flashAttention: false});
const seq = context.getSequence();

const next = {generateNext: {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}}};
const out = {
    generator: "tools/llamacpp-ref/archs.mjs",
    engine: "node-llama-cpp 3.21.1 (llama.cpp, CPU, f16 KV cache, no flash attention, 1 thread)",
    model: path.basename(modelPath),
    sha256: createHash("sha256").update(readFileSync(modelPath)).digest("hex"),
    addBos: model.tokens.shouldPrependBosToken,
    prompts: [],
};
for (const text of texts) {
    let tokens = model.tokenize(text, true);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) tokens = [model.tokens.bos, ...tokens];
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, next]));
    const logprobs = res.map((r, i) => {
        const p = r?.next?.probabilities;
        if (!p) throw new Error(`no probabilities at position ${i}`);
        out.vocab = p.size;
        const ids = new Set();
        for (let id = 0; id < p.size; id += stride) ids.add(id);
        [...p.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).forEach(([id]) => ids.add(id));
        return [...ids].sort((a, b) => a - b).map((id) => {
            const prob = p.get(id);
            return [id, prob > 0 ? Number(Math.log(prob).toFixed(6)) : null]; // undefined or 0: underflowed
        });
    });
    out.prompts.push({text, tokens: [...tokens], logprobs});
}
writeFileSync(outPath, JSON.stringify(out) + "\n");
console.error(`wrote ${outPath}: ${texts.length} prompts, vocab ${out.vocab}`);
await context.dispose();
await model.dispose();
