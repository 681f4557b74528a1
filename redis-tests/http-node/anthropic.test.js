// The official @anthropic-ai/sdk package against reddwarf's /v1/messages
// (qwen2 synth model, requirepass; see redis-tests/http_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.REDDWARF_HTTP_URL;
const apiKey = process.env.REDDWARF_PASSWORD;
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0 });

test('messages.create with a system prompt, not streamed', async () => {
  const m = await client.messages.create({
    model: 'any', max_tokens: 5, system: 'You are brief.', temperature: 0,
    messages: [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi' }, { role: 'user', content: [{ type: 'text', text: 'Again' }] }],
  });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.content[0].type, 'text');
  assert.ok(['end_turn', 'max_tokens'].includes(m.stop_reason), m.stop_reason);
  assert.ok(m.usage.input_tokens > 5 && m.usage.output_tokens >= 1, JSON.stringify(m.usage));
});

test('messages.stream on a session key gives the text and the final message', async () => {
  const stream = client.messages.stream(
    { model: 'any', max_tokens: 6, messages: [{ role: 'user', content: 'Tell me a story' }] },
    { headers: { 'X-Session-Key': 'anthropic-chat' } });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, text);
  assert.ok(final.usage.output_tokens >= 1 && final.usage.output_tokens <= 6, JSON.stringify(final.usage));
  assert.ok(['end_turn', 'max_tokens'].includes(final.stop_reason));
});

test('a session key with a system prompt, continued with the history re-sent', async () => {
  const headers = { 'X-Session-Key': 'anthropic-history' };
  const system = 'You are terse.';
  const a = await client.messages.create({ model: 'any', max_tokens: 4, system, temperature: 0, messages: [{ role: 'user', content: 'Ping' }] }, { headers });
  const b = await client.messages.create({
    model: 'any', max_tokens: 4, system, temperature: 0,
    messages: [{ role: 'user', content: 'Ping' }, { role: 'assistant', content: a.content[0].text }, { role: 'user', content: 'Pong' }],
  }, { headers });
  assert.ok(b.usage.input_tokens < a.usage.input_tokens + 20, JSON.stringify([a.usage, b.usage]));
});

test('errors arrive as the SDK error classes', async () => {
  const bad = new Anthropic({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: 'any', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.AuthenticationError && e.status === 401);
  await assert.rejects(client.messages.create({ model: 'any', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }),
    (e) => e instanceof Anthropic.BadRequestError && e.status === 400);
});
