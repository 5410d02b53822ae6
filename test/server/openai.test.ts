/** OpenAI's API through app.request(): chat completions (JSON and SSE), usage, logprobs, completions, embeddings, models. */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModelsDir, post, sseData, testApp, type TestApp } from './fixtures.ts';

let app: TestApp;
beforeAll(async () => {
  app = testApp(await makeModelsDir('openai'));
});
afterAll(async () => app.close());

const chat = { model: 'tiny', messages: [{ role: 'user', content: 'hello' }], temperature: 0, max_tokens: 5 };

describe('/v1/chat/completions', () => {
  it('answers a chat.completion with usage', async () => {
    const r = await post(app, '/v1/chat/completions', chat);
    expect(r.status).toBe(200);
    const b = await r.json();
    expect(b.object).toBe('chat.completion');
    expect(b.id).toMatch(/^chatcmpl-/);
    expect(b.model).toBe('tiny:latest');
    expect(b.choices).toHaveLength(1);
    expect(b.choices[0].message.role).toBe('assistant');
    expect(['stop', 'length']).toContain(b.choices[0].finish_reason);
    expect(b.choices[0].logprobs).toBeNull();
    expect(b.usage.prompt_tokens).toBeGreaterThan(0);
    expect(b.usage.completion_tokens).toBeLessThanOrEqual(5);
    expect(b.usage.total_tokens).toBe(b.usage.prompt_tokens + b.usage.completion_tokens);
  });

  it('streams SSE chunks ending in [DONE], with the same text; include_usage adds a usage chunk', async () => {
    const one = await (await post(app, '/v1/chat/completions', chat)).json();
    const res = await post(app, '/v1/chat/completions', { ...chat, stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = await sseData(res);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(one.usage);
    const finish = chunks.at(-2);
    expect(finish.choices[0].finish_reason).toBe(one.choices[0].finish_reason);
    const text = chunks.slice(0, -1).map((c: { choices: { delta: { content?: string } }[] }) => c.choices[0].delta.content ?? '').join('');
    expect(text).toBe(one.choices[0].message.content);
    expect(chunks.every((c: { object: string; id: string }) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(true);
  });

  it('logprobs with top_logprobs: one entry per completion token, alternatives sorted, chosen = best under greedy', async () => {
    const b = await (await post(app, '/v1/chat/completions', { ...chat, logprobs: true, top_logprobs: 4 })).json();
    const content = b.choices[0].logprobs.content;
    const nTokens = b.usage.completion_tokens - (b.choices[0].finish_reason === 'stop' ? 1 : 0);
    expect(content).toHaveLength(nTokens);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(4);
      const lps = t.top_logprobs.map((x: { logprob: number }) => x.logprob);
      expect([...lps].sort((a, c) => c - a)).toEqual(lps);
      expect(t.top_logprobs[0].token).toBe(t.token);
      expect(Array.isArray(t.bytes)).toBe(true);
    }
  });

  it('seed makes temperature-1 sampling repeatable; stop ends before the stop text', async () => {
    const req = { ...chat, temperature: 1, seed: 42, max_tokens: 8 };
    const a = await (await post(app, '/v1/chat/completions', req)).json();
    const b = await (await post(app, '/v1/chat/completions', req)).json();
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    const full = a.choices[0].message.content as string;
    expect(full.length).toBeGreaterThanOrEqual(3);
    const stop = full.slice(1, 3);
    const s = await (await post(app, '/v1/chat/completions', { ...req, stop: [stop] })).json();
    expect(s.choices[0].message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(s.choices[0].finish_reason).toBe('stop');
  });

  it('Ollama options through the extra `options` field: num_ctx reaches the loaded model', async () => {
    await post(app, '/v1/chat/completions', { ...chat, options: { num_ctx: 512 } });
    const { models } = await (await app.request('/api/ps')).json();
    expect(models.find((m: { name: string }) => m.name === 'tiny:latest').context_length).toBe(512);
  });

  it('n other than 1 answers a clear error', async () => {
    const n = await post(app, '/v1/chat/completions', { ...chat, n: 2 });
    expect(n.status).toBe(400);
    expect((await n.json()).error).toMatchObject({ message: 'n: only n=1 is supported', type: 'invalid_request_error' });
  });

  // Random weights at temperature 1: only the grammar (src/grammar) keeps the output valid.
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 8 }, n: { type: 'integer', minimum: 0, maximum: 9 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 3 } },
    required: ['name', 'n', 'tags'],
    additionalProperties: false,
  };
  const validate = new Ajv().compile(schema);

  it('response_format json_schema: every answer parses and validates (JSON and SSE)', async () => {
    for (const seed of [1, 2, 3]) {
      const body = { ...chat, temperature: 1, seed, max_tokens: 60, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } };
      const b = await (await post(app, '/v1/chat/completions', body)).json();
      const value = JSON.parse(b.choices[0].message.content);
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
      const events = await sseData(await post(app, '/v1/chat/completions', { ...body, stream: true }));
      const text = events.slice(0, -1).map((e) => e.choices[0]?.delta?.content ?? '').join('');
      expect(text).toBe(b.choices[0].message.content); // same seed, same tokens
    }
    const jo = await (await post(app, '/v1/chat/completions', { ...chat, temperature: 1, seed: 4, max_tokens: 40, response_format: { type: 'json_object' } })).json();
    expect(typeof JSON.parse(jo.choices[0].message.content)).toBe('object');
  });

  it('tools: tool_choice required / by name gives tool_calls with JSON-string arguments that match the schema', async () => {
    const params = { type: 'object', properties: { city: { enum: ['Paris', 'Oslo'] }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'] };
    const tools = [
      { type: 'function', function: { name: 'weather', parameters: params } },
      { type: 'function', function: { name: 'time', parameters: { type: 'object', properties: { tz: { enum: ['UTC', 'CET'] } }, required: ['tz'] } } },
    ];
    const check = new Ajv().compile(params);
    const body = { ...chat, temperature: 1, seed: 7, max_tokens: 60, tools, tool_choice: { type: 'function', function: { name: 'weather' } } };
    const b = await (await post(app, '/v1/chat/completions', body)).json();
    expect(b.choices[0].finish_reason).toBe('tool_calls');
    expect(b.choices[0].message.content).toBeNull();
    const call = b.choices[0].message.tool_calls[0];
    expect(call).toMatchObject({ type: 'function', function: { name: 'weather' } });
    expect(call.id).toMatch(/^call-/);
    expect(check(JSON.parse(call.function.arguments))).toBe(true);
    // Streamed: the call's text is not sent as content; one tool_calls delta, then finish_reason tool_calls.
    const events = await sseData(await post(app, '/v1/chat/completions', { ...body, stream: true }));
    const chunks = events.slice(0, -1);
    expect(chunks.map((e) => e.choices[0].delta.content ?? '').join('')).toBe('');
    const delta = chunks.find((e) => e.choices[0].delta.tool_calls)!.choices[0].delta.tool_calls[0];
    expect(delta.function).toEqual(call.function);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
    const required = await (await post(app, '/v1/chat/completions', { ...body, seed: 8, tool_choice: 'required' })).json();
    expect(['weather', 'time']).toContain(required.choices[0].message.tool_calls[0].function.name);
    const unknown = await post(app, '/v1/chat/completions', { ...body, tool_choice: { type: 'function', function: { name: 'nope' } } });
    expect(unknown.status).toBe(400);
  });
});

describe('/api/chat structured output and tools (Ollama shapes)', () => {
  it('format schema and tools answer Ollama shapes', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['ok', 'n'] };
    const validate = new Ajv().compile(schema);
    const base = { model: 'tiny', messages: [{ role: 'user', content: 'hello' }], stream: false, options: { temperature: 1, seed: 3, num_predict: 50 } };
    const r = await (await post(app, '/api/chat', { ...base, format: schema })).json();
    expect(validate(JSON.parse(r.message.content))).toBe(true);
    const tools = [{ type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['a'] } } }];
    // Ollama has no tool_choice: "auto" lets the model answer text or a call; over seeds both kinds must be well-formed.
    let calls = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const t = await (await post(app, '/api/chat', { ...base, tools, options: { ...base.options, seed } })).json();
      if (t.message.tool_calls) {
        calls++;
        expect(t.message.tool_calls[0].function.name).toBe('add');
        expect(Number.isInteger(t.message.tool_calls[0].function.arguments.a)).toBe(true);
        expect(t.message.content).toBe('');
      } else expect(t.message.content.startsWith('{')).toBe(false);
    }
  });
});

describe('/v1/completions', () => {
  it('continues raw text; streams text_completion chunks; logprobs as parallel arrays', async () => {
    const req = { model: 'tiny', prompt: 'hello world', temperature: 0, max_tokens: 4, logprobs: 2 };
    const b = await (await post(app, '/v1/completions', req)).json();
    expect(b.object).toBe('text_completion');
    const lp = b.choices[0].logprobs;
    expect(lp.tokens.join('')).toBe(b.choices[0].text);
    expect(lp.token_logprobs).toHaveLength(lp.tokens.length);
    expect(lp.text_offset[0]).toBe(0);
    const events = await sseData(await post(app, '/v1/completions', { ...req, stream: true }));
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.slice(0, -1).map((e: { choices: { text: string }[] }) => e.choices[0].text).join('')).toBe(b.choices[0].text);
  });
});

describe('/v1/embeddings and /v1/models', () => {
  it('embeddings as floats and as base64 little-endian f32, the same numbers', async () => {
    const f = await (await post(app, '/v1/embeddings', { model: 'embed', input: ['hello', 'the dog'] })).json();
    expect(f.object).toBe('list');
    expect(f.data.map((d: { index: number }) => d.index)).toEqual([0, 1]);
    expect(f.usage.prompt_tokens).toBe(3 + 4);
    const b = await (await post(app, '/v1/embeddings', { model: 'embed', input: ['hello', 'the dog'], encoding_format: 'base64' })).json();
    const bytes = Uint8Array.from(atob(b.data[1].embedding), (ch) => ch.charCodeAt(0));
    const dv = new DataView(bytes.buffer);
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => dv.getFloat32(i * 4, true));
    expect(decoded).toEqual(f.data[1].embedding);
  });

  it('GET /v1/models lists ids; /v1/models/:id finds one or answers OpenAI\'s 404 error', async () => {
    const list = await (await app.request('/v1/models')).json();
    expect(list.object).toBe('list');
    expect(list.data.map((m: { id: string }) => m.id)).toEqual(['embed:latest', 'tiny:latest']);
    const one = await (await app.request('/v1/models/tiny:latest')).json();
    expect(one).toMatchObject({ id: 'tiny:latest', object: 'model' });
    const nf = await app.request('/v1/models/nope');
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ error: { message: "model 'nope' not found", type: 'not_found_error', param: null, code: null } });
  });
});

describe('unknown fields are tolerated, as Ollama and OpenAI do', () => {
  it('extra top-level, message and option fields do not fail a request', async () => {
    const o = await post(app, '/api/generate', { model: 'tiny', prompt: 'hi', raw: true, stream: false, future_field: { x: 1 }, options: { num_predict: 1, not_an_option: true } });
    expect(o.status).toBe(200);
    const c = await post(app, '/api/chat', { model: 'tiny', stream: false, messages: [{ role: 'user', content: 'hi', thinking: 'x', extra: 1 }], think: false, options: { num_predict: 1 } });
    expect(c.status).toBe(200);
    const v = await post(app, '/v1/chat/completions', { ...chat, max_tokens: 1, metadata: { a: 'b' }, parallel_tool_calls: false, service_tier: 'auto', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }], name: 'me' }] });
    expect(v.status).toBe(200);
  });
});
