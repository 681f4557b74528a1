// dsv4.mjs writes llama.cpp's next-token log-probabilities for a deepseek4
// GGUF (llama.cpp's own deepseek4 port), the cross-check for reddwarf's
// deepseek4 architecture.
//
//   node dsv4.mjs model.gguf refs.json out.json [kv]
//
// The token sequences are those of refs.json (infer/deepseek4/testdata/deepseek4-ref.json,
// made by tools/dsv4-ref/make_tiny.py). kv is the KV cache type, "F32"
// (default: exact comparisons need it, see docs/deepseek4.md §13) or "F16".
// CPU, 1 thread, no flash attention; the whole sequence is evaluated in one
// batch and the log-softmax at every position written (6 decimals).
import {getLlama} from "node-llama-cpp";
import {createHash} from "node:crypto";
import {readFileSync, writeFileSync} from "node:fs";

const [modelPath, refsPath, outPath, kv = "F32"] = process.argv.slice(2);
const refs = JSON.parse(readFileSync(refsPath, "utf8"));
const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({
    contextSize: 512, batchSize: 512, threads: 1, flashAttention: false,
    experimentalKvCacheKeyType: kv, experimentalKvCacheValueType: kv,
});
const seq = context.getSequence();
const next = {generateNext: {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}}};
const out = {
    generator: "tools/llamacpp-ref/dsv4.mjs",
    engine: `node-llama-cpp 3.21.1 (llama.cpp deepseek4, CPU, ${kv} KV cache, no flash attention, 1 thread)`,
    model: modelPath.split("/").pop(),
    sha256: createHash("sha256").update(readFileSync(modelPath)).digest("hex"),
    prompts: [],
};
for (const s of refs.sequences) {
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(s.tokens.map((t) => [t, next]));
    const logprobs = res.map((r, i) => {
        const p = r?.next?.probabilities;
        if (!p) throw new Error(`no probabilities at position ${i}`);
        const row = new Array(p.size).fill(null);
        for (const [id, prob] of p) row[id] = prob > 0 ? Number(Math.log(prob).toFixed(6)) : null;
        return row;
    });
    out.prompts.push({tokens: s.tokens, logprobs});
}
writeFileSync(outPath, JSON.stringify(out) + "\n");
console.error(`wrote ${outPath}: ${out.prompts.length} sequences`);
