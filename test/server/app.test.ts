/** The Hono app, called through app.request() (no socket): Ollama routes, NDJSON streaming, errors. */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-server-models');
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(join(DIR, 'tiny.gguf'), { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, type: 'Q8_0', seed: 5, tokenizer: tinyLlamaVocab() });
  app = createApp({ modelsDir: DIR, threads: 1 });
});
afterAll(async () => app.registry.close());

const post = (path: string, body: unknown) => app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('Ollama API', () => {
  it('GET / and /api/version', async () => {
    expect(await (await app.request('/')).text()).toBe('Tessera is running');
    expect((await (await app.request('/api/version')).json()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('GET /api/tags lists the models directory', async () => {
    const { models } = await (await app.request('/api/tags')).json();
    expect(models.map((m: { name: string }) => m.name)).toEqual(['tiny:latest']);
  });

  it('POST /api/generate streams NDJSON with final statistics', async () => {
    const res = await post('/api/generate', { model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 5, temperature: 0 } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    expect(last.eval_count).toBeGreaterThan(0);
    expect(last.prompt_eval_count).toBeGreaterThan(0);
    expect(typeof last.total_duration).toBe('number');
    expect(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === 'string')).toBe(true);
  });

  it('POST /api/generate with stream:false answers one object', async () => {
    const body = await (await post('/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 3, temperature: 0 } })).json();
    expect(body.done).toBe(true);
    expect(typeof body.response).toBe('string');
  });

  it('POST /api/chat answers in the assistant role', async () => {
    const body = await (await post('/api/chat', { model: 'tiny', stream: false, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 3 } })).json();
    expect(body.message.role).toBe('assistant');
    expect(body.done).toBe(true);
  });

  it('errors: unknown model 404, bad body 400, bad option 400 — and the server keeps serving', async () => {
    const nf = await post('/api/generate', { model: 'missing', prompt: 'x' });
    expect(nf.status).toBe(404);
    expect((await nf.json()).error).toContain("model 'missing' not found");
    const bad = await post('/api/generate', { prompt: 'x' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toContain('model');
    const opt = await post('/api/generate', { model: 'tiny', prompt: 'x', options: { temperature: -1 } });
    expect(opt.status).toBe(400);
    expect((await opt.json()).error).toContain('temperature');
    const ok = await post('/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 2 } });
    expect(ok.status).toBe(200);
  });
});
