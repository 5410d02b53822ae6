/**
 * A 5000×5000 image through the Engine (synthetic Gemma 3 + projector, 32 px tiles, 16 soft tokens a block):
 * split into a grid of blocks (tiles.ts) plus an overview, each block's position written as text before it
 * (`<block row=R col=C>`, a newline after each row), the boxes covering the image exactly once, the generation
 * completing, and the process's peak RSS while it runs under 1.5 GB (sampled every 10 ms).
 * The same image with a dynamic-resolution projector (Qwen2.5-VL, at most 32×32 px = 16 tokens a block): one
 * block (maxTiles 1) is the whole image within the pixel budget; maxTiles 4 gives an overview and 2×2 blocks of
 * 2500² pixels, each within the same budget, so the prompt's rows stay ≤ 5 · 16 whatever the image's size.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.ts';
import { buildPng } from './images.ts';
import { N_SOFT, writeGemma3Vision, writeQwenVision } from './vision-model.ts';

const DIR = join(tmpdir(), `tessera-big-image-${process.pid}`);
mkdirSync(DIR, { recursive: true });
const SIDE = 5000;
let engine: Engine;
let big: Uint8Array;

beforeAll(async () => {
  const files = await writeGemma3Vision(DIR);
  engine = await createEngine({ model: files.model, projector: files.projector, threads: 1, backend: 'wasm', tune: false, numCtx: 1024, imageCache: { maxTiles: 16 } });
  // Grey PNG (1 byte a pixel) with a gradient per 1000-pixel square, so blocks differ.
  const grey = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) for (let x = 0; x < SIDE; x++) grey[y * SIDE + x] = ((x / 1000) | 0) * 40 + ((y / 1000) | 0) * 9 + (x & 7);
  big = buildPng(SIDE, SIDE, 0, grey);
}, 120_000);
afterAll(async () => {
  await engine?.close();
});

describe('a 5000×5000 image', () => {
  it('is split into blocks that carry their position in the prompt, with bounded memory', async () => {
    let peak = process.memoryUsage().rss;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const gen = engine.generate({ prompt: 'which block is brightest?', images: [big], options: { temperature: 0, num_predict: 4 } });
    const tokens: number[] = [];
    try {
      for await (const c of gen) if (c.token >= 0) tokens.push(c.token);
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    console.log(`5000×5000: ${gen.images!.blocks.length} blocks, ${gen.images!.promptTokens} prompt tokens, encode ${(gen.images!.encodeNs / 1e6).toFixed(0)} ms, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
    expect(gen.doneReason).not.toBeNull();
    expect(tokens.length).toBeGreaterThan(0);
    expect(peak).toBeLessThan(1.5e9);

    const blocks = gen.images!.blocks;
    expect(blocks[0]!.kind).toBe('overview');
    expect(blocks[0]!.label).toBe('<overview>');
    const grid = blocks.slice(1);
    const rows = Math.max(...grid.map((b) => b.row));
    const cols = Math.max(...grid.map((b) => b.col));
    expect(rows * cols).toBe(grid.length);
    expect(grid.length).toBe(16); // square image, 16 blocks allowed: 4×4
    let area = 0;
    grid.forEach((b, i) => {
      expect([b.row, b.col]).toEqual([Math.floor(i / cols) + 1, (i % cols) + 1]); // row-major
      expect(b.label).toBe(`<block row=${b.row} col=${b.col}>`);
      expect(b.end - b.start).toBe(N_SOFT);
      area += b.box.width * b.box.height;
    });
    expect(area).toBe(SIDE * SIDE);
    // Between two blocks: <end_of_image>, a newline at the end of a row, the next label's tokens, <start_of_image>.
    const tk = engine.tokenizer;
    const len = (s: string) => tk.encode(s, { addSpecial: false }).length;
    for (let i = 1; i < blocks.length; i++) {
      const prev = blocks[i - 1]!;
      const b = blocks[i]!;
      const rowEnd = prev.kind === 'overview' || b.row !== prev.row;
      expect(b.start - prev.end, `gap before block ${i}`).toBe(1 + (rowEnd ? len('\n') : 0) + len(b.label) + 1);
    }
  }, 120_000);
});

describe('a 5000×5000 image with a dynamic-resolution projector (Qwen2.5-VL)', () => {
  it.each([1, 4])('maxTiles %i: blocks bounded by the pixel budget, positions per block', async (maxTiles) => {
    const files = await writeQwenVision(DIR);
    const e = await createEngine({ model: files.model, projector: files.projector, threads: 1, backend: 'wasm', tune: false, numCtx: 256, imageCache: { maxTiles } });
    try {
      let peak = process.memoryUsage().rss;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      const gen = e.generate({ prompt: 'which block is brightest?', images: [big], options: { temperature: 0, num_predict: 2 } });
      const tokens: number[] = [];
      try {
        for await (const c of gen) if (c.token >= 0) tokens.push(c.token);
      } finally {
        clearInterval(timer);
      }
      const blocks = gen.images!.blocks;
      console.log(`qwen 5000×5000, maxTiles ${maxTiles}: ${blocks.length} blocks, ${gen.images!.promptTokens} prompt tokens, encode ${(gen.images!.encodeNs / 1e6).toFixed(0)} ms, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
      expect(tokens.length).toBeGreaterThan(0);
      expect(peak).toBeLessThan(1.5e9);
      // 32×32 px per block at most (8 px a token): 4×4 tokens
      for (const b of blocks) expect(b.end - b.start).toBe(16);
      expect(blocks.map((b) => b.label)).toEqual(maxTiles === 1 ? [''] : ['<overview>', '<block row=1 col=1>', '<block row=1 col=2>', '<block row=2 col=1>', '<block row=2 col=2>']);
    } finally {
      await e.close();
    }
  }, 120_000);
});
