/**
 * Dynamic-resolution projectors through the Engine (synthetic qwen2vl + Qwen2.5-VL, mistral3 + Pixtral; the
 * logits against float64 references are in image-prompt-reference.test.ts):
 * - each image is encoded at its own size: a 24×16 image is 3×2 tokens, 40×24 is 5×3 (qwen), and the layout is
 *   <|vision_start|> rows <|vision_end|> / rows with [IMG_BREAK] rows and [IMG_END];
 * - KV prefix reuse and the image cache: a second question about the same image reuses the pages holding it and
 *   its log-probabilities equal a cold engine's within 1e-4;
 * - qwen: 3 concurrent requests (images of different grids: different M-RoPE offsets per table set, and a text-only
 *   request) give the tokens they give one at a time (greedy), and one slot gives the tokens of three;
 * - pixtral: an image split over several forwards (num_batch 8 < its 7 + 8 rows) gives the log-probabilities of
 *   one forward within 1e-4;
 * - blocks: with maxTiles 4 an image gets an overview and a grid of blocks, each with its own token grid;
 *   imageCache.maxImagePixels raises one block's pixel budget.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Generation, type TokenLogprob } from '../../src/engine.ts';
import { buildPng, pattern } from './images.ts';
import { writePixtralVision, writeQwenVision, type VisionFiles } from './vision-model.ts';

const DIR = join(tmpdir(), `tessera-engine-rope-images-${process.pid}`);
mkdirSync(DIR, { recursive: true });

const png = (w: number, h: number, shift = 0) => buildPng(w, h, 2, pattern(w, h).map((v) => (v + shift) & 255));
const IMG_A = png(24, 16);
const IMG_B = png(40, 24, 77);
const greedy = { temperature: 0, num_predict: 3, seed: 1 };

let qwen: VisionFiles;
let pixtral: VisionFiles;
let engine: Engine;

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
  qwen = await writeQwenVision(DIR);
  pixtral = await writePixtralVision(DIR);
  engine = await open(qwen);
}, 120_000);
afterAll(async () => {
  await engine?.close();
});

describe('Engine with a Qwen2.5-VL projector', () => {
  it('each image at its own size: <|vision_start|> + rows·cols rows + <|vision_end|>', async () => {
    expect(engine.info.vision).toBe('qwen2.5vl_merger');
    const gen = engine.generate({ prompt: 'hello <__media__> <__media__> world', images: [IMG_A, IMG_B], options: greedy });
    await drain(gen);
    const [a, b] = gen.images!.blocks;
    expect(a!.end - a!.start).toBe(3 * 2);
    expect(b!.end - b!.start).toBe(5 * 3);
    const tk = engine.tokenizer;
    const vs = tk.encode('hello ', { addSpecial: true }).length;
    expect(a!.start).toBe(vs + 1);
  });

  it('a second question about the same image reuses its KV pages and the image cache; logits equal a cold run (1e-4)', async () => {
    const e = await open(qwen);
    const cold = await open(qwen);
    try {
      await drain(e.generate({ prompt: 'hello', images: [IMG_B], options: greedy, session: 'kv' }));
      const q = 'the world';
      const second = e.generate({ prompt: q, images: [IMG_B], options: greedy, logprobs: 20, session: 'kv' });
      const warm = await drain(second);
      expect(second.images!.cached).toEqual([true]);
      const span = second.images!.blocks[0]!;
      expect(second.stats!.cachedTokens).toBeGreaterThanOrEqual(span.end - 15); // the pages before the last one
      expect(second.stats!.cachedTokens).toBeGreaterThan(span.start);
      const ref = cold.generate({ prompt: q, images: [IMG_B], options: greedy, logprobs: 20, session: 'kv' });
      const c = await drain(ref);
      expect(ref.stats!.cachedTokens).toBe(0);
      expect(warm.tokens).toEqual(c.tokens);
      for (let i = 0; i < warm.lp.length; i++) expect(maxTopDiff(warm.lp[i]!, c.lp[i]!)).toBeLessThanOrEqual(1e-4);
    } finally {
      await e.close();
      await cold.close();
    }
  }, 60_000);

  it('3 concurrent requests (different grids, one text-only) give the tokens they give one at a time; one slot too', async () => {
    const reqs = [
      { prompt: 'hello', images: [IMG_A] },
      { prompt: 'the world', images: [IMG_B] },
      { prompt: 'a hello the world' },
    ];
    const e = await open(qwen, { imageCache: { cache: false } });
    const one = await open(qwen, { numParallel: 1 });
    try {
      const opts = { ...greedy, num_predict: 6 };
      const alone: number[][] = [];
      for (const r of reqs) alone.push((await drain(e.generate({ ...r, options: opts }))).tokens);
      const together = await Promise.all(reqs.map((r) => drain(e.generate({ ...r, options: opts }))));
      expect(together.map((t) => t.tokens)).toEqual(alone);
      expect(e.slotStats()!.batches).toBeGreaterThan(0);
      const single: number[][] = [];
      for (const r of reqs) single.push((await drain(one.generate({ ...r, options: opts }))).tokens);
      expect(single).toEqual(alone);
    } finally {
      await e.close();
      await one.close();
    }
  }, 60_000);

  it('maxTiles 4: an overview and a grid of blocks, each with its own token grid and label', async () => {
    const e = await open(qwen, { imageCache: { maxTiles: 4 } });
    try {
      const wide = png(64, 32, 5);
      const gen = e.generate({ prompt: 'hello', images: [wide], options: greedy });
      await drain(gen);
      const blocks = gen.images!.blocks;
      expect(blocks.map((b) => b.label)).toEqual(['<overview>', '<block row=1 col=1>', '<block row=1 col=2>']);
      // overview 64×32 → within 32² px: 40×16 (smart resize) → 5×2 tokens; each 32×32 block → 4×4 tokens
      expect(blocks.map((b) => b.end - b.start)).toEqual([5 * 2, 16, 16]);
    } finally {
      await e.close();
    }
  }, 60_000);
});

describe('Engine with a Qwen2.5-VL projector: the pixel budget', () => {
  it('maxImagePixels raises the budget of one block (default image_size² = 32² px)', async () => {
    const wide = png(64, 32, 3);
    const dflt = await open(qwen);
    const more = await open(qwen, { imageCache: { maxImagePixels: 64 * 32 } });
    try {
      const a = dflt.generate({ prompt: 'hello', images: [wide], options: greedy });
      await drain(a);
      const b = more.generate({ prompt: 'hello', images: [wide], options: greedy });
      await drain(b);
      const rows = (g: Generation) => g.images!.blocks[0]!.end - g.images!.blocks[0]!.start;
      expect(rows(a)).toBe(5 * 2); // 40×16 px
      expect(rows(b)).toBe(8 * 4); // 64×32 px, its own size
    } finally {
      await dflt.close();
      await more.close();
    }
    await expect(open(qwen, { imageCache: { maxImagePixels: 10 } })).rejects.toThrow(/less than one token/);
  }, 60_000);
});

describe('Engine with a Pixtral (Mistral 3) projector', () => {
  it('rows with [IMG_BREAK] rows, then [IMG_END]; an image over several forwards gives the logits of one (1e-4)', async () => {
    const big = await open(pixtral, { numBatch: 64 });
    const small = await open(pixtral, { numBatch: 8 });
    try {
      expect(big.info.vision).toBe('pixtral');
      const req = { prompt: 'hello <__media__> world', images: [IMG_B], options: { ...greedy, num_predict: 2 }, logprobs: 20 };
      const g1 = big.generate(req);
      const a = await drain(g1);
      const g2 = small.generate(req);
      const b = await drain(g2);
      const blk = g1.images!.blocks[0]!;
      expect(blk.end - blk.start).toBe(3 * 4 + 2); // 40×24 → longest side 32: 32×24 px, 3 rows of 4, 2 break rows
      expect(g1.images!.promptTokens).toBeGreaterThan(8);
      expect(a.tokens).toEqual(b.tokens);
      for (let i = 0; i < a.lp.length; i++) expect(maxTopDiff(a.lp[i]!, b.lp[i]!)).toBeLessThanOrEqual(1e-4);
    } finally {
      await big.close();
      await small.close();
    }
  }, 60_000);
});
