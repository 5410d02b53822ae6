/** Image decode, resample and tiles give the same results under Bun and Deno as under Node (test/runtime/vision-smoke.ts). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { visionSummary, type VisionSummary } from '../runtime/vision-smoke.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/vision-smoke.ts';

type Summary = VisionSummary;
const run = (cmd: string, args: string[]): Summary => JSON.parse(execFileSync(cmd, [...args, SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 }).trim().split('\n').pop()!);

describe('vision input on Bun and Deno', () => {
  let node: Summary;
  beforeAll(async () => {
    node = await visionSummary();
  });
  const same = (other: Summary) => {
    expect({ ...other, tiles: other.tiles.map((t) => ({ ...t, sum: 0 })) }).toEqual({ ...node, tiles: node.tiles.map((t) => ({ ...t, sum: 0 })) });
    // same WASM SIMD build (no relaxed ops): tile sums agree to f32 rounding of the JS sum order
    other.tiles.forEach((t, i) => expect(t.sum).toBeCloseTo(node.tiles[i]!.sum, 6));
  };
  it('Node decodes all four formats', () => {
    expect(Object.keys(node.decoded)).toEqual(['png', 'jpeg', 'gif', 'webp']);
    expect(node.tiles.length).toBe(1 + node.rows * node.cols);
  });
  it('Bun', () => same(run(join(BIN, 'bun'), [])), 120_000);
  it('Deno', () => same(run(join(BIN, 'deno'), ['run', '-A'])), 120_000);
});
