/**
 * The page where a prompt diverges from a cached prefix (or where it ends), on the fake backend
 * (test/kv/fake.ts): a cached full page under the same parent whose leading tokens match the
 * prompt's rest is reused in part, by copy (copy on write), from the hot or the host tier, also
 * while its owner runs; image positions are matched only when the same image is there.
 *
 * As in manager.test.ts, every position's K/V bytes are a hash of the tokens up to it, and
 * `checkCache` re-derives them: rows copied from a page of another prefix show as a wrong position.
 */
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/gguf/types.ts';
import { KvCache } from '../../src/kv/cache.ts';
import { KvManager, type KvImageSpan, type KvSequence } from '../../src/kv/manager.ts';
import { checkCache, FakeBackend, fakeForward } from './fake.ts';

const shape = { nLayer: 2, nHeadKv: 2, headDim: 32 };
const PS = 16;
const pageBytes = shape.nLayer * PS * 2 * (shape.nHeadKv * shape.headDim * 2); // f16 K and V

function setup(opts: { hotPages?: number; hostPages?: number } = {}) {
  const be = new FakeBackend();
  const cache = new KvCache(be.asBackend(), { ...shape, nCtx: 256, pageSize: PS, kvType: GgmlType.F16, hotBytes: opts.hotPages ? opts.hotPages * pageBytes : undefined });
  const mgr = new KvManager(cache, { modelDigest: 'digest-a', hostBytes: (opts.hostPages ?? 0) * pageBytes });
  return { be, cache, mgr };
}
type Setup = ReturnType<typeof setup>;

const seqOf = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + ((i * i) % 5)) % 1000);

/** begin + evaluate the rest, as the engine does (prompt in one chunk, then `gen` decoded tokens one at a time). */
async function run(s: Setup, prompt: number[], gen: number[] = [], images: KvImageSpan[] = []): Promise<KvSequence> {
  const seq = await s.mgr.begin(prompt, undefined, { images });
  fakeForward(s.be, s.cache, s.mgr, seq, prompt, prompt.length - seq.n);
  const all = [...prompt, ...gen];
  for (let i = 0; i < gen.length; i++) fakeForward(s.be, s.cache, s.mgr, seq, all, 1);
  expect(checkCache(s.be, s.cache, s.mgr, seq)).toBe(-1);
  return seq;
}

describe('the page after the last whole match, matched by its leading tokens', () => {
  it('a repeated prompt whose tail page generation filled evaluates one token', async () => {
    const s = setup();
    const p = seqOf(40, 1); // 2 full pages + 8 tokens
    s.mgr.release(await run(s, p, seqOf(10, 2))); // page 2 fills with 8 generated tokens: keyed by them
    const again = await s.mgr.begin(p);
    expect(again.reused).toBe(39); // 2 pages by reference, 7 rows of the third by copy
    expect(s.mgr.stats().partialHits).toBe(1);
    fakeForward(s.be, s.cache, s.mgr, again, p, 1);
    expect(checkCache(s.be, s.cache, s.mgr, again)).toBe(-1);
  });

  it('a shared non-page-aligned system prompt is reused whole, while its first user still runs', async () => {
    const s = setup();
    const sys = seqOf(40, 3);
    const a = await run(s, [...sys, ...seqOf(30, 4)]); // page 2: 8 system tokens + 8 of A's
    const pageA = a.pages[2];
    const q = [...sys, ...seqOf(20, 5)];
    const b = await s.mgr.begin(q);
    expect(b.reused).toBe(40);
    expect(b.pages[0]).toBe(a.pages[0]); // full pages shared, no copy
    expect(b.pages[2]).not.toBe(pageA); // the diverging page copied
    fakeForward(s.be, s.cache, s.mgr, b, q, q.length - 40);
    expect(checkCache(s.be, s.cache, s.mgr, a)).toBe(-1); // A's page is untouched
    expect(checkCache(s.be, s.cache, s.mgr, b)).toBe(-1);
    // Where the prompt diverges inside the system prompt, only the common run is reused.
    const c = await s.mgr.begin([...sys.slice(0, 37), 999, 998]);
    expect(c.reused).toBe(37);
    fakeForward(s.be, s.cache, s.mgr, c, [...sys.slice(0, 37), 999, 998], 2);
    expect(checkCache(s.be, s.cache, s.mgr, c)).toBe(-1);
  });

  it('from the host tier: the demoted page is copied back, rows right', async () => {
    const s = setup({ hotPages: 6, hostPages: 8 });
    const sys = seqOf(40, 6);
    s.mgr.release(await run(s, [...sys, ...seqOf(30, 7)])); // 5 pages: 4 cached, 1 tail
    s.mgr.release(await run(s, seqOf(96, 8))); // 6 pages: A's go to host (the tail is dropped)
    expect(s.mgr.stats().host.pages).toBe(4);
    const q = [...sys, ...seqOf(5, 9)];
    const b = await s.mgr.begin(q);
    expect(b.reused).toBe(40);
    const st = s.mgr.stats();
    expect(st.promotes).toBe(2); // pages 0 and 1 back to hot, whole
    expect(st.partialHits).toBe(1); // page 2 copied from host, 8 rows used
    fakeForward(s.be, s.cache, s.mgr, b, q, 5);
    expect(checkCache(s.be, s.cache, s.mgr, b)).toBe(-1);
  });

  it('stops at an image position unless the same image is there', async () => {
    const s = setup();
    const p = seqOf(60, 10);
    const img = (hash: string): KvImageSpan[] => [{ start: 34, end: 38, hash }];
    s.mgr.release(await run(s, [...p, 1], [], img('x')));
    const other = await s.mgr.begin([...p.slice(0, 40), 5], undefined, { images: img('y') });
    expect(other.reused).toBe(34); // the image rows hold x, not y
    s.mgr.release(other);
    const none = await s.mgr.begin([...p.slice(0, 40), 5]);
    expect(none.reused).toBe(34); // placeholder ids, no image in this prompt
    s.mgr.release(none);
    const same = await s.mgr.begin([...p.slice(0, 40), 5], undefined, { images: img('x') });
    expect(same.reused).toBe(40);
  });
});
