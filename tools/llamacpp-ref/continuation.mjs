// continuation.mjs writes llama.cpp's tokenization of text appended to a
// sequence, the reference for tokenizer.EncodeOptions.Continue
// (infer/tokenizer's TestContinuationLlamaCpp).
//
//   node continuation.mjs [out.json]
//
// For each vocabulary and each pair (a, b): a's ids as a sequence start
// (llama.cpp's tokenize without BOS: SentencePiece's space prefix added),
// b's ids as a continuation, and llama.cpp's detokenization of a's ids then
// b's, which must be a + b.
//
// llama.cpp has no continuation mode. Byte-level BPE adds no space prefix,
// so there b's ids are llama.cpp's plain ids of b. For SentencePiece they
// are llama.cpp's ids of "\n" + b with the ids of "\n" taken off the front:
// the prefix goes before the newline, and nothing merges across it in these
// vocabularies (checked: the ids of "\n" must be a prefix). Either way the
// joined ids must detokenize to a + b. node-llama-cpp's own
// "trimLeadingSpace" is much the same but keeps the prefix when b starts
// with a newline, so it is not used.
import {getLlama} from "node-llama-cpp";
import {writeFileSync} from "node:fs";
import {fileURLToPath} from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "../..");
const outPath = process.argv[2] ?? path.join(root, "infer/tokenizer/testdata/llamacpp-continuation.json");

// Keep the vocabularies' paths relative to the repository root.
const vocabs = [
    "models/stories260K.gguf", // SentencePiece (llama), add_space_prefix
    "infer/tokenizer/testdata/ggml-vocab-phi-3.gguf", // SentencePiece (llama)
    "models/ggml-vocab-gpt-2.gguf", // byte-level BPE
    "infer/tokenizer/testdata/ggml-vocab-qwen2.gguf", // byte-level BPE
];

const pairs = [
    ["The cat sat", " on the mat"],
    ["ti", "me"],
    ["Once upon a", " time"],
    ["Hello", " world!"],
    ["Hello", "\nworld"],
    ["Hello\n", "world"],
    ["a", "  two spaces"],
    ["x", "é✓ and more"],
    ["Lily", "."],
    ["123", "456"],
    ["one", " two\nthree four"],
];

const llama = await getLlama({gpu: false, build: "never"});
const out = {generator: "tools/llamacpp-ref/continuation.mjs, node-llama-cpp 3.21.1", vocabs: {}};
for (const rel of vocabs) {
    const model = await llama.loadModel({modelPath: path.join(root, rel), vocabOnly: true});
    const kind = model.fileInfo.metadata.tokenizer.ggml.model;
    const nl = Array.from(model.tokenize("\n"));
    const cases = [];
    for (const [a, b] of pairs) {
        const aIds = Array.from(model.tokenize(a));
        let bIds = Array.from(model.tokenize(b));
        if (kind === "llama") {
            const withNl = Array.from(model.tokenize("\n" + b));
            if (!nl.every((id, i) => withNl[i] === id))
                throw new Error(`${rel}: ids of "\\n" ${nl} are not a prefix of those of ${JSON.stringify("\n" + b)}: ${withNl}`);
            bIds = withNl.slice(nl.length);
        }
        const text = model.detokenize([...aIds, ...bIds]);
        if (text !== a + b)
            throw new Error(`${rel}: ${JSON.stringify(a)} + ${JSON.stringify(b)} detokenizes to ${JSON.stringify(text)}`);
        cases.push({a, b, a_ids: aIds, b_ids: bIds, text});
    }
    out.vocabs[rel] = {model: kind, cases};
    await model.dispose();
}
writeFileSync(outPath, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${outPath}`);
