/** Tiles cover the image exactly once with the right coordinates; blocks resample their own box; memory stays bounded on a 5000×5000 image. */
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/vision/decode.ts';
import { CoreImage } from '../../src/vision/preprocess.ts';
import { planTiles, tileTensors } from '../../src/vision/tiles.ts';
import { loadCore } from '../helpers/core.ts';
import { buildPng, pattern } from './images.ts';

function coverCount(width: number, height: number, grid: ReturnType<typeof planTiles>): Uint8Array {
  const seen = new Uint8Array(width * height);
  for (const t of grid.tiles.filter((t) => t.kind === 'grid')) {
    for (let y = t.box.y; y < t.box.y + t.box.height; y++) for (let x = t.box.x; x < t.box.x + t.box.width; x++) seen[y * width + x]!++;
  }
  return seen;
}

describe('planTiles', () => {
  it('covers every pixel exactly once, rows and columns in order, scale = tile / box', () => {
    for (const [w, h, tile, max] of [[5000, 5000, 448, 9], [1000, 500, 448, 9], [333, 1001, 224, 6], [100, 80, 448, 4], [7, 3, 2, 50]] as const) {
      const g = planTiles(w, h, { tileWidth: tile, tileHeight: tile, maxTiles: max, overview: true });
      expect(g.rows * g.cols).toBeLessThanOrEqual(max);
      expect(coverCount(w, h, g).every((v) => v === 1), `${w}×${h}`).toBe(true);
      const grid = g.tiles.filter((t) => t.kind === 'grid');
      expect(grid.map((t) => [t.row, t.col])).toEqual(Array.from({ length: g.rows * g.cols }, (_, i) => [Math.floor(i / g.cols), i % g.cols]));
      for (const t of grid) {
        expect(t.scaleX).toBeCloseTo(tile / t.box.width, 12);
        expect(t.scaleY).toBeCloseTo(tile / t.box.height, 12);
        if (t.col > 0) expect(t.box.x).toBe(grid[grid.indexOf(t) - 1]!.box.x + grid[grid.indexOf(t) - 1]!.box.width);
      }
      expect(g.tiles[0]).toMatchObject({ kind: 'overview', box: { x: 0, y: 0, width: w, height: h } });
    }
  });

  it('grid shapes: a square scan fills the budget, a small image is one tile, a wide image gets columns', () => {
    expect(planTiles(5000, 5000, { tileWidth: 448, tileHeight: 448, maxTiles: 9 })).toMatchObject({ rows: 3, cols: 3 });
    expect(planTiles(100, 80, { tileWidth: 448, tileHeight: 448, maxTiles: 9 })).toMatchObject({ rows: 1, cols: 1 });
    const wide = planTiles(1344, 448, { tileWidth: 448, tileHeight: 448, maxTiles: 9 });
    expect([wide.rows, wide.cols]).toEqual([1, 3]);
    expect(wide.tiles.map((t) => t.box.x)).toEqual([0, 448, 896]);
  });

  it('rejects bad sizes with a named error', () => {
    expect(() => planTiles(0, 10, { tileWidth: 4, tileHeight: 4, maxTiles: 2 })).toThrow(/positive integers/);
    expect(() => planTiles(10, 10, { tileWidth: 4, tileHeight: 4, maxTiles: 0 })).toThrow(/positive integers/);
  });
});

describe('tileTensors', () => {
  it('a block whose box is the tile size holds exactly its source pixels', async () => {
    const [w, h, T] = [96, 32, 32];
    const rgb = pattern(w, h);
    const core = await loadCore();
    const g = planTiles(w, h, { tileWidth: T, tileHeight: T, maxTiles: 3 });
    expect([g.rows, g.cols]).toEqual([1, 3]);
    using img = CoreImage.place(core, { width: w, height: h, data: rgb });
    for (const { tile, data } of tileTensors(img, g, { filter: 'bilinear' })) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < T; y++) {
          for (let x = 0; x < T; x++) expect(Math.round(data[(c * T + y) * T + x]! * 255)).toBe(rgb[3 * (y * w + tile.box.x + x) + c]);
        }
      }
    }
  });

  it('5000×5000: decode once, 9 blocks + overview at 448², peak RSS growth bounded', async () => {
    const core = await loadCore();
    const png = buildPng(5000, 5000, 0, new Uint8Array(5000 * 5000).map((_, i) => Math.floor(((i % 5000) * 255) / 4999)));
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
    const decoded = await decodeImage(png);
    sample();
    const g = planTiles(decoded.width, decoded.height, { tileWidth: 448, tileHeight: 448, maxTiles: 9, overview: true });
    using img = CoreImage.place(core, decoded);
    sample();
    const out = new Float32Array(3 * 448 * 448);
    let n = 0;
    for (const { tile, data } of tileTensors(img, g, { filter: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, out)) {
      sample();
      // grey = ⌊x·255/4999⌋, a linear ramp, which both filters keep: output column 224 of every block ≈ the ramp at its source x (±1.5 levels)
      const srcX = tile.box.x + (224 + 0.5) / tile.scaleX - 0.5;
      expect(Math.abs((data[224 * 448 + 224]! * 0.5 + 0.5) * 255 - (srcX * 255) / 4999)).toBeLessThan(1.5);
      n++;
    }
    expect(n).toBe(10);
    const growthMiB = (peak - base) / 2 ** 20;
    console.log(`5000×5000 tiles: peak RSS growth ${growthMiB.toFixed(0)} MiB (RGB image 72 MiB in JS + 72 MiB in the core)`);
    expect(growthMiB).toBeLessThan(600);
  }, 120_000);
});
