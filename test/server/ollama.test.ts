/** Ollama's API through app.request() (no socket): generation, NDJSON, stats, context, templates, logprobs, keep_alive, num_ctx. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { makeModelsDir, ndjson, post, testApp, type TestApp } from './fixtures.ts';

let dir: string;
let app: TestApp;
let tok: Tokenizer;

beforeAll(async () => {
  dir = await makeModelsDir('ollama');
  app = testApp(dir);
  tok = createTokenizer((await openGguf(join(dir, 'tiny.gguf'))).metadata);
});
afterAll(async () => app.close());

const greedy = { temperature: 0, num_predict: 6 };

describe('Ollama API: basics', () => {
  it('GET / , HEAD / and /api/version', async () => {
    expect(await (await app.request('/')).text()).toBe('Tessera is running');
    expect((await app.request('/', { method: 'HEAD' })).status).toBe(200);
    expect((await (await app.request('/api/version')).json()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('GET /api/tags lists the models with their sha256 digest and details', async () => {
    const { models } = await (await app.request('/api/tags')).json();
    expect(models.map((m: { name: string }) => m.name)).toEqual(['embed:latest', 'tiny:latest']);
    const tiny = models.find((m: { name: string }) => m.name === 'tiny:latest');
    expect(tiny.digest).toBe(createHash('sha256').update(readFileSync(join(dir, 'tiny.gguf'))).digest('hex'));
    expect(tiny.details).toMatchObject({ format: 'gguf', family: 'llama', quantization_level: 'Q8_0' });
  });
});

describe('Ollama API: /api/generate', () => {
  it('streams NDJSON whose final line carries the statistics in ns and the context', async () => {
    const res = await post(app, '/api/generate', { model: 'tiny', prompt: 'hello world', raw: true, options: greedy });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = await ndjson(res);
    const last = lines.at(-1);
    expect(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === 'string' && l.model === 'tiny:latest')).toBe(true);
    expect(last).toMatchObject({ done: true, response: '' });
    expect(['stop', 'length']).toContain(last.done_reason);
    for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) expect(Number.isInteger(last[k]) && last[k] >= 0, k).toBe(true);
    expect(last.total_duration).toBeGreaterThanOrEqual(last.eval_duration);
    const promptIds = tok.encode('hello world', { addSpecial: true, parseSpecial: true });
    expect(last.eval_count).toBeLessThanOrEqual(6);
    if (last.done_reason === 'length') expect(last.eval_count).toBe(6);
    // context = prompt tokens + generated tokens; generated text is their detokenization.
    expect(last.context.slice(0, promptIds.length)).toEqual(promptIds);
    expect(last.context.length).toBe(promptIds.length + last.eval_count - (last.done_reason === 'stop' ? 1 : 0));
    const text = lines.map((l) => l.response).join('');
    expect(tok.decode(last.context.slice(promptIds.length), { skipSpecial: true })).toBe(text);
  });

  it('stream:false gives one object with the same greedy text as the stream', async () => {
    const streamed = (await ndjson(await post(app, '/api/generate', { model: 'tiny', prompt: 'the', raw: true, options: greedy }))).map((l) => l.response).join('');
    const one = await (await post(app, '/api/generate', { model: 'tiny', prompt: 'the', raw: true, stream: false, options: greedy })).json();
    expect(one.done).toBe(true);
    expect(one.response).toBe(streamed);
  });

  it('context continues a conversation: the new prompt follows the given tokens, without a second BOS', async () => {
    const first = await (await post(app, '/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: greedy })).json();
    const second = await (await post(app, '/api/generate', { model: 'tiny', prompt: ' world', raw: true, stream: false, context: first.context, options: greedy })).json();
    const added = tok.encode(' world', { addSpecial: false, parseSpecial: true });
    expect(second.context.slice(0, first.context.length + added.length)).toEqual([...first.context, ...added]);
  });

  it('template and system: a request template (Ollama Go syntax) decides the prompt text', async () => {
    const template = '{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:{{ .Response }}<end>';
    const r = await (await post(app, '/api/generate', { model: 'tiny', prompt: 'hi', system: 'be brief', template, stream: false, options: greedy })).json();
    const expected = tok.encode('S:be brief U:hi A:', { addSpecial: true, parseSpecial: true });
    expect(r.context.slice(0, expected.length)).toEqual(expected);
    expect(r.prompt_eval_count).toBeLessThanOrEqual(expected.length); // some may come from the prefix cache
  });

  it('an empty prompt loads the model (done_reason load); keep_alive 0 unloads it', async () => {
    const load = await (await post(app, '/api/generate', { model: 'tiny' })).json();
    expect(load).toMatchObject({ done: true, done_reason: 'load', response: '' });
    const unload = await (await post(app, '/api/generate', { model: 'tiny', keep_alive: 0 })).json();
    expect(unload.done_reason).toBe('unload');
    expect((await (await app.request('/api/ps')).json()).models).toEqual([]);
  });

  it('logprobs: the chosen token\'s log-probability and top alternatives match log-softmax of the logits (float64, 2e-3)', async () => {
    const r = await (await post(app, '/api/generate', { model: 'tiny', prompt: 'hello world', raw: true, stream: false, logprobs: true, top_logprobs: 3, options: { temperature: 0, num_predict: 4 } })).json();
    expect(r.logprobs.length).toBe(r.context.length - tok.encode('hello world', { addSpecial: true }).length);
    const engine = await createEngine({ model: join(dir, 'tiny.gguf'), threads: 1, logitRows: 64 });
    try {
      const logits = await engine.evaluate(r.context);
      const nPrompt = r.context.length - r.logprobs.length;
      r.logprobs.forEach((lp: { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }, i: number) => {
        const row = logits[nPrompt - 1 + i];
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        for (const v of row) sum += Math.exp(v - max);
        const logZ = max + Math.log(sum);
        const id = r.context[nPrompt + i];
        expect(lp.logprob).toBeCloseTo(row[id] - logZ, 2);
        expect(Math.abs(lp.logprob - (row[id] - logZ))).toBeLessThan(2e-3);
        // greedy: the chosen token is the most likely one
        expect(lp.top_logprobs).toHaveLength(3);
        expect(lp.top_logprobs[0].logprob).toBeCloseTo(lp.logprob, 6);
        const sorted = Array.from(row).map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]);
        expect(Math.abs(lp.top_logprobs[2].logprob - (sorted[2][0] - logZ))).toBeLessThan(2e-3);
      });
    } finally {
      await engine.close();
    }
  });
});

describe('Ollama API: /api/chat', () => {
  it('answers in the assistant role, streamed and not', async () => {
    const messages = [{ role: 'system', content: 'sys' }, { role: 'user', content: 'hi' }];
    const one = await (await post(app, '/api/chat', { model: 'tiny', stream: false, messages, options: greedy })).json();
    expect(one.message.role).toBe('assistant');
    expect(one.done).toBe(true);
    const lines = await ndjson(await post(app, '/api/chat', { model: 'tiny', messages, options: greedy }));
    expect(lines.map((l) => l.message.content).join('')).toBe(one.message.content);
    expect(lines.at(-1)).toMatchObject({ done: true, message: { role: 'assistant', content: '' } });
    expect(lines.at(-1).eval_count).toBe(one.eval_count);
  });
});

describe('Ollama API: loaded models, keep_alive and num_ctx', () => {
  it('/api/ps shows size, expiry and context length; num_ctx per request reloads with that context', async () => {
    await post(app, '/api/generate', { model: 'tiny', prompt: 'a', raw: true, stream: false, keep_alive: '10m', options: { num_ctx: 256, num_predict: 1 } });
    const { models } = await (await app.request('/api/ps')).json();
    const m = models.find((x: { name: string }) => x.name === 'tiny:latest');
    expect(m.context_length).toBe(256);
    expect(m.size).toBeGreaterThan(0);
    const ttl = Date.parse(m.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(9 * 60e3);
    expect(ttl).toBeLessThanOrEqual(10 * 60e3);
  });

  it('a negative keep_alive keeps the model loaded indefinitely', async () => {
    await post(app, '/api/generate', { model: 'tiny', keep_alive: -1 });
    const { models } = await (await app.request('/api/ps')).json();
    expect(Date.parse(models[0].expires_at)).toBeGreaterThan(Date.now() + 100 * 365 * 86400e3);
  });

  it('num_ctx beyond the model\'s context is a 400 naming both numbers', async () => {
    const r = await post(app, '/api/generate', { model: 'tiny', prompt: 'a', options: { num_ctx: 100000 } });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toBe("num_ctx 100000 exceeds the model's context length 4096");
  });

  it('a prompt longer than num_ctx is a 400', async () => {
    const r = await post(app, '/api/generate', { model: 'tiny', prompt: 'hello '.repeat(200), raw: true, options: { num_ctx: 64 } });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toMatch(/the prompt is \d+ tokens, the context \(num_ctx\) is 64/);
  });
});

describe('memory budget', () => {
  it('num_ctx past the budget is a 400; a model that cannot fit at all is a 503 naming the budget', async () => {
    const { statSync } = await import('node:fs');
    const fileBytes = statSync(join(dir, 'tiny.gguf')).size;
    // KV bytes per token of the tiny model: K and V × 1 layer × 1 KV head × head dim 32 × 2 bytes (f16) = 128.
    const budget = fileBytes + 1000 * 128;
    const small = testApp(dir, { memoryBudget: budget });
    const over = await post(small, '/api/generate', { model: 'tiny', prompt: 'a', options: { num_ctx: 1001 } });
    expect(over.status).toBe(400);
    expect((await over.json()).error).toBe(`num_ctx 1001 does not fit: it needs about ${fileBytes + 1001 * 128} B, the memory budget (TESSERA_MEMORY_BUDGET) is ${budget} B`);
    const tiny = testApp(dir, { memoryBudget: 1000 });
    const r = await post(tiny, '/api/generate', { model: 'tiny', prompt: 'a' });
    expect(r.status).toBe(503);
    expect((await r.json()).error).toContain('more than TESSERA_MEMORY_BUDGET=1000 B');
  });
});

describe('loaded-model limit', () => {
  it('with TESSERA_MAX_LOADED_MODELS=1, loading a second model unloads the least recently used idle one', async () => {
    const one = testApp(dir, { maxLoadedModels: 1 });
    try {
      await post(one, '/api/generate', { model: 'tiny' });
      expect((await (await one.request('/api/ps')).json()).models.map((m: { name: string }) => m.name)).toEqual(['tiny:latest']);
      await post(one, '/api/embed', { model: 'embed', input: 'hello' });
      expect((await (await one.request('/api/ps')).json()).models.map((m: { name: string }) => m.name)).toEqual(['embed:latest']);
    } finally {
      await one.close();
    }
  });
});
