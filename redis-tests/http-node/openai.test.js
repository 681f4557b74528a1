// The official openai package against reddwarf's HTTP front end. The
// server runs a qwen2 synth model (ChatML) with requirepass; the Go test
// (redis-tests/http_test.go) checks the keyspace afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.REDDWARF_HTTP_URL + '/v1';
const apiKey = process.env.REDDWARF_PASSWORD;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

test('models.list names the served model', async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.match(page.data[0].id, /qwen2/);
});

test('chat completion without a session, then the same history reuses the prefix cache', async () => {
  const messages = [
    { role: 'system', content: 'You are brief.' },
    { role: 'user', content: 'word '.repeat(120) },
  ];
  const a = await client.chat.completions.create({ model: 'any', messages, max_tokens: 4, seed: 1 });
  assert.equal(a.object, 'chat.completion');
  assert.equal(a.choices[0].message.role, 'assistant');
  assert.equal(typeof a.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(a.choices[0].finish_reason));
  assert.ok(a.usage.prompt_tokens > 120);
  const b = await client.chat.completions.create({ model: 'any', messages, max_tokens: 4, seed: 1 });
  assert.equal(b.choices[0].message.content, a.choices[0].message.content, 'same seed, same history');
  assert.ok(b.usage.prompt_tokens_details.cached_tokens >= 64,
    `cached_tokens ${b.usage.prompt_tokens_details.cached_tokens} of ${b.usage.prompt_tokens}`);
});

test('streamed chat on a session key, two turns', async () => {
  for (const content of ['Hello there', 'And again']) {
    const stream = await client.chat.completions.create(
      { model: 'any', messages: [{ role: 'user', content }], max_tokens: 5, stream: true, stream_options: { include_usage: true } },
      { headers: { 'X-Session-Key': 'openai-chat' } });
    let text = '', finish = null, usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    assert.ok(finish === 'length' || finish === 'stop', `finish ${finish}`);
    assert.ok(usage && usage.completion_tokens >= 1 && usage.completion_tokens <= 5, JSON.stringify(usage));
    assert.equal(typeof text, 'string');
  }
});

test('a session key: the first request renders the system message, the next appends after the last assistant message', async () => {
  const headers = { 'X-Session-Key': 'openai-history' };
  const system = { role: 'system', content: 'You speak like a pirate.' };
  const first = { role: 'user', content: 'Ahoy there' };
  const a = await client.chat.completions.create({ model: 'any', messages: [system, first], max_tokens: 4, temperature: 0 }, { headers });
  const reply = { role: 'assistant', content: a.choices[0].message.content };
  const b = await client.chat.completions.create(
    { model: 'any', messages: [system, first, reply, { role: 'user', content: 'Where is the treasure?' }], max_tokens: 4, temperature: 0 }, { headers });
  // The key held the history: only the new turn was read.
  assert.ok(b.usage.prompt_tokens < a.usage.prompt_tokens + 20, `second request read ${b.usage.prompt_tokens} tokens, first ${a.usage.prompt_tokens}`);
});

test('response_format json_schema and json_object: every reply parses and validates (a random-weight model)', async () => {
  const schema = {
    type: 'object', additionalProperties: false, required: ['name', 'age', 'admin'],
    properties: { name: { type: 'string' }, age: { type: 'integer' }, admin: { type: 'boolean' }, tags: { type: 'array', items: { enum: ['x', 'y'] } } },
  };
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = await client.chat.completions.create({
      model: 'any', messages: [{ role: 'user', content: 'A user, as JSON' }], max_tokens: 48, seed, temperature: 1,
      response_format: { type: 'json_schema', json_schema: { name: 'user', strict: true, schema } },
    });
    const v = JSON.parse(r.choices[0].message.content);
    assert.equal(typeof v.name, 'string');
    assert.ok(Number.isInteger(v.age), JSON.stringify(v));
    assert.equal(typeof v.admin, 'boolean');
    assert.ok(Object.keys(v).every((k) => k in schema.properties), JSON.stringify(v));
    assert.ok((v.tags ?? []).every((t) => t === 'x' || t === 'y'), JSON.stringify(v));
  }
  const stream = await client.chat.completions.create({
    model: 'any', messages: [{ role: 'user', content: 'Any JSON' }], max_tokens: 32, seed: 9, temperature: 1, stream: true,
    response_format: { type: 'json_object' },
  });
  let text = '';
  for await (const chunk of stream) for (const c of chunk.choices) text += c.delta.content ?? '';
  JSON.parse(text);
  await assert.rejects(
    client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'string', pattern: 'a' } } } }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format');
});

test('logprobs and top_logprobs, streamed and not', async () => {
  const req = { model: 'any', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2 };
  const a = await client.chat.completions.create(req);
  const content = a.choices[0].logprobs.content;
  assert.equal(content.length, a.usage.completion_tokens);
  assert.equal(content.map((e) => Buffer.from(e.bytes).toString('latin1')).join(''), Buffer.from(a.choices[0].message.content).toString('latin1'));
  for (const e of content) {
    assert.equal(e.top_logprobs.length, 2);
    assert.ok(e.logprob <= 0 && e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    assert.equal(e.logprob, e.top_logprobs[0].logprob, 'greedy draws the best');
  }
  const stream = await client.chat.completions.create({ ...req, stream: true });
  const streamed = [];
  for await (const chunk of stream) for (const c of chunk.choices) streamed.push(...(c.logprobs?.content ?? []));
  assert.deepEqual(streamed.map((e) => e.logprob), content.map((e) => e.logprob));
});

test('text completion on a session named in the body, streamed and not', async () => {
  const a = await client.completions.create({ model: 'any', prompt: 'Once upon a time', max_tokens: 6, seed: 5, session: 'openai-text' });
  assert.equal(a.object, 'text_completion');
  const stream = await client.completions.create({ model: 'any', prompt: ' and then', max_tokens: 6, stream: true, session: 'openai-text' });
  let n = 0;
  for await (const chunk of stream) n += chunk.choices.length;
  assert.ok(n >= 1);
});

test('errors arrive as the SDK error classes', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(
    client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  await assert.rejects(
    client.chat.completions.create({ model: 'any', messages: [{ role: 'assistant', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && /last message/.test(e.message));
});
