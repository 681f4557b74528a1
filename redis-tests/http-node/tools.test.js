// Tool calls through the official openai and @anthropic-ai/sdk packages,
// against a qwen2 synth model whose chat template is Qwen2.5's (Hermes
// <tool_call> blocks; see TestHTTPToolCalls in redis-tests/http_test.go).
// A random-weight model writes no tool call by itself: a forced
// tool_choice constrains its reply to one, so these tests check the whole
// path (tools to the template, the constrained reply, the parsed calls in
// each API's shape, the tool results back into the session), not that
// the calls mean anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const apiKey = process.env.REDDWARF_PASSWORD;
const openai = new OpenAI({ baseURL: process.env.REDDWARF_HTTP_URL + '/v1', apiKey, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: process.env.REDDWARF_HTTP_URL, apiKey, maxRetries: 0 });

const weather = {
  type: 'object', additionalProperties: false, required: ['city'],
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
};
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: weather } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { zone: { type: 'string' } } } } },
];

test('openai: a named tool_choice gives a tool call; its result continues the session', async () => {
  const headers = { 'X-Session-Key': 'tools-openai' };
  const messages = [{ role: 'user', content: 'Weather in Oslo?' }];
  const a = await openai.chat.completions.create({
    model: 'any', messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 100, seed: 3, temperature: 1,
  }, { headers });
  assert.equal(a.choices[0].finish_reason, 'tool_calls');
  const call = a.choices[0].message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.ok(Object.keys(args).every((k) => k === 'city' || k === 'days'), call.function.arguments);
  messages.push(a.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' });
  const b = await openai.chat.completions.create({ model: 'any', messages, tools, max_tokens: 4 }, { headers });
  assert.ok(b.usage.prompt_tokens < a.usage.prompt_tokens, 'only the tool result was read');
});

test('openai: tool_choice required, streamed', async () => {
  for (const seed of [1, 2, 3, 4]) {
    const stream = await openai.chat.completions.create({
      model: 'any', messages: [{ role: 'user', content: 'Do something' }], tools, tool_choice: 'required', max_tokens: 100, seed, temperature: 1, stream: true,
    });
    let content = '', finish = null;
    const calls = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        content += c.delta.content ?? '';
        for (const tc of c.delta.tool_calls ?? []) calls.push(tc);
        finish = c.finish_reason ?? finish;
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(content, '', 'no tool-call text leaks into content');
    assert.equal(calls.length, 1);
    assert.ok(['get_weather', 'get_time'].includes(calls[0].function.name));
    assert.equal(typeof JSON.parse(calls[0].function.arguments), 'object');
  }
});

test('anthropic: tool_choice tool gives a tool_use block, streamed and not; a tool_result continues', async () => {
  const atools = [{ name: 'get_weather', description: 'Weather of a city', input_schema: weather }];
  const headers = { 'X-Session-Key': 'tools-anthropic' };
  const messages = [{ role: 'user', content: 'Weather in Oslo?' }];
  const m = await anthropic.messages.create({ model: 'any', max_tokens: 100, tools: atools, tool_choice: { type: 'tool', name: 'get_weather' }, messages }, { headers });
  assert.equal(m.stop_reason, 'tool_use');
  const use = m.content.find((b) => b.type === 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.equal(typeof use.input.city, 'string');
  messages.push({ role: 'assistant', content: m.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] });
  const next = await anthropic.messages.create({ model: 'any', max_tokens: 4, tools: atools, messages }, { headers });
  assert.equal(next.type, 'message');
  const stream = anthropic.messages.stream({ model: 'any', max_tokens: 100, tools: atools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'Weather?' }] });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const su = final.content.find((b) => b.type === 'tool_use');
  assert.equal(typeof su.input.city, 'string');
});
