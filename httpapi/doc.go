// Package httpapi is reddwarf's HTTP front end: OpenAI-compatible
// chat and text completions, the model list and Prometheus metrics, served
// in the same process, over the same keyspace and through the same event
// loop as RESP (docs/architecture.md, "Front ends").
//
// An HTTP goroutine never touches the keyspace: it decodes and checks the
// request, then posts the work to the loop (server.Post), which admits a
// session.Job through session.Engine.Submit exactly as GEN does. The job's
// pieces and its end come back through an events pipe the loop only
// appends to, so a slow client never stalls the loop.
//
// Endpoints (on every bind address, port http-port; 0, the default, serves
// none; with requirepass set every request needs "Authorization: Bearer
// <password>", or Anthropic's "x-api-key: <password>"):
//
//	POST /v1/chat/completions  messages → CHAT turns; stream (SSE)
//	POST /v1/completions       prompt → GEN
//	POST /v1/messages          Anthropic's Messages API, as a chat completion
//	GET  /v1/models            the served model
//	GET  /metrics              INFO as Prometheus text
//
// Sessions: the header X-Session-Key: <key>, or the body field
// "session" for clients that cannot set headers, names a session key of
// database 0. A chat request on an empty or missing key renders the whole
// conversation into it, system message included; on a key that holds a
// conversation it appends the messages after the last assistant message
// (the key holds the turns up to that one, so those are not read; with no
// assistant message, all but the leading system messages), a lone user
// message exactly as GEN key <text> CHAT does (session.NewChatMessages); a
// completion continues the key as GEN key <prompt> does. redis-cli sees the key as any
// other (TOKENS, FORK, ROLLBACK, SAVE). Without a key the request is
// stateless: the whole conversation is rendered and generated on a state
// no key holds (session.Job.Discard), whose pages still go to the prefix
// cache, so re-sending a history recomputes only its new tokens
// (usage.prompt_tokens_details.cached_tokens says how many were reused).
//
// response_format json_object and json_schema constrain the reply as GEN
// … JSON and SCHEMA do (session/jsonmask): it always parses, and validates
// against the schema; a schema outside the supported subset is a 400.
//
// logprobs and top_logprobs (chat), or logprobs n (text completions),
// report each generated token's log-probability under the model and its
// n most likely alternatives (session.TokenLogProb), streamed with the
// pieces they spell.
//
// tools and tool_choice (tools.go): the tools go to the model's chat
// template; calls in the reply, in the format the template shows (Hermes
// <tool_call> blocks, Llama 3.x, Mistral, DeepSeek V3.1/R1 and DSML,
// gpt-oss's harmony), come back as OpenAI tool_calls or Anthropic
// tool_use blocks; a forced tool_choice constrains the reply to one call
// in that format (for DSML, the function's required parameters).
//
// Anthropic's thinking and OpenAI's reasoning_effort set GEN CHAT's
// THINK; the reply's thinking comes back as a thinking block or
// reasoning_content (thinking.go).
//
// A streaming client that reads too slowly is dropped as Redis drops a
// client past its output buffer limit: when one event waits 30 s
// (API.WriteTimeout) to go out, or the pieces waiting for it pass 4 MiB
// (API.MaxPending), its job is canceled as a disconnect cancels it.
//
// A client that goes away before its reply is done cancels its job as
// CLIENT KILL does a GEN's: the key is left as it was.
package httpapi
