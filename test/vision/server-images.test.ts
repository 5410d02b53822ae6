/**
 * Images through the server, on a synthetic Gemma 3 text model with its projector beside it (`<name>.mmproj.gguf`):
 * /api/generate and /api/chat `images`, /v1/chat/completions `image_url` parts, sessions (`session`, OpenAI `user`)
 * tagging image cache entries, /api/show "vision", 3 parallel requests, "more images than the context fits" → 400,
 * and remote image URLs from a loopback HTTP server: refused unless TESSERA_IMAGE_FETCH=on, then fetched within
 * TESSERA_IMAGE_FETCH_MAX_BYTES. Qwen2.5-VL and Pixtral projectors (dynamic-resolution) through the same routes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModelsDir, ndjson, post, testApp, type TestApp } from '../server/fixtures.ts';
import { buildPng, pattern } from './images.ts';
import { writeGemma3Vision, writePixtralVision, writeQwenVision, type VisionFiles } from './vision-model.ts';

let dir: string;
let app: TestApp;
let http: Server;
let base: string;
let files: VisionFiles;
const png = (shift: number) => buildPng(40, 30, 2, pattern(40, 30).map((v) => (v + shift) & 255));
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const IMG = png(0);
const opts = { temperature: 0, num_predict: 3 };

beforeAll(async () => {
  dir = await makeModelsDir('vision');
  files = await writeGemma3Vision(dir, 'gemma3v');
  await writeQwenVision(dir, 'qwenv');
  await writePixtralVision(dir, 'pixtralv');
  app = testApp(dir);
  http = createServer((req, res) => {
    if (req.url === '/cat.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(IMG);
    } else if (req.url === '/slow.png') {
      setTimeout(() => res.end(IMG), 3000).unref();
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await app?.close();
  http?.close();
  delete process.env.TESSERA_IMAGE_FETCH;
  delete process.env.TESSERA_IMAGE_FETCH_MAX_BYTES;
  delete process.env.TESSERA_IMAGE_FETCH_TIMEOUT_MS;
});

const errorOf = async (r: Response) => {
  const b = await r.json();
  return typeof b.error === 'string' ? b.error : b.error?.message;
};

describe('images through the server', () => {
  it('/api/show reports vision for a model with a projector; the projector is not listed as a model', async () => {
    const s = await (await post(app, '/api/show', { model: 'gemma3v' })).json();
    expect(s.capabilities).toEqual(['completion', 'vision']);
    expect((await (await post(app, '/api/show', { model: 'tiny' })).json()).capabilities).toEqual(['completion']);
    const tags = await (await app.request('/api/tags')).json();
    const names = tags.models.map((m: { name: string }) => m.name);
    expect(names).toContain('gemma3v:latest');
    expect(names.some((n: string) => n.includes('mmproj'))).toBe(false);
  });

  it('/api/generate, /api/chat and /v1/chat/completions answer with images; sessions tag the cache entries', async () => {
    const g = await post(app, '/api/generate', { model: 'gemma3v', prompt: 'hello', images: [b64(IMG)], stream: false, options: opts, session: 'alice' });
    expect(g.status).toBe(200);
    const gb = await g.json();
    expect(gb.done).toBe(true);
    expect(gb.prompt_eval_count).toBeGreaterThan(16);
    const c = await post(app, '/api/chat', { model: 'gemma3v', messages: [{ role: 'user', content: 'hello', images: [b64(png(9))] }], options: opts, session: 'alice' });
    expect(c.status).toBe(200);
    expect((await ndjson(c)).at(-1).done).toBe(true);
    const o = await post(app, '/v1/chat/completions', {
      model: 'gemma3v', max_tokens: 3, temperature: 0, user: 'bob@example.com',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${b64(IMG)}` } }, { type: 'text', text: ' this?' }] }],
    });
    expect(o.status).toBe(200);
    expect((await o.json()).choices[0].message.role).toBe('assistant');
    const engine = app.state.loader.list().find((m) => m.name.startsWith('gemma3v'))!.engine;
    expect(await engine.vision!.cache.listSession('alice')).toHaveLength(2);
    expect(await engine.vision!.cache.listSession('bob_example.com')).toHaveLength(1);
  });

  it.each(['qwenv', 'pixtralv'])('%s (dynamic-resolution projector): /api/generate, /api/chat and /v1/chat/completions with images', async (model) => {
    expect((await (await post(app, '/api/show', { model })).json()).capabilities).toEqual(['completion', 'vision']);
    const g = await post(app, '/api/generate', { model, prompt: 'hello', images: [b64(IMG)], stream: false, options: opts, session: `carol-${model}` });
    expect(g.status, await g.clone().text()).toBe(200);
    expect((await g.json()).prompt_eval_count).toBeGreaterThan(10);
    const c = await post(app, '/api/chat', { model, messages: [{ role: 'user', content: 'hello', images: [b64(png(9))] }], options: opts, session: `carol-${model}` });
    expect(c.status).toBe(200);
    expect((await ndjson(c)).at(-1).done).toBe(true);
    const o = await post(app, '/v1/chat/completions', {
      model, max_tokens: 3, temperature: 0,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${b64(IMG)}` } }] }],
    });
    expect(o.status).toBe(200);
    const engine = app.state.loader.list().find((m) => m.name.startsWith(model))!.engine;
    expect(await engine.vision!.cache.listSession(`carol-${model}`)).toHaveLength(2);
  });

  it('3 parallel requests with images are all served', async () => {
    const rs = await Promise.all([0, 1, 2].map((i) => post(app, '/api/generate', { model: 'gemma3v', prompt: `q${i}`, images: [b64(png(i * 40))], stream: false, options: opts })));
    for (const r of rs) expect(r.status).toBe(200);
  });

  it('more images than the context fits: 400 with a message; a bad image: 400 naming it', async () => {
    const r = await post(app, '/api/generate', { model: 'gemma3v', prompt: 'x', images: [b64(IMG), b64(png(1)), b64(png(2))], stream: false, options: { ...opts, num_ctx: 48 } });
    expect(r.status).toBe(400);
    expect(await errorOf(r)).toMatch(/more images than the context fits/);
    expect((await post(app, '/api/generate', { model: 'gemma3v', prompt: 'x', images: [b64(IMG)], stream: false, options: { ...opts, num_ctx: 512 } })).status).toBe(200);
    const bad = await post(app, '/api/generate', { model: 'gemma3v', prompt: 'x', images: [b64(IMG), b64(IMG.subarray(0, 50))], stream: false, options: opts });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatch(/images\[1\]/);
  });

  it('remote image URLs: refused by default; fetched with TESSERA_IMAGE_FETCH=on, within the size limit and timeout', async () => {
    const oa = (url: string) =>
      post(app, '/v1/chat/completions', { model: 'gemma3v', max_tokens: 2, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] });
    const off = await oa(`${base}/cat.png`);
    expect(off.status).toBe(400);
    expect(await errorOf(off)).toMatch(/remote image URLs are not fetched/);
    process.env.TESSERA_IMAGE_FETCH = 'on';
    try {
      const ok = await oa(`${base}/cat.png`);
      expect(ok.status, await ok.clone().text()).toBe(200);
      const missing = await oa(`${base}/nope.png`);
      expect(missing.status).toBe(400);
      expect(await errorOf(missing)).toMatch(/HTTP 404/);
      process.env.TESSERA_IMAGE_FETCH_MAX_BYTES = '100';
      const big = await oa(`${base}/cat.png`);
      expect(big.status).toBe(400);
      expect(await errorOf(big)).toMatch(/more than the 100/);
      delete process.env.TESSERA_IMAGE_FETCH_MAX_BYTES;
      process.env.TESSERA_IMAGE_FETCH_TIMEOUT_MS = '300';
      const slow = await oa(`${base}/slow.png`);
      expect(slow.status).toBe(400);
      expect(await errorOf(slow)).toMatch(/no answer within 300 ms/);
    } finally {
      delete process.env.TESSERA_IMAGE_FETCH;
      delete process.env.TESSERA_IMAGE_FETCH_MAX_BYTES;
      delete process.env.TESSERA_IMAGE_FETCH_TIMEOUT_MS;
    }
    expect((await post(app, '/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 2 } })).status).toBe(200);
  }, 30_000);

  it('/api/create takes a projector blob beside the model (a clip GGUF), and `from` keeps the parent\'s projector', async () => {
    const upload = async (path: string) => {
      const bytes = readFileSync(path);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      expect((await app.request(`/api/blobs/${digest}`, { method: 'POST', body: bytes })).status).toBeLessThan(300);
      return digest;
    };
    const files_ = { 'model.gguf': await upload(files.model), 'mmproj.gguf': await upload(files.projector) };
    expect((await post(app, '/api/create', { model: 'seer', files: files_, stream: false })).status).toBe(200);
    expect((await (await post(app, '/api/show', { model: 'seer' })).json()).capabilities).toEqual(['completion', 'vision']);
    const g = await post(app, '/api/generate', { model: 'seer', prompt: 'hello', images: [b64(IMG)], stream: false, options: opts });
    expect(g.status).toBe(200);
    expect((await post(app, '/api/create', { model: 'seer2', from: 'gemma3v', system: 'be brief', stream: false })).status).toBe(200);
    expect((await (await post(app, '/api/show', { model: 'seer2' })).json()).capabilities).toEqual(['completion', 'vision']);
  });
});
