/**
 * The paged KV cache through the engine on synthetic llama/qwen3 models (WASM backend, 1 thread):
 * - prefix reuse: a request sharing a prefix with an earlier one evaluates only the rest (also a prefix
 *   that ends inside a cached full page: its leading rows are copied), and its
 *   output equals a cold engine's on the same prompt (greedy tokens, bit-identical);
 * - quantized KV: q8_0 against f16 on every position's logits, top-10 log-probs within 2e-2 and
 *   the same argmax (issue 4's criterion), on F32-weight models: with Q8_0 weights the 8-bit
 *   activation blocks amplify any perturbation of these random models (measured: f16 vs f32 KV
 *   alone moves top-10 log-probs by up to 0.05, q8_0 vs f16 by 0.035–0.042), so the KV type's own
 *   error is measured where the rest is exact (measured there: q8_0 0.005–0.006, f32 0.0002,
 *   q4_0 0.07–0.08); and on the Q8_0-weight models, no worse than llama.cpp's own q8_0-vs-f16 KV drift on
 *   the same file (measured: llama.cpp 0.036 / 0.042, Tessera 0.036 / 0.042; llama.cpp's flash-attention
 *   switch alone moves it 0.034–0.037), so 2e-2 is out of reach there for any q8_0 implementation;
 *   per-request `kv_type` gives the q8_0 engine's output;
 * - tiers: hot budget N pages with a 3N-page workload: budgets hold, output as unbudgeted;
 * - persistence: a second engine on the same storage (a Map-backed Storage; the real drivers are
 *   src/storage/*) reuses the first's full pages, prompt_eval only the rest, identical output;
 * - a request that needs more pages than the hot budget fails with KvCacheFullError only itself.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/index.ts';
import { KvCacheFullError } from '../../src/kv/cache.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { runLlamaCpp, type TopLogprobs } from '../helpers/llamacpp.ts';
import { MapStorage } from './fake.ts';

const DIR = join(tmpdir(), 'tessera-kv-engine');
// head_dim 32 and n_head_kv·head_dim 64: multiples of 32, as the block KV types need.
const LLAMA = join(DIR, 'llama.gguf');
const QWEN3 = join(DIR, 'qwen3.gguf');
const LLAMA_F32 = join(DIR, 'llama-f32.gguf');
const QWEN3_F32 = join(DIR, 'qwen3-f32.gguf');
// The shape and scales of the e2e test models (test/e2e/llama-vs-llamacpp.test.ts 'gqa').
const base = { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5, type: 'Q8_0' as const, tokenizer: tinyLlamaVocab() };
const PS = 16;

const engines: Engine[] = [];
async function engine(opts: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine({ threads: 1, numCtx: 256, kvPageSize: PS, ...opts });
  engines.push(e);
  return e;
}

function promptOf(n: number, seed: number, nVocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 31 + seed * 17 + ((i * i) % 13)) % (nVocab - 3)));
}

async function greedy(e: Engine, prompt: number[], n = 8, extra: Record<string, unknown> = {}) {
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: n, ...extra } });
  const tokens: number[] = [];
  for await (const c of gen) if (c.token >= 0) tokens.push(c.token);
  return { tokens, stats: gen.stats! };
}

function logSoftmax(x: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const l = Math.log(s) + m;
  return Float64Array.from(x, (v) => v - l);
}

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(LLAMA, { ...base, seed: 11 });
  await writeSyntheticLlama(QWEN3, { ...base, arch: 'qwen3', seed: 12 });
  await writeSyntheticLlama(LLAMA_F32, { ...base, type: 'F32', seed: 11 });
  await writeSyntheticLlama(QWEN3_F32, { ...base, type: 'F32', arch: 'qwen3', seed: 12 });
});

afterAll(async () => {
  for (const e of engines) await e.close();
});

describe('prefix reuse through the engine', () => {
  it('the second request evaluates only what follows the shared prefix; output equals a cold run', async () => {
    const e = await engine({ model: LLAMA });
    const V = e.info.nVocab;
    const sys = promptOf(80, 1, V);
    const first = await greedy(e, [...sys, 5, 6, 7]);
    expect(first.stats.cachedTokens).toBe(0);
    const q = [...sys, 9, 10, 11, 12];
    const second = await greedy(e, q);
    // 80 shared tokens = 5 full pages; the first request's partial page held 3 more tokens of
    // which none match, so exactly the shared prefix is reused.
    expect(second.stats.cachedTokens).toBe(80);
    const cold = await engine({ model: LLAMA });
    const ref = await greedy(cold, q);
    expect(ref.stats.cachedTokens).toBe(0);
    expect(second.tokens).toEqual(ref.tokens);
    // The same prompt again: everything but the last token comes from the cache, same output.
    const again = await greedy(e, q);
    expect(again.stats.cachedTokens).toBe(q.length - 1);
    expect(again.tokens).toEqual(ref.tokens);
    const st = e.kvStats()!;
    expect(st.hits).toBeGreaterThanOrEqual(10);
    expect(st.tailHits).toBeGreaterThanOrEqual(1);
  });

  it('a non-page-aligned shared prefix whose next page is full (keyed by other tokens) is reused whole; output as cold', async () => {
    const e = await engine({ model: LLAMA });
    const cold = await engine({ model: LLAMA });
    const V = e.info.nVocab;
    const sys = promptOf(40, 4, V); // 2 full pages + 8 tokens
    // The first request fills page 2 with 8 system tokens and 8 of its own: page 2 is keyed by both.
    await greedy(e, [...sys, ...promptOf(12, 5, V)], 4);
    const q = [...sys, ...promptOf(5, 6, V)]; // 45 tokens
    const lp = { logprobs: 5 };
    const run = async (eng: Engine) => {
      const gen = eng.generate({ prompt: q, options: { temperature: 0, num_predict: 8 }, ...lp });
      const out: { token: number; logprob: number; top: { token: number; logprob: number }[] }[] = [];
      for await (const c of gen) out.push(...(c.logprobs ?? []));
      return { out, stats: gen.stats! };
    };
    const warm = await run(e);
    expect(warm.stats.cachedTokens).toBe(40); // the whole shared prefix; only the 5 new tokens evaluated
    expect(e.kvStats()!.partialHits).toBe(1);
    const ref = await run(cold);
    expect(ref.stats.cachedTokens).toBe(0);
    expect(warm.out.map((t) => t.token)).toEqual(ref.out.map((t) => t.token));
    // Copied rows vs computed ones; the chunking differs (5 rows vs 45): 1e-4 on log-probs (measured: identical).
    for (let i = 0; i < ref.out.length; i++) for (let j = 0; j < ref.out[i].top.length; j++) expect(Math.abs(warm.out[i].top[j].logprob - ref.out[i].top[j].logprob)).toBeLessThan(1e-4);
    // The same prompt again: its tail page (positions 32..47) was filled by the 8 generated tokens,
    // so it is keyed by them; its 12 leading rows still serve, one token is evaluated.
    const again = await run(e);
    expect(again.stats.cachedTokens).toBe(q.length - 1);
    expect(again.out.map((t) => t.token)).toEqual(ref.out.map((t) => t.token));
  });
});

describe('quantized KV pages', () => {
  for (const [name, path] of [
    ['llama', LLAMA_F32],
    ['qwen3', QWEN3_F32],
  ] as const) {
    it(`${name}: q8_0 logits within 2e-2 log-prob (top 10) of f16, same argmax`, async () => {
      const f16 = await engine({ model: path, logitRows: 96, numBatch: 96 });
      const q8 = await engine({ model: path, logitRows: 96, numBatch: 96, kvType: 'q8_0' });
      const toks = promptOf(96, 2, f16.info.nVocab);
      const a = await f16.evaluate(toks);
      const b = await q8.evaluate(toks);
      let worst = 0;
      for (let t = 0; t < toks.length; t++) {
        const la = logSoftmax(a[t]);
        const lb = logSoftmax(b[t]);
        const top = Array.from(la.keys())
          .sort((x, y) => la[y] - la[x])
          .slice(0, 10);
        for (const i of top) worst = Math.max(worst, Math.abs(la[i] - lb[i]));
        expect(lb.indexOf(Math.max(...lb))).toBe(top[0]);
      }
      expect(worst).toBeLessThan(2e-2);
      expect(worst).toBeGreaterThan(0); // the q8_0 path was really taken
    });
  }

  /** Largest |Δ log-prob| over each position's top-10 ids of `a` that `b` also lists. */
  function drift(a: TopLogprobs[], b: TopLogprobs[]): number {
    let w = 0;
    for (let t = 0; t < a.length; t++) {
      const mb = new Map(b[t]);
      for (const [id, lp] of a[t]) if (mb.has(id)) w = Math.max(w, Math.abs(lp - mb.get(id)!));
    }
    return w;
  }
  const top10 = (rows: Float32Array[]): TopLogprobs[] =>
    rows.map((r) => {
      const l = logSoftmax(r);
      return Array.from(l.keys())
        .sort((x, y) => l[y] - l[x])
        .slice(0, 10)
        .map((i) => [i, l[i]] as [number, number]);
    });

  for (const [name, path] of [
    ['llama', LLAMA],
    ['qwen3', QWEN3],
  ] as const) {
    it(`${name} (Q8_0 weights): q8_0 KV drifts from f16 KV no more than llama.cpp's q8_0 KV does on the same file`, async () => {
      const f16 = await engine({ model: path, logitRows: 96, numBatch: 96 });
      const q8 = await engine({ model: path, logitRows: 96, numBatch: 96, kvType: 'q8_0' });
      const toks = promptOf(96, 2, f16.info.nVocab);
      const ours = drift(top10(await f16.evaluate(toks)), top10(await q8.evaluate(toks)));
      // llama.cpp needs flash attention for a quantized V cache; its f16 reference runs with it too.
      const r16 = await runLlamaCpp({ model: path, tokens: toks, flashAttention: true, threads: 1 });
      const r8 = await runLlamaCpp({ model: path, tokens: toks, flashAttention: true, threads: 1, kvTypeK: 'Q8_0', kvTypeV: 'Q8_0' });
      const theirs = drift(r16.top, r8.top);
      expect(theirs).toBeGreaterThan(0); // llama.cpp really used q8_0 pages
      expect(ours).toBeGreaterThan(0);
      expect(ours).toBeLessThanOrEqual(theirs * 1.1 + 2e-3);
    }, 60_000);
  }

  it('per-request kv_type equals an engine whose default is that type; kv_type_k/v mix', async () => {
    const f16 = await engine({ model: LLAMA });
    const q8 = await engine({ model: LLAMA, kvType: 'q8_0' });
    const mixed = await engine({ model: LLAMA, kvTypeK: 'q8_0', kvTypeV: 'q4_0' });
    const p = promptOf(40, 3, f16.info.nVocab);
    expect((await greedy(f16, p, 8, { kv_type: 'q8_0' })).tokens).toEqual((await greedy(q8, p, 8)).tokens);
    expect((await greedy(f16, p, 8, { kv_type_k: 'q8_0', kv_type_v: 'q4_0' })).tokens).toEqual((await greedy(mixed, p, 8)).tokens);
    // The f16 pool still serves f16 requests; the q8_0 pages are a pool of their own.
    expect(f16.kvStats()!.hot.allocatedBytes).toBeGreaterThan(f16.info.kvBytes);
    await expect(greedy(f16, p, 1, { kv_type: 'q5_0' })).rejects.toThrow(/kv_type/);
    // Pools are capped (each allocates its own hot budget): f16, q8_0, q8_0/q4_0, f32, then no more.
    expect((await greedy(f16, p, 1, { kv_type: 'f32' })).tokens.length).toBe(1);
    await expect(greedy(f16, p, 1, { kv_type: 'q4_0' })).rejects.toBeInstanceOf(KvCacheFullError);
  });
});

describe('tiers', () => {
  it('hot budget N pages, workload 3N pages: budgets hold, output as unbudgeted', async () => {
    const N = 12;
    const big = await engine({ model: LLAMA });
    const pageBytes = big.kvStats()!.hot.allocatedBytes / Math.ceil(256 / PS) / 2; // default: 2 contexts
    const small = await engine({ model: LLAMA, kvHotBytes: N * pageBytes, kvHostBytes: 4 * pageBytes });
    const V = big.info.nVocab;
    // 3 conversations of 6 full pages each (3N pages), visited twice in turn.
    const convs = [0, 1, 2].map((k) => promptOf(96, 10 + k, V));
    for (let round = 0; round < 2; round++) {
      for (const [k, c] of convs.entries()) {
        const p = [...c, round + 3, k + 3];
        const a = await greedy(small, p, 4);
        const b = await greedy(big, p, 4);
        expect(a.tokens).toEqual(b.tokens);
        const st = small.kvStats()!;
        expect(st.hot.bytes).toBeLessThanOrEqual(st.hot.budgetBytes);
        expect(st.hot.allocatedBytes).toBeLessThanOrEqual(N * pageBytes);
        expect(st.host.bytes).toBeLessThanOrEqual(st.host.budgetBytes);
      }
    }
    const st = small.kvStats()!;
    expect(st.demotes).toBeGreaterThan(0);
    expect(st.promotes).toBeGreaterThan(0);
  });

  it('a request needing more pages than the budget fails with KvCacheFullError; others go on', async () => {
    const probe = await engine({ model: LLAMA });
    const pageBytes = probe.kvStats()!.hot.allocatedBytes / Math.ceil(256 / PS) / 2;
    const e = await engine({ model: LLAMA, kvHotBytes: 4 * pageBytes });
    const V = e.info.nVocab;
    await expect(greedy(e, promptOf(100, 4, V), 2)).rejects.toBeInstanceOf(KvCacheFullError);
    const ok = await greedy(e, promptOf(30, 5, V), 4);
    expect(ok.tokens.length).toBe(4);
  });
});

describe('prefix cache in storage', () => {
  it('a fresh engine on the same storage evaluates only the new tokens, same output', async () => {
    const storage = new MapStorage();
    const a = await engine({ model: LLAMA, kvStorage: storage });
    const V = a.info.nVocab;
    const p = [...promptOf(64, 6, V), 7, 8, 9]; // 4 full pages + 3
    const ra = await greedy(a, p);
    await a.kvFlush();
    expect(a.kvStats()!.storage.writes).toBeGreaterThanOrEqual(4);
    const b = await engine({ model: LLAMA, kvStorage: storage });
    const rb = await greedy(b, p);
    expect(rb.stats.cachedTokens).toBe(64);
    expect(rb.stats.promptTokens - rb.stats.cachedTokens).toBe(3);
    expect(rb.tokens).toEqual(ra.tokens);
    // Storage failing: the same request recomputes and still answers the same.
    storage.failing = true;
    const c = await engine({ model: LLAMA, kvStorage: storage });
    const rc = await greedy(c, p);
    expect(rc.stats.cachedTokens).toBe(0);
    expect(rc.tokens).toEqual(ra.tokens);
  });
});
