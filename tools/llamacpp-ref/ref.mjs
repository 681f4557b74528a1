// ref.mjs writes llama.cpp's next-token log-probabilities for fixed token
// sequences, the reference reddwarf's infer tests compare against.
//
//   node ref.mjs [model.gguf] [out.json]
//
// Token ids are given explicitly (not text) so tokenizer differences cannot
// interfere. For every prompt and every position the full-vocabulary
// log-softmax of the next-token logits is written (rounded to 6 decimals).
// llama.cpp runs on the CPU with its default f16 KV cache, flash attention off
// (its classic path: K·q and V·softmax as f16 matrix products).
import {getLlama} from "node-llama-cpp";
import {createHash} from "node:crypto";
import {readFileSync, writeFileSync} from "node:fs";
import {fileURLToPath} from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelPath = process.argv[2] ?? path.join(here, "../../models/stories260K.gguf");
const outPath = process.argv[3] ?? path.join(here, "../../infer/testdata/llamacpp-stories260K.json");

// Keep in sync with testPrompts in infer/llama_test.go.
const prompts = [
    [1],
    [1, 403, 407, 261, 378],
    [1, 346, 306, 414, 263, 304, 341],
    [1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426],
    [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352],
    [1, 2, 3, 100, 258, 511, 300, 300, 300, 42],
];

const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({contextSize: 512, batchSize: 512, threads: 1, flashAttention: false});
const seq = context.getSequence();


// Full probabilities at temperature 1 with every cut-off disabled are the
// softmax of the raw logits.
const next = {generateNext: {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}}};
const out = {
    generator: "tools/llamacpp-ref/ref.mjs",
    engine: "node-llama-cpp 3.21.1 (llama.cpp, CPU, f16 KV cache, no flash attention, 1 thread)",
    model: path.basename(modelPath),
    sha256: createHash("sha256").update(readFileSync(modelPath)).digest("hex"),
    prompts: [],
};
for (const tokens of prompts) {
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, next]));
    const logprobs = res.map((r, i) => {
        const p = r?.next?.probabilities;
        if (!p) throw new Error(`no probabilities at position ${i}`);
        const row = new Array(p.size).fill(null);
        for (const [id, prob] of p) row[id] = prob > 0 ? Number(Math.log(prob).toFixed(6)) : null;
        return row;
    });
    out.prompts.push({tokens, logprobs});
}
writeFileSync(outPath, JSON.stringify(out) + "\n");
console.error(`wrote ${outPath}: ${prompts.length} prompts, vocab ${out.prompts[0].logprobs[0].length}`);
await context.dispose();
await model.dispose();
