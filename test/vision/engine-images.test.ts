/**
 * Images end to end through the Engine (synthetic Gemma 3 + SigLIP projector, synthetic llama + llava projector):
 * - the first token's log-probabilities equal an independent run of the same image through the model's embedding
 *   input (LlamaModel + VisionEncoder loaded on their own backend, prefillWithImage) within 1e-4;
 * - KV prefix reuse: a second question about the same image reuses the pages holding its rows (cachedTokens past
 *   the image) and its log-probabilities equal a cold engine's within 1e-4; another image reuses none of them;
 * - the image cache: the second request's image is a cache hit (nothing decoded or encoded);
 * - 3 concurrent requests with images give the tokens they give one at a time (greedy);
 * - an image's blocks encoded as one batch (imageCache.encodeBatch) equal one block at a time;
 * - llava: the image rows before the text, and a text-only engine refuses images.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { WasmCore } from '../../src/backend/wasm/core.ts';
import { createEngine, type Engine, type Generation, type TokenLogprob } from '../../src/engine.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { ImageCache } from '../../src/vision/cache.ts';
import { VisionEncoder } from '../../src/vision/encoder/index.ts';
import { prefillWithImage } from '../../src/vision/text-input.ts';
import { createTokenizer } from '../../src/tokenizer/index.ts';
import { buildPng, pattern } from './images.ts';
import { N_SOFT, writeGemma3Vision, writeLlavaVision, type VisionFiles } from './vision-model.ts';

const DIR = join(tmpdir(), `tessera-engine-images-${process.pid}`);
mkdirSync(DIR, { recursive: true });

let g3: VisionFiles;
let engine: Engine;
const png = (w: number, h: number, shift = 0) => buildPng(w, h, 2, pattern(w, h).map((v) => (v + shift) & 255));
const IMG_A = png(40, 30);
const IMG_B = png(40, 30, 77);
const greedy = { temperature: 0, num_predict: 3, seed: 1 };

const open = (files: VisionFiles, extra: Record<string, unknown> = {}) =>
  createEngine({ model: files.model, projector: files.projector, threads: 1, backend: 'wasm', tune: false, numCtx: 256, kvPageSize: 16, numParallel: 3, ...extra });

async function drain(gen: Generation): Promise<{ tokens: number[]; lp: TokenLogprob[] }> {
  const tokens: number[] = [];
  const lp: TokenLogprob[] = [];
  for await (const c of gen) {
    if (c.token >= 0) tokens.push(c.token);
    if (c.logprobs) lp.push(...c.logprobs);
  }
  return { tokens, lp };
}

const maxTopDiff = (a: TokenLogprob, b: TokenLogprob) => {
  const m = new Map(b.top.map((t) => [t.token, t.logprob]));
  let d = 0;
  for (const t of a.top) d = Math.max(d, Math.abs(t.logprob - (m.get(t.token) ?? Infinity)));
  return d;
};

beforeAll(async () => {
  g3 = await writeGemma3Vision(DIR);
  engine = await open(g3);
}, 120_000);
afterAll(async () => {
  await engine?.close();
});

describe('Engine with a Gemma 3 projector', () => {
  it('lays the image out as <start_of_image> + soft rows + <end_of_image> where the marker is', async () => {
    expect(engine.info.vision).toBe('gemma3');
    const gen = engine.generate({ prompt: 'hello <__media__> world', images: [IMG_A], options: greedy, session: 'layout' });
    const { tokens } = await drain(gen);
    expect(tokens.length).toBeGreaterThan(0);
    const b = gen.images!.blocks;
    expect(b).toHaveLength(1);
    expect(b[0]!.end - b[0]!.start).toBe(N_SOFT);
    const tk = engine.tokenizer;
    const before = tk.encode('hello ', { addSpecial: true, parseSpecial: true }).length;
    expect(b[0]!.start).toBe(before + 1); // after <start_of_image>
    expect(gen.images!.promptTokens).toBe(before + 1 + N_SOFT + 1 + tk.encode(' world', { addSpecial: false }).length);
  });

  it('first-token log-probabilities equal an independent prefill of the same image (1e-4)', async () => {
    const gen = engine.generate({ prompt: 'hello world', images: [IMG_A], options: { ...greedy, num_predict: 1 }, logprobs: 20, session: 'ref' });
    const { lp } = await drain(gen);
    // Reference: the model and the encoder on a backend of their own, the image through an ImageCache of its own.
    const be = await WasmBackend.create({ threads: 1 });
    try {
      const file = await openGguf(g3.model);
      const model = await LlamaModel.load(file, be, { nCtx: 64, maxTokens: 64, logitRows: 1 });
      model.enableEmbeddingInput();
      const enc = await VisionEncoder.load(await openGguf(g3.projector), be);
      const cache = new ImageCache({ encoder: enc, storage: new MemoryStorage(), core: await WasmCore.load() });
      const { embeddings } = await cache.encode(IMG_A, 'ref');
      const tk = createTokenizer(file.metadata, { path: file.path });
      const soi = Array.from({ length: tk.vocabSize }, (_, i) => i).find((i) => tk.tokenText(i) === '<start_of_image>')!;
      const eoi = soi + 1;
      const text = tk.encode('hello world', { addSpecial: false });
      const tokens = Int32Array.from([tk.bos!, soi, ...new Array(N_SOFT).fill(soi), eoi, ...text]);
      await prefillWithImage(model, { tokens, softStart: 2, embeddings, pos0: 0 });
      const logits = model.logits.subarray(0, model.hp.nVocab);
      let mx = -Infinity;
      for (const v of logits) mx = Math.max(mx, v);
      let sum = 0;
      for (const v of logits) sum += Math.exp(v - mx);
      const lse = mx + Math.log(sum);
      const first = lp[0]!;
      expect(first.top.length).toBe(20);
      for (const t of first.top) expect(Math.abs(t.logprob - (logits[t.token]! - lse))).toBeLessThanOrEqual(1e-4);
    } finally {
      await be.close();
    }
  }, 60_000);

  it('a second question about the same image reuses its KV pages and the image cache; logits equal a cold run (1e-4)', async () => {
    const e = await open(g3);
    const cold = await open(g3);
    try {
      const first = e.generate({ prompt: 'hello', images: [IMG_A], options: greedy, session: 'kv' });
      await drain(first);
      expect(first.images!.cached).toEqual([false]);
      const q = 'the world';
      const second = e.generate({ prompt: q, images: [IMG_A], options: greedy, logprobs: 20, session: 'kv' });
      const warm = await drain(second);
      expect(second.images!.cached).toEqual([true]); // no decode, no encode
      const span = second.images!.blocks[0]!;
      expect(second.stats!.cachedTokens).toBeGreaterThanOrEqual(span.end + 1); // the rows and <end_of_image>
      const ref = cold.generate({ prompt: q, images: [IMG_A], options: greedy, logprobs: 20, session: 'kv' });
      const c = await drain(ref);
      expect(ref.stats!.cachedTokens).toBe(0);
      expect(warm.tokens).toEqual(c.tokens);
      for (let i = 0; i < warm.lp.length; i++) expect(maxTopDiff(warm.lp[i]!, c.lp[i]!)).toBeLessThanOrEqual(1e-4);
      // Another image with the same layout: none of the image's pages match.
      const other = e.generate({ prompt: q, images: [IMG_B], options: greedy, session: 'kv' });
      await drain(other);
      expect(other.stats!.cachedTokens).toBeLessThanOrEqual(span.start);
    } finally {
      await e.close();
      await cold.close();
    }
  }, 60_000);

  it('3 concurrent requests with images give the tokens they give one at a time', async () => {
    const reqs = [
      { prompt: 'hello', images: [IMG_A] },
      { prompt: 'the world', images: [IMG_B] },
      { prompt: 'a', images: [IMG_A, IMG_B] },
    ];
    const e = await open(g3, { imageCache: { cache: false } });
    try {
      const alone: number[][] = [];
      for (const r of reqs) alone.push((await drain(e.generate({ ...r, options: { ...greedy, num_predict: 6 } }))).tokens);
      const together = await Promise.all(reqs.map((r) => drain(e.generate({ ...r, options: { ...greedy, num_predict: 6 } }))));
      expect(together.map((t) => t.tokens)).toEqual(alone);
      expect(e.slotStats()!.batches).toBeGreaterThan(0);
    } finally {
      await e.close();
    }
  }, 60_000);

  it('one slot (numParallel 1: forwards on table set 0) gives the tokens of three', async () => {
    const one = await open(g3, { numParallel: 1 });
    try {
      const a = await drain(one.generate({ prompt: 'the world', images: [IMG_B], options: { ...greedy, num_predict: 6 } }));
      const b = await drain(engine.generate({ prompt: 'the world', images: [IMG_B], options: { ...greedy, num_predict: 6 } }));
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      await one.close();
    }
  });

  it('an image\'s blocks encoded as one batch give the embeddings of one block at a time (1e-5)', async () => {
    const big = png(96, 64, 9);
    const batched = await open(g3, { imageCache: { maxTiles: 4 } }); // default encodeBatch: all 5 blocks (overview + 2×2)
    const single = await open(g3, { imageCache: { maxTiles: 4, encodeBatch: 1 } });
    try {
      expect([batched.vision!.encodeBatch, single.vision!.encodeBatch]).toEqual([5, 1]);
      const a = await batched.vision!.cache.encode(big, 'batch');
      const b = await single.vision!.cache.encode(big, 'batch');
      expect(a.nTiles).toBeGreaterThan(2);
      expect(a.embeddings.length).toBe(b.embeddings.length);
      let d = 0;
      for (let i = 0; i < a.embeddings.length; i++) d = Math.max(d, Math.abs(a.embeddings[i]! - b.embeddings[i]!));
      expect(d).toBeLessThanOrEqual(1e-5);
      const ta = await drain(batched.generate({ prompt: 'hello', images: [big], options: greedy }));
      const tb = await drain(single.generate({ prompt: 'hello', images: [big], options: greedy }));
      expect(ta.tokens).toEqual(tb.tokens);
    } finally {
      await batched.close();
      await single.close();
    }
  }, 60_000);

  it('chat: a message\'s images go before its text', async () => {
    const gen = engine.chat({ messages: [{ role: 'user', content: 'hello', images: [IMG_A] }], options: greedy });
    await drain(gen);
    expect(gen.images!.blocks).toHaveLength(1);
  });

  it('more images than the context fits: a ValidationError naming it', async () => {
    const e = await open(g3, { numCtx: 48 });
    try {
      const gen = e.generate({ prompt: 'hello', images: [IMG_A, IMG_B, IMG_A], options: greedy });
      await expect(drain(gen)).rejects.toThrow(/more images than the context fits/);
    } finally {
      await e.close();
    }
  });
});

describe('Engine with an llava projector', () => {
  it('image rows before the text, causal; a text-only engine refuses images', async () => {
    const lv = await writeLlavaVision(DIR);
    const e = await open(lv);
    try {
      expect(e.info.vision).toBe('mlp');
      const gen = e.generate({ prompt: 'hello', images: [IMG_A], options: greedy });
      const { tokens } = await drain(gen);
      expect(tokens.length).toBeGreaterThan(0);
      expect(gen.images!.blocks[0]!.start).toBe(1); // right after BOS
    } finally {
      await e.close();
    }
    const t = await createEngine({ model: lv.model, threads: 1, backend: 'wasm', tune: false, numCtx: 64 });
    try {
      expect(() => t.generate({ prompt: 'hello', images: [IMG_A] })).toThrow(/does not support images/);
    } finally {
      await t.close();
    }
  }, 60_000);
});
