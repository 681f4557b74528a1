// Package tokenizer converts between text and token ids for the vocabularies
// GGUF files carry (tokenizer.ggml.*), matching llama.cpp token for token.
//
// FromGGUF builds a *Tokenizer for one of three models:
//
//   - "llama": SentencePiece-style BPE with scores (spm.go). Spaces become
//     "▁", text that starts a sequence gets a dummy-prefix "▁"
//     (tokenizer.ggml.add_space_prefix, default on), the best-scoring
//     adjacent pair merges first, and characters outside the vocabulary fall
//     back to byte tokens <0xNN>.
//   - "gpt2": byte-level BPE with ranked merges (bpe.go, bytelevel.go). Text
//     is first split by the pre-tokenizer that tokenizer.ggml.pre names
//     (pretok.go: gpt-2 and the default, llama-bpe/llama3, deepseek-llm,
//     deepseek-v3 and joyai-llm for DeepSeek V3/V4), each piece is mapped
//     byte by byte to printable code points, and the lowest-ranked adjacent
//     pair merges first. The pre-tokenizers also include qwen2 (Llama 3's
//     regex with single digits).
//   - "gemma4": BPE with ranked merges over raw UTF-8 (bpe.go): spaces
//     become "▁", the text is split only into lines and runs of newlines,
//     and bytes without a token fall back to <0xNN>, as SentencePiece does.
//
// Before any of them, Encode cuts the text at special-token strings (encode.go):
// user-defined tokens always, control tokens such as "<|endoftext|>" only
// with EncodeOptions.ParseSpecial, longest first, as llama.cpp does.
// Text that continues a sequence already holding tokens is encoded with
// EncodeOptions.Continue: no BOS and no dummy-prefix "▁", so the joined ids
// decode to the joined texts.
//
// Going back, Piece gives the bytes of one token, Decode the text of a
// sequence, and StreamDecoder the text of a sequence arriving one token at a
// time without splitting a UTF-8 character (decode.go).
//
// # Correctness
//
// The tests run llama.cpp's own tokenizer vectors (testdata/, from
// llama.cpp's models/ggml-vocab-*.gguf.inp/.out) for GPT-2 and DeepSeek LLM
// and the stories260K encodings from models/README.md, and continuations
// against llama.cpp on two SentencePiece and two byte-level BPE vocabularies
// (testdata/llamacpp-continuation.json, from tools/llamacpp-ref/continuation.mjs). The pre-tokenizers are
// hand-written scanners, one function per regex, each with the regex it
// implements in its comment; Go's regexp has no lookahead.
//
// # Caveats
//
// Unicode classes come from Go's unicode tables, which may differ from
// llama.cpp's on code points assigned in later Unicode versions. Decode does
// not "clean up tokenization spaces" (" ." → "."): it returns exactly the
// bytes of the pieces.
package tokenizer
