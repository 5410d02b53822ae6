/**
 * The KV manager on a fake backend (test/kv/fake.ts): page tables, prefix sharing by reference,
 * copy on write of partial pages, fork/remove, the cache-full error, tiers under budgets, and
 * persistence through a Map-backed Storage (with faults).
 *
 * Every position's K/V bytes are a hash of the tokens up to it, written through the bound layer
 * tables; `checkCache` re-derives them from the sequence's tokens, so a page reused from the wrong
 * prefix, a stale table, or a bad copy between tiers shows up as a wrong position.
 */
import { describe, expect, it } from 'vitest';
import { KvCache, KvCacheFullError } from '../../src/kv/cache.ts';
import { KvManager, KvRangeError, type KvSequence } from '../../src/kv/manager.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { checkCache, FakeBackend, fakeForward, MapStorage } from './fake.ts';

const shape = { nLayer: 2, nHeadKv: 2, headDim: 32 };
const PS = 16;
const pageBytes = shape.nLayer * PS * 2 * (shape.nHeadKv * shape.headDim * 2); // f16 K and V

function setup(opts: { hotPages?: number; nCtx?: number; hostPages?: number; storage?: MapStorage; digest?: string; log?: (m: string) => void } = {}) {
  const be = new FakeBackend();
  const cache = new KvCache(be.asBackend(), { ...shape, nCtx: opts.nCtx ?? 256, pageSize: PS, kvType: GgmlType.F16, hotBytes: opts.hotPages ? opts.hotPages * pageBytes : undefined });
  const mgr = new KvManager(cache, { modelDigest: opts.digest ?? 'digest-a', hostBytes: (opts.hostPages ?? 0) * pageBytes, storage: opts.storage, log: opts.log });
  return { be, cache, mgr };
}

const seqOf = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + ((i * i) % 5)) % 1000);

/** begin + evaluate the rest in chunks, as the engine does; returns the sequence. */
async function run(s: ReturnType<typeof setup>, prompt: number[], chunk = 40): Promise<KvSequence> {
  const seq = await s.mgr.begin(prompt);
  while (seq.n < prompt.length) fakeForward(s.be, s.cache, s.mgr, seq, prompt, Math.min(chunk, prompt.length - seq.n));
  return seq;
}

describe('KV pages and page tables', () => {
  it('a sequence gets pages as it grows and the tables point at them', async () => {
    const s = setup();
    const p = seqOf(50, 1);
    const seq = await run(s, p);
    expect(seq.n).toBe(50);
    expect(seq.nPages).toBe(4); // ceil(50 / 16)
    expect(checkCache(s.be, s.cache, s.mgr, seq)).toBe(-1);
    expect(s.mgr.stats().hot.held).toBe(4);
    s.mgr.release(seq);
    const st = s.mgr.stats();
    expect(st.hot.held).toBe(0);
    expect(st.hot.cached).toBe(3); // the full pages stay indexed
    expect(st.hot.tails).toBe(1); // the partial one is kept for copy-on-write reuse
  });

  it('throws KvCacheFullError past the context, and when every page is held', async () => {
    const s = setup({ nCtx: 64, hotPages: 6 });
    const a = await run(s, seqOf(64, 1));
    expect(() => s.mgr.prepare(a, 1)).toThrow(KvCacheFullError);
    const b = await s.mgr.begin(seqOf(40, 2)); // 2 pages left
    fakeForward(s.be, s.cache, s.mgr, b, seqOf(40, 2), 32);
    const err = (() => {
      try {
        s.mgr.prepare(b, 8);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KvCacheFullError);
    expect((err as KvCacheFullError).code).toBe('kv_cache_full');
    expect((err as Error).message).toMatch(/held by running sequences/);
    // The other sequence is intact.
    expect(checkCache(s.be, s.cache, s.mgr, a)).toBe(-1);
  });
});

describe('shared prefixes', () => {
  it('a second request reuses every full page of the shared prefix by reference, while both run', async () => {
    const s = setup();
    const sys = seqOf(64, 3); // 4 full pages
    const a = await run(s, [...sys, 1, 2, 3, 4, 5]);
    const b = await s.mgr.begin([...sys, 9, 9, 9]);
    expect(b.reused).toBe(64);
    for (let i = 0; i < 4; i++) {
      expect(b.pages[i]).toBe(a.pages[i]); // the same page, no copy
      expect(s.cache.main.refs[a.pages[i]]).toBe(2);
    }
    fakeForward(s.be, s.cache, s.mgr, b, [...sys, 9, 9, 9], 3);
    expect(checkCache(s.be, s.cache, s.mgr, a)).toBe(-1);
    expect(checkCache(s.be, s.cache, s.mgr, b)).toBe(-1);
    s.mgr.release(a);
    s.mgr.release(b);
    expect(s.mgr.stats().hits).toBe(4);
  });

  it('always leaves at least one prompt token to evaluate', async () => {
    const s = setup();
    const p = seqOf(48, 4); // exactly 3 pages
    s.mgr.release(await run(s, p));
    const again = await s.mgr.begin(p);
    expect(again.reused).toBe(47); // 2 full pages + 15 tokens of the third, copied
    expect(again.n).toBe(47);
    fakeForward(s.be, s.cache, s.mgr, again, p, 1);
    expect(checkCache(s.be, s.cache, s.mgr, again)).toBe(-1);
  });

  it('reuses the partial last page of a finished sequence by copy (copy on write)', async () => {
    const s = setup();
    const p = seqOf(40, 5); // 2 full pages + 8 tokens
    const a = await run(s, p);
    const tailPage = a.pages[2];
    s.mgr.release(a);
    const q = [...p.slice(0, 36), 7, 7, 7, 7, 7];
    const b = await s.mgr.begin(q);
    expect(b.reused).toBe(36); // 32 from full pages, 4 from the tail
    expect(b.pages[2]).not.toBe(tailPage);
    fakeForward(s.be, s.cache, s.mgr, b, q, q.length - 36);
    expect(checkCache(s.be, s.cache, s.mgr, b)).toBe(-1);
    // The tail itself is unchanged: a third request with the original prompt still gets it.
    s.mgr.release(b);
    const c = await s.mgr.begin([...p, 1]);
    expect(c.reused).toBe(40);
    fakeForward(s.be, s.cache, s.mgr, c, [...p, 1], 1);
    expect(checkCache(s.be, s.cache, s.mgr, c)).toBe(-1);
    expect(s.mgr.stats().tailHits).toBe(2);
  });

  it('a different model digest or KV type shares nothing', async () => {
    const storage = new MapStorage();
    const s = setup({ storage });
    const p = seqOf(64, 6);
    s.mgr.release(await run(s, p));
    const q8 = await s.mgr.begin(p, { k: 'q8_0', v: 'f16' });
    expect(q8.reused).toBe(0);
    s.mgr.release(q8);
    await s.mgr.flush();
    const other = setup({ storage, digest: 'digest-b' });
    expect((await other.mgr.begin(p)).reused).toBe(0);
  });
});

describe('fork and remove', () => {
  it('fork shares full pages and copies the partial one; remove truncates with copy on write', async () => {
    const s = setup();
    const p = seqOf(40, 7);
    const a = await run(s, p);
    const f = s.mgr.fork(a, 36);
    expect(f.pages[0]).toBe(a.pages[0]);
    expect(f.pages[1]).toBe(a.pages[1]);
    expect(f.pages[2]).not.toBe(a.pages[2]);
    expect(checkCache(s.be, s.cache, s.mgr, f)).toBe(-1);
    fakeForward(s.be, s.cache, s.mgr, f, [...p.slice(0, 36), 5, 5], 2);
    expect(checkCache(s.be, s.cache, s.mgr, a)).toBe(-1);
    expect(checkCache(s.be, s.cache, s.mgr, f)).toBe(-1);

    // Remove [20, 40) from a: page 1 is shared with f and indexed, so it is copied before reuse.
    const shared = a.pages[1];
    s.mgr.remove(a, 20, 40);
    expect(a.n).toBe(20);
    expect(a.pages[1]).not.toBe(shared);
    fakeForward(s.be, s.cache, s.mgr, a, [...p.slice(0, 20), 3, 3, 3], 3);
    expect(checkCache(s.be, s.cache, s.mgr, a)).toBe(-1);
    expect(checkCache(s.be, s.cache, s.mgr, f)).toBe(-1);
    expect(() => s.mgr.remove(a, 2, 5)).toThrow(KvRangeError);
  });
});

describe('tiers', () => {
  it('hot budget N pages, workload 3N pages: budgets hold and every reused page is right', async () => {
    const N = 8;
    const storage = new MapStorage();
    const budgeted = setup({ hotPages: N, hostPages: N, nCtx: 128, storage });
    const free = setup({ hotPages: 64, nCtx: 128 });
    // 6 prompts of 4 full pages + a bit, sharing a 2-page prefix in pairs; 3 rounds, so the
    // later rounds find their pages hot, in host memory or in storage.
    // (Page-aligned, so the partial pages, which only live in the hot tier, hold only the
    // per-round suffix and the reuse of both runs is comparable.)
    const prompts = Array.from({ length: 6 }, (_, i) => [...seqOf(32, 100 + (i >> 1)), ...seqOf(32, 200 + i)]);
    let promoted = 0;
    for (let round = 0; round < 3; round++) {
      for (const [i, p] of prompts.entries()) {
        const prompt = [...p, round, i];
        for (const s of [budgeted, free]) {
          const seq = await run(s, prompt, 24);
          expect(checkCache(s.be, s.cache, s.mgr, seq)).toBe(-1);
          s.mgr.release(seq);
          await s.mgr.flush();
        }
        const st = budgeted.mgr.stats();
        expect(st.hot.pages).toBeLessThanOrEqual(N);
        expect(st.hot.bytes).toBeLessThanOrEqual(st.hot.budgetBytes);
        expect(st.hot.allocatedBytes).toBeLessThanOrEqual(st.hot.budgetBytes);
        expect(st.host.bytes).toBeLessThanOrEqual(st.host.budgetBytes);
        promoted = st.promotes;
      }
    }
    const st = budgeted.mgr.stats();
    expect(st.demotes).toBeGreaterThan(0);
    expect(promoted).toBeGreaterThan(0);
    expect(st.host.pages).toBeGreaterThan(0);
    expect(st.storage.writes).toBeGreaterThan(0);
    // Later rounds were served from the cache in both runs: same reuse as unbudgeted.
    expect(st.reusedTokens).toBe(free.mgr.stats().reusedTokens);
  });

  it('keeps the frequently used prefix over a more recent one-off (not plain LRU)', async () => {
    const s = setup({ hotPages: 6, nCtx: 64 });
    const common = seqOf(32, 300); // 2 pages, used by every request
    for (let i = 0; i < 6; i++) s.mgr.release(await run(s, [...common, i, i]));
    // A one-off of 3 full pages, then a request needing 3 fresh pages: with 6 hot pages, the
    // common prefix (used 6 times) must survive; the one-off's pages are the victims.
    s.mgr.release(await run(s, [...seqOf(48, 301), 1]));
    s.mgr.release(await run(s, [...seqOf(48, 302), 1]));
    const again = await s.mgr.begin([...common, 5]);
    expect(again.reused).toBe(32);
  });
});

describe('persistence through storage', () => {
  it('a fresh manager on the same storage reuses the written pages, bytes identical', async () => {
    const storage = new MapStorage();
    const a = setup({ storage });
    const p = seqOf(80, 8); // 5 full pages
    a.mgr.release(await run(a, p));
    await a.mgr.flush();
    expect(storage.map.size).toBe(5);
    const v = [...storage.map.values()][0];
    expect(v.meta.model_digest).toBe('digest-a');
    expect(v.meta.kv_type_k).toBe('f16');
    expect(v.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['k', 'F16', [2, PS, 64]],
      ['v', 'F16', [2, PS, 64]],
    ]);

    const b = setup({ storage });
    const q = [...p, 42];
    const seq = await b.mgr.begin(q);
    expect(seq.reused).toBe(80);
    expect(b.mgr.stats().promotes).toBe(5);
    fakeForward(b.be, b.cache, b.mgr, seq, q, 1);
    expect(checkCache(b.be, b.cache, b.mgr, seq)).toBe(-1);
  });

  it('corrupt, truncated and wrong-digest entries are dropped and recomputed', async () => {
    const storage = new MapStorage();
    const a = setup({ storage });
    const p = seqOf(64, 9);
    a.mgr.release(await run(a, p));
    await a.mgr.flush();
    const keys = [...storage.map.keys()].sort((x, y) => Number(storage.map.get(x)!.meta.token_start) - Number(storage.map.get(y)!.meta.token_start));
    storage.map.get(keys[1])!.meta.model_digest = 'someone-else';
    const t = storage.map.get(keys[2])!.tensors[0];
    t.bytes = t.bytes.subarray(0, 10);
    const b = setup({ storage });
    const seq = await b.mgr.begin([...p, 1]);
    expect(seq.reused).toBe(16); // page 0 only; page 1 is bad
    expect(storage.map.has(keys[1])).toBe(false);
    expect(b.mgr.stats().storage.corrupt).toBe(1);
    while (seq.n < 65) fakeForward(b.be, b.cache, b.mgr, seq, [...p, 1], 65 - seq.n);
    expect(checkCache(b.be, b.cache, b.mgr, seq)).toBe(-1);
  });

  it('storage down: requests recompute, the error is logged once', async () => {
    const storage = new MapStorage();
    const logs: string[] = [];
    const s = setup({ storage, log: (m) => logs.push(m) });
    storage.failing = true;
    for (let i = 0; i < 3; i++) {
      const seq = await run(s, [...seqOf(48, 10), i]);
      expect(checkCache(s.be, s.cache, s.mgr, seq)).toBe(-1);
      s.mgr.release(seq);
      await s.mgr.flush();
    }
    const b = setup({ storage, log: (m) => logs.push(m) });
    const seq = await b.mgr.begin(seqOf(48, 10));
    expect(seq.reused).toBe(0);
    expect(logs.length).toBe(2); // one per manager, not one per call
    expect(logs[0]).toMatch(/storage down/);
  });

  it('a storage call that hangs times out', async () => {
    const storage = new MapStorage();
    storage.get = () => new Promise(() => {});
    const logs: string[] = [];
    const be = new FakeBackend();
    const cache = new KvCache(be.asBackend(), { ...shape, nCtx: 64, pageSize: PS });
    const mgr = new KvManager(cache, { modelDigest: 'd', storage, storageTimeoutMs: 50, log: (m) => logs.push(m) });
    const t0 = Date.now();
    const seq = await mgr.begin(seqOf(40, 11));
    expect(seq.reused).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(logs[0]).toMatch(/longer than 50 ms/);
  });
});
