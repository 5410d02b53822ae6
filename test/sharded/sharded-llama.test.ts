/**
 * A model split over 2 and 3 WASM instances gives the same logits, bit for bit, as one instance: prefill
 * (every row) and decode steps. The sharded backend records the same kernels on the same inputs; only where
 * they run and the copies between memories differ, so any difference is a placement or copy bug.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.ts';
import { ShardedBackend } from '../../src/backend/sharded/backend.ts';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { createEngine } from '../../src/engine.ts';
import { openGguf, type GgufFile } from '../../src/gguf/reader.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { planMemory } from '../../src/model/memory-plan.ts';
import { loadModel } from '../../src/model/model.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-sharded');
const MODEL = join(DIR, 'q4k-4layer.gguf');
const PROMPT = [1, 17, 42, 99, 7, 3, 250, 12];
const DECODE = [5, 77, 31];

/** Logits of the prefill (every row) and of each decode step. */
async function run(file: GgufFile, be: Backend): Promise<Float32Array[]> {
  try {
    const m = await loadModel(file, be, { nCtx: 64, maxTokens: 16, logitRows: PROMPT.length, kvType: GgmlType.F16 });
    const out: Float32Array[] = [];
    PROMPT.forEach((t, i) => {
      m.inputTokens[i] = t;
      m.inputPositions[i] = i;
    });
    await m.forward(PROMPT.length, PROMPT.length, PROMPT.length);
    out.push(m.logits.slice(0, PROMPT.length * m.hp.nVocab));
    for (let i = 0; i < DECODE.length; i++) {
      const pos = PROMPT.length + i;
      m.inputTokens[0] = DECODE[i];
      m.inputPositions[0] = pos;
      await m.forward(1, pos + 1, 1);
      out.push(m.logits.slice(0, m.hp.nVocab));
    }
    return out;
  } finally {
    await be.close();
  }
}

describe('ShardedBackend', () => {
  let file: GgufFile;
  let one: Float32Array[];
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    // Q4_K with Q6_K output and ffn_down (Q4_K_M's mix), qwen-free llama graph with GQA.
    await writeSyntheticLlama(MODEL, {
      nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 512, type: 'Q4_K', seed: 5, tokenizer: tinyLlamaVocab(),
      typeOverrides: { 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' },
    });
    file = await openGguf(MODEL);
    one = await run(file, await WasmBackend.create({ threads: 2 }));
  });

  it.each([
    ['2 shards', 2, [0, 0, 1, 1]],
    ['3 shards', 3, [0, 1, 1, 2]],
    ['every layer elsewhere than its neighbours', 2, [1, 0, 1, 0]],
  ])('%s: prefill and decode logits bit-identical to 1 instance', async (_, shards, layerShard) => {
    const be = await ShardedBackend.create({ shards, layerShard, threads: 2 });
    const got = await run(file, be);
    expect(got.length).toBe(one.length);
    for (let i = 0; i < one.length; i++) {
      expect(got[i].length).toBe(one[i].length);
      const bad = got[i].findIndex((v, j) => !Object.is(v, one[i][j]));
      expect(bad, `step ${i}: first differing logit`).toBe(-1);
    }
    // sanity: the logits are real numbers and not all equal
    expect(one[0].every(Number.isFinite)).toBe(true);
    expect(new Set(one[0].subarray(0, 100)).size).toBeGreaterThan(50);
  });

  it('memory addresses past 2 GiB (copies between memories as unsigned addresses): still bit-identical', async () => {
    const be = await ShardedBackend.create({ shards: 2, layerShard: [0, 0, 1, 1], threads: 1 });
    // skip 2.25 GiB of each memory: only address space, the pages are never touched
    for (const sh of be.shards) sh.core.alloc(2.25 * 2 ** 30);
    const got = await run(file, be);
    for (let i = 0; i < one.length; i++) expect(got[i].findIndex((v, j) => !Object.is(v, one[i][j])), `step ${i}`).toBe(-1);
  });

  it('each shard holds its layers: weights are not replicated', async () => {
    const be = await ShardedBackend.create({ shards: 2, layerShard: [0, 0, 1, 1], threads: 1 });
    try {
      await loadModel(file, be, { nCtx: 64, maxTokens: 16, kvType: GgmlType.F16 });
      const layer = (il: number) => file.tensors.filter((t) => t.name.startsWith(`blk.${il}.`)).reduce((a, t) => a + t.byteSize, 0);
      const other = file.tensors.filter((t) => !t.name.startsWith('blk.')).reduce((a, t) => a + t.byteSize, 0);
      const [b0, b1] = be.shardBytes();
      // shard 0: embeddings/output + layers 0,1; shard 1: layers 2,3; both: the same activations
      expect(b0 - b1).toBeGreaterThan(other + layer(0) + layer(1) - layer(2) - layer(3) - 4096);
      expect(b0 - b1).toBeLessThan(other + layer(0) + layer(1) - layer(2) - layer(3) + 4096);
    } finally {
      await be.close();
    }
  });
});

describe('createEngine shards automatically', () => {
  it('maxShardBytes below the model size: several instances, same greedy tokens as one', async () => {
    const greedy = async (maxShardBytes?: number) => {
      // One instance pinned to WASM (auto may take the native library here); several: auto, which keeps sharded WASM.
      const e = await createEngine({ model: MODEL, threads: 2, numCtx: 64, numBatch: 16, maxShardBytes, backend: maxShardBytes === undefined ? 'wasm' : 'auto' });
      try {
        const toks: number[] = [];
        for await (const c of e.generate({ prompt: PROMPT, options: { temperature: 0, num_predict: 6 } })) if (c.token >= 0) toks.push(c.token);
        return { shards: e.info.shards, backend: e.info.backend, toks };
      } finally {
        await e.close();
      }
    };
    const a = await greedy();
    expect(a.shards).toBe(1);
    expect(a.backend).toBe('wasm');
    // an instance a third of the weights and KV smaller than what the whole model needs in one
    const plan = planMemory(await openGguf(MODEL), { nCtx: 64, maxTokens: 16, kvType: GgmlType.F16, threads: 2, canShard: true });
    expect(plan.shards).toBe(1);
    const b = await greedy(plan.totalBytes - Math.ceil((plan.weightBytes + plan.kvBytes) / 3));
    expect(b.shards).toBeGreaterThan(1);
    expect(b.backend).toBe('wasm-sharded');
    expect(b.toks).toEqual(a.toks);
    expect(a.toks.length).toBe(6);
  });
});

describe('KV tiers and storage on a sharded engine', () => {
  it('pages of layers in different shards persist to storage and come back: a second sharded engine reuses them, same tokens as cold', async () => {
    const { MapStorage } = await import('../kv/fake.ts');
    const storage = new MapStorage();
    const plan = planMemory(await openGguf(MODEL), { nCtx: 64, maxTokens: 16, kvType: GgmlType.F16, threads: 1, canShard: true });
    const maxShardBytes = plan.totalBytes - Math.ceil((plan.weightBytes + plan.kvBytes) / 3);
    const prompt = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 250));
    const greedy = async (opts: Partial<Parameters<typeof createEngine>[0]>) => {
      const e = await createEngine({ model: MODEL, threads: 1, numCtx: 64, numBatch: 16, kvPageSize: 16, ...opts });
      try {
        const toks: number[] = [];
        const gen = e.generate({ prompt, options: { temperature: 0, num_predict: 4 } });
        for await (const c of gen) if (c.token >= 0) toks.push(c.token);
        await e.kvFlush();
        return { toks, cached: gen.stats!.cachedTokens, shards: e.info.shards };
      } finally {
        await e.close();
      }
    };
    const cold = await greedy({});
    const a = await greedy({ maxShardBytes, kvStorage: storage });
    expect(a.shards).toBeGreaterThan(1);
    expect(a.cached).toBe(0);
    expect(storage.map.size).toBeGreaterThan(0); // full pages written behind, read from every layer's shard
    const b = await greedy({ maxShardBytes, kvStorage: storage });
    expect(b.cached).toBe(32); // 2 full pages of 16 promoted from storage into both shards
    expect(b.toks).toEqual(cold.toks);
    expect(a.toks).toEqual(cold.toks);
  });
});
