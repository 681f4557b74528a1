// Package session is reddwarf's inference engine: sessions as keyspace
// values, GEN/PREFILL jobs, and the scheduler that runs them all together,
// one batched forward pass per loop turn.
//
// # Types
//
//   - Session (session.go): the value of a kvstate key. An infer.State
//     (tokens, paged KV cache, next-token logits), named Checkpoints and the
//     RNG state the session's sampler continues from. It implements
//     server.Value: Clone is a copy-on-write fork (pages shared, O(pages)),
//     Release drops the page references.
//   - Engine (engine.go): owns the model, its tokenizer, the prefix cache and
//     the jobs. Its Hooks are registered with the server. Step is one engine
//     step: prefill chunks of up to prefill-chunk tokens for sessions still
//     reading their prompt and one decode token for every generating
//     session, all in one Model.Step call (continuous batching).
//   - Job (job.go): one GEN or PREFILL. It works on a private Clone of the
//     session, so the key changes only when the job finishes: a client that
//     disconnects, or a job that fails, leaves the key exactly as it was (a
//     new key stays absent). A second job on the same key waits behind the
//     first (queued); while any job waits for or runs on a key, the key is
//     busy and commands that would change it reply -BUSY.
//   - Prefix reuse (infer.PrefixCache): every finished or abandoned job's full
//     pages are indexed by a chained hash of their tokens; a job whose tokens
//     start like any indexed chain starts from those pages (cached_tokens).
//     deepseek4 resumes from whole states the cache keeps beside the pages
//     (infer.ResumableArchState).
//   - chatTemplate (chattemplate.go): GEN CHAT's user turn through the
//     model's own tokenizer.chat_template (session/chattmpl), appended as
//     the difference the new turn makes to the rendered conversation.
//   - ChatFormat (chat.go): the fallback for a file without a template: the
//     model family's format, told by the marker tokens of the vocabulary.
//   - Info (info.go): INFO inference and model; KVUsage counts distinct pages.
//
// A step's batch holds one token per generating job and at most
// StepPrefillChunks prefill-chunks of prompt in all; the next tokens of all
// jobs are drawn in parallel (each job has its own sampler). Its hooks also
// gate other writes to a busy key (-BUSY), and cancel the job of a blocked
// client that disconnects (ClientGone).
//
// # A job's life
//
//	GEN key prompt      parse; the client blocks (server.Block);
//	                    tokenise (encode.go: a large prompt on a
//	                    goroutine), then Submit: admission, queue
//	turn: start         the key is free: clone its session (or a new one),
//	                    checkpoint "gen" at the start, reuse cached pages
//	turn: step          prefill chunk / decode token in the shared batch;
//	                    sample, decode pieces, STOP strings, STREAM publish
//	turn: finish        the clone replaces the session (one swap), pages are
//	                    indexed, the reply is written and the client unblocked
//
// Everything here runs on the server's loop goroutine, but the work an
// Encoder returns and OffLoop, which front ends run on goroutines of their
// own.
package session
