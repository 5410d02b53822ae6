/** A model split over several WASM instances runs on Bun and Deno too, with the same greedy tokens as one instance on Node. */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { planMemory } from '../../src/model/memory-plan.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIR = join(tmpdir(), 'tessera-sharded-runtimes');
const MODEL = join(DIR, 'q8-4layer.gguf');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/sharded-smoke.mjs';

function run(cmd: string, args: string[]): { shards: number; tokens: number[] } {
  const out = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('a sharded model on every runtime', () => {
  let node: number[];
  let maxShardBytes: number;
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    await writeSyntheticLlama(MODEL, { nEmbd: 128, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 256, type: 'Q8_0', seed: 9, tokenizer: tinyLlamaVocab() });
    const plan = planMemory(await openGguf(MODEL), { nCtx: 64, maxTokens: 16, kvType: GgmlType.F16, threads: 2, canShard: true });
    maxShardBytes = plan.totalBytes - Math.ceil((plan.weightBytes + plan.kvBytes) / 3);
    const e = await createEngine({ model: MODEL, threads: 2, numCtx: 64, numBatch: 16 });
    node = [];
    for await (const c of e.generate({ prompt: [1, 17, 42, 99, 7], options: { temperature: 0, num_predict: 8 } })) if (c.token >= 0) node.push(c.token);
    expect(e.info.shards).toBe(1);
    await e.close();
    expect(node).toHaveLength(8);
  });

  it('Bun: several instances, the same tokens', () => {
    const r = run(join(BIN, 'bun'), [SCRIPT, MODEL, String(maxShardBytes)]);
    expect(r.shards).toBeGreaterThan(1);
    expect(r.tokens).toEqual(node);
  });
  it('Deno: several instances, the same tokens', () => {
    const r = run(join(BIN, 'deno'), ['run', '-A', SCRIPT, MODEL, String(maxShardBytes)]);
    expect(r.shards).toBeGreaterThan(1);
    expect(r.tokens).toEqual(node);
  });
});
