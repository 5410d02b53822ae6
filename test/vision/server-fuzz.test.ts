/**
 * Fuzz through the server: 1,200 seeded mutations (random bytes, bit flips, truncation, insertions, header size
 * fields) of valid PNG, JPEG, GIF and WebP files, sent as `images` to /api/generate (and every tenth as an OpenAI
 * data: URL) of a model with a vision projector. Every answer is a 200 or a 4xx with a message — never a 5xx or a
 * crash — and the server still answers a plain request and an image request afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { makeModelsDir, post, testApp, type TestApp } from '../server/fixtures.ts';
import { mutate } from './fuzz-mutate.ts';
import { buildGif, buildJpeg, buildPng, buildWebp, pattern } from './images.ts';
import { writeGemma3Vision } from './vision-model.ts';

let app: TestApp;
beforeAll(async () => {
  const dir = await makeModelsDir('vision-fuzz');
  await writeGemma3Vision(dir, 'gemma3v');
  app = testApp(dir);
}, 120_000);
afterAll(async () => app?.close());

const N = 1200;

describe('image fuzz through the server', () => {
  it(`${N} mutated images: each a 200 or a 4xx with a message, the server alive after`, async () => {
    const [w, h] = [40, 24];
    const rgb = pattern(w, h);
    const seeds = [
      buildPng(w, h, 2, rgb),
      buildJpeg(w, h, rgb, 80),
      buildGif(w, h, [0, 0xff0000, 0x00ff00, 0x0000ff], [new Uint8Array(w * h).map((_, i) => (i * 5) % 4)]),
      await buildWebp(w, h, rgb, { lossless: true }),
      await buildWebp(w, h, rgb, { lossless: false, quality: 70 }),
    ];
    const rnd = mulberry32(0xf022);
    const statuses: Record<number, number> = {};
    const t0 = performance.now();
    for (let n = 0; n < N; n++) {
      const b64 = Buffer.from(mutate(seeds[n % seeds.length]!, rnd)).toString('base64');
      const r =
        n % 10 === 9
          ? await post(app, '/v1/chat/completions', { model: 'gemma3v', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } }] }] })
          : await post(app, '/api/generate', { model: 'gemma3v', prompt: 'what is it?', images: [b64], stream: false, options: { num_predict: 1 } });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      const body = await r.json();
      if (r.status !== 200) {
        expect(r.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
        expect(r.status, JSON.stringify(body)).toBeLessThan(500);
        const msg = typeof body.error === 'string' ? body.error : body.error?.message;
        expect(typeof msg === 'string' && msg.length > 0, JSON.stringify(body)).toBe(true);
      }
    }
    console.log(`server image fuzz: ${N} requests in ${((performance.now() - t0) / 1000).toFixed(1)} s, statuses`, statuses);
    expect(statuses[400]).toBeGreaterThan(100); // the mutations do reach the decoders
    expect(statuses[200]).toBeGreaterThan(0); // and some still decode and run
    const ok = await post(app, '/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 2 } });
    expect(ok.status).toBe(200);
    const img = await post(app, '/api/generate', { model: 'gemma3v', prompt: 'hello', images: [Buffer.from(seeds[0]!).toString('base64')], stream: false, options: { num_predict: 2 } });
    expect(img.status).toBe(200);
  }, 180_000);
});
