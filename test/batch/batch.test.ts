/**
 * Continuous batching (src/batch/scheduler.ts) through the engine, on synthetic llama/qwen3 models (WASM, 1 thread):
 * - batched == single: 4 greedy generations run at once (one forward per step, checked by the scheduler's counters)
 *   give the tokens each gives alone on a 1-slot engine, and the log-probs of the chosen token and its top 20
 *   alternatives within 1e-3 (the criterion of the issue; matmul numerics per row do not depend on the batch, so the
 *   measured difference is 0). Prompts of different lengths, so prefill chunks and decode steps share batches.
 * - a prompt longer than num_batch beside running generations (chunks cut to the rows left) gives the same tokens;
 * - abort: a generation aborted mid-stream yields at most one more token, and its slot goes to a waiting one;
 * - an abort while waiting for a slot ends that generation at once (doneReason 'abort', no tokens);
 * - shared prefix: two generations whose prompts share full pages hold those pages once while both run
 *   (KV pages held < the sum of both sequences' pages), whether the second starts after the first's prompt is in
 *   the cache or at the same time (it then waits for the first's prompt and begins on its pages);
 * - KV pages run out with several generations: the others wait instead of failing, all finish as alone;
 * - sharded backend (2 WASM instances): batched == single tokens.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/index.ts';
import type { TokenLogprob } from '../../src/engine.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { planMemory } from '../../src/model/memory-plan.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-batch');
const LLAMA = join(DIR, 'llama-q8.gguf');
const QWEN3 = join(DIR, 'qwen3-q4.gguf');
const base = { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5, type: 'Q8_0' as const, tokenizer: tinyLlamaVocab() };
const PS = 16;
const TOL = 1e-3;

const engines: Engine[] = [];
async function engine(opts: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine({ threads: 1, numCtx: 256, kvPageSize: PS, ...opts });
  engines.push(e);
  return e;
}

function promptOf(n: number, seed: number, nVocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 31 + seed * 17 + ((i * i) % 13)) % (nVocab - 3)));
}

interface Run {
  tokens: number[];
  lps: TokenLogprob[];
}

async function greedy(e: Engine, prompt: number[], n: number, signal?: AbortSignal): Promise<Run> {
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: n }, logprobs: 20, signal });
  const run: Run = { tokens: [], lps: [] };
  for await (const c of gen) {
    if (c.token >= 0) run.tokens.push(c.token);
    if (c.logprobs) run.lps.push(...c.logprobs);
  }
  return run;
}

/** Same tokens; per step the chosen token's log-prob and each top alternative's within TOL. @returns the largest difference */
function compare(a: Run, b: Run): number {
  expect(a.tokens).toEqual(b.tokens);
  expect(a.lps.length).toBe(b.lps.length);
  let worst = 0;
  for (let i = 0; i < a.lps.length; i++) {
    const x = a.lps[i];
    const y = b.lps[i];
    expect(x.token).toBe(y.token);
    worst = Math.max(worst, Math.abs(x.logprob - y.logprob));
    const ym = new Map(y.top.map((t) => [t.token, t.logprob]));
    for (const t of x.top.slice(0, 10)) {
      const v = ym.get(t.token);
      if (v !== undefined) worst = Math.max(worst, Math.abs(t.logprob - v));
    }
    expect(x.top[0].token).toBe(y.top[0].token);
  }
  expect(worst).toBeLessThanOrEqual(TOL);
  return worst;
}

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(LLAMA, { ...base, seed: 21 });
  await writeSyntheticLlama(QWEN3, { ...base, arch: 'qwen3', type: 'Q4_0', seed: 22 });
});

afterAll(async () => {
  for (const e of engines) await e.close();
});

describe('continuous batching', () => {
  for (const [name, path] of [['llama Q8_0', LLAMA], ['qwen3 Q4_0', QWEN3]] as const) {
    it(`${name}: 4 generations at once give each one's tokens and log-probs alone`, async () => {
      const single = await engine({ model: path, numParallel: 1 });
      const batched = await engine({ model: path, numParallel: 4 });
      const V = single.info.nVocab;
      const prompts = [5, 23, 40, 61].map((n, k) => promptOf(n, 30 + k, V));
      const alone: Run[] = [];
      for (const p of prompts) alone.push(await greedy(single, p, 24));
      const together = await Promise.all(prompts.map((p) => greedy(batched, p, 24)));
      let worst = 0;
      for (let k = 0; k < prompts.length; k++) worst = Math.max(worst, compare(together[k], alone[k]));
      const st = batched.slotStats()!;
      // Batching happened: far fewer forwards than steps (4 × (1 prefill + 23 decode) one by one).
      expect(st.batchSeqs / st.batches).toBeGreaterThan(3);
      expect(st.active).toBe(0);
      console.log(`${name}: ${st.batches} forwards for ${st.batchSeqs} sequence steps; largest log-prob difference ${worst}`);
    });
  }

  it('a prompt longer than num_batch beside running generations: chunks cut to the rows left, same tokens', async () => {
    const single = await engine({ model: LLAMA, numParallel: 1, numBatch: 32 });
    const batched = await engine({ model: LLAMA, numParallel: 3, numBatch: 32 });
    const V = single.info.nVocab;
    const short = [promptOf(7, 1, V), promptOf(9, 2, V)];
    const long = promptOf(100, 3, V);
    const alone = [await greedy(single, short[0], 20), await greedy(single, short[1], 20), await greedy(single, long, 8)];
    const a = greedy(batched, short[0], 20);
    const b = greedy(batched, short[1], 20);
    await new Promise((r) => setTimeout(r, 5));
    const c = greedy(batched, long, 8);
    const together = await Promise.all([a, b, c]);
    for (let k = 0; k < 3; k++) compare(together[k], alone[k]);
  });

  it('abort mid-stream: at most one more token, and the slot goes to the generation waiting for it', async () => {
    const e = await engine({ model: LLAMA, numParallel: 1 });
    const V = e.info.nVocab;
    const ac = new AbortController();
    const gen = e.generate({ prompt: promptOf(10, 7, V), options: { temperature: 0, num_predict: 200 }, signal: ac.signal });
    let started = false;
    const waiting = (async () => {
      // Asked for while the first holds the only slot.
      while (!started) await new Promise((r) => setTimeout(r, 1));
      const r = await greedy(e, promptOf(12, 8, V), 4);
      return r.tokens.length;
    })();
    let n = 0;
    let after = 0;
    for await (const c of gen) {
      if (c.token < 0) continue;
      n++;
      if (n === 3) {
        started = true;
        await new Promise((r) => setTimeout(r, 20)); // the waiting one asks for a slot now
        expect(e.slotStats()!.queued).toBe(1);
        ac.abort();
      } else if (n > 3) after++;
    }
    expect(gen.doneReason).toBe('abort');
    expect(after).toBeLessThanOrEqual(1);
    expect(await waiting).toBe(4);
    expect(e.slotStats()!.active).toBe(0);
  });

  it('abort while waiting for a slot: ends at once with no tokens', async () => {
    const e = await engine({ model: LLAMA, numParallel: 1 });
    const V = e.info.nVocab;
    const first = greedy(e, promptOf(10, 9, V), 30);
    await new Promise((r) => setTimeout(r, 1));
    const ac = new AbortController();
    const gen = e.generate({ prompt: promptOf(10, 10, V), options: { temperature: 0, num_predict: 30 }, signal: ac.signal });
    const it2 = gen[Symbol.asyncIterator]();
    const next = it2.next();
    // Until it queues behind the first (a few ms; longer on a loaded machine).
    for (let i = 0; i < 2000 && e.slotStats()!.queued === 0; i++) await new Promise((r) => setTimeout(r, 1));
    expect(e.slotStats()!.queued).toBe(1);
    ac.abort();
    expect((await next).done).toBe(true);
    expect(gen.doneReason).toBe('abort');
    expect(gen.stats!.evalCount).toBe(0);
    expect(e.slotStats()!.queued).toBe(0);
    expect((await first).tokens.length).toBe(30);
  });

  it('two generations sharing a prefix hold its pages once while both run', async () => {
    const e = await engine({ model: LLAMA, numParallel: 2 });
    const V = e.info.nVocab;
    const prefix = promptOf(4 * PS, 11, V); // 4 full pages
    const pa = [...prefix, ...promptOf(5, 12, V)];
    const pb = [...prefix, ...promptOf(7, 13, V)];
    const n = 20;
    const ga = e.generate({ prompt: pa, options: { temperature: 0, num_predict: n } })[Symbol.asyncIterator]();
    await ga.next(); // A's prompt is in the cache: its full pages are indexed
    const genB = e.generate({ prompt: pb, options: { temperature: 0, num_predict: n } });
    const gb = genB[Symbol.asyncIterator]();
    await gb.next();
    await ga.next();
    // Both run now: A at pa.length + 2 positions, B at pb.length + 1.
    const pages = (len: number) => Math.ceil(len / PS);
    const held = e.kvStats()!.hot.held;
    const sum = pages(pa.length + 2) + pages(pb.length + 1);
    expect(held).toBeLessThan(sum);
    expect(held).toBe(sum - 4); // exactly the 4 prefix pages are shared
    while (!(await ga.next()).done);
    while (!(await gb.next()).done);
    expect(genB.stats!.cachedTokens).toBe(4 * PS);
  });

  it('two generations sharing a prefix, started together: the later one waits for the prefix and shares its pages', async () => {
    const single = await engine({ model: LLAMA, numParallel: 1 });
    const e = await engine({ model: LLAMA, numParallel: 2 });
    const V = e.info.nVocab;
    const prefix = promptOf(3 * PS, 14, V); // 3 full pages
    const pa = [...prefix, ...promptOf(6, 15, V)];
    const pb = [...prefix, ...promptOf(9, 16, V)];
    const genA = e.generate({ prompt: pa, options: { temperature: 0, num_predict: 12 } });
    const genB = e.generate({ prompt: pb, options: { temperature: 0, num_predict: 12 } });
    const ia = genA[Symbol.asyncIterator]();
    const ib = genB[Symbol.asyncIterator]();
    const [a0, b0] = await Promise.all([ia.next(), ib.next()]);
    const held = e.kvStats()!.hot.held;
    const pages = (len: number) => Math.ceil(len / PS);
    expect(held).toBe(pages(pa.length + 1) + pages(pb.length + 1) - 3);
    const ta = [a0.value!.token];
    const tb = [b0.value!.token];
    for (let r = await ia.next(); !r.done; r = await ia.next()) if (r.value.token >= 0) ta.push(r.value.token);
    for (let r = await ib.next(); !r.done; r = await ib.next()) if (r.value.token >= 0) tb.push(r.value.token);
    expect(genB.stats!.cachedTokens).toBe(3 * PS);
    expect(ta).toEqual((await greedy(single, pa, 12)).tokens);
    expect(tb).toEqual((await greedy(single, pb, 12)).tokens);
  });

  it('KV pages run out with several generations: they wait for pages, and all finish as alone', async () => {
    const probe = await engine({ model: LLAMA, numParallel: 1 });
    const pageBytes = probe.kvStats()!.hot.allocatedBytes / Math.ceil(256 / PS) / 2;
    // 10 pages for 3 generations of 3–4 pages each: at most 2 fit at once.
    const e = await engine({ model: LLAMA, numParallel: 3, kvHotBytes: 10 * pageBytes });
    const V = e.info.nVocab;
    const prompts = [40, 41, 42].map((n, k) => promptOf(n, 40 + k, V));
    const alone: Run[] = [];
    for (const p of prompts) alone.push(await greedy(probe, p, 20));
    const together = await Promise.all(prompts.map((p) => greedy(e, p, 20)));
    for (let k = 0; k < 3; k++) compare(together[k], alone[k]);
  });

  it('sharded backend (2 instances): batched == single tokens', async () => {
    const plan = planMemory(await openGguf(LLAMA), { nCtx: 256, maxTokens: 512, kvType: GgmlType.F16, threads: 1, canShard: true });
    const maxShardBytes = plan.totalBytes - Math.ceil((plan.weightBytes + plan.kvBytes) / 3);
    const single = await engine({ model: LLAMA, numParallel: 1, maxShardBytes });
    const batched = await engine({ model: LLAMA, numParallel: 3, maxShardBytes });
    expect(batched.info.shards).toBeGreaterThan(1);
    const V = single.info.nVocab;
    const prompts = [6, 17, 33].map((n, k) => promptOf(n, 50 + k, V));
    const alone: Run[] = [];
    for (const p of prompts) alone.push(await greedy(single, p, 12));
    const together = await Promise.all(prompts.map((p) => greedy(batched, p, 12)));
    for (let k = 0; k < 3; k++) compare(together[k], alone[k]);
    expect(batched.slotStats()!.batchSeqs / batched.slotStats()!.batches).toBeGreaterThan(2);
  });
});
