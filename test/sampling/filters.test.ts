// Each filter stage against a straightforward float64 reference (test/sampling/helpers.ts) on
// random logits: same surviving set, and the same renormalised probabilities (|Δp| ≤ 1e-12).
import { describe, expect, it } from 'vitest';
import { Candidates, softmax } from '../../src/sampling/candidates.ts';
import { drawFromCandidates, minP, topK, topP, typicalP } from '../../src/sampling/filters.ts';
import {
  mulberry32,
  randomLogits,
  refCands,
  refMinP,
  refProbs,
  refTopK,
  refTopP,
  refTypical,
  type Cand,
} from './helpers.ts';

const PROB_TOL = 1e-12;

function live(c: Candidates): number[] {
  return Array.from(c.ids.subarray(0, c.n));
}

/** Survivors match the reference set and their renormalised probabilities agree. */
function expectSameSurvivors(c: Candidates, ref: Cand[]): void {
  expect([...live(c)].sort((a, b) => a - b)).toEqual(ref.map((r) => r.id).sort((a, b) => a - b));
  softmax(c);
  const refP = refProbs(ref);
  let maxDiff = 0;
  for (const id of live(c)) maxDiff = Math.max(maxDiff, Math.abs(c.p[id]! - refP.get(id)!));
  expect(maxDiff).toBeLessThanOrEqual(PROB_TOL);
}

function expectSortedDesc(c: Candidates): void {
  const ids = live(c);
  const l = c.logits;
  let bad = -1;
  for (let i = 1; i < ids.length && bad < 0; i++) {
    const a = ids[i - 1]!;
    const b = ids[i]!;
    if (!(l[a]! > l[b]! || (l[a] === l[b] && a < b))) bad = i;
  }
  expect(bad, 'first position out of descending order').toBe(-1);
}

function loaded(logits: Float32Array): Candidates {
  const c = new Candidates(logits.length);
  c.load(logits);
  return c;
}

const SIZES = [7, 1000, 32000];
const SCALES = [0.5, 3];

describe('topK', () => {
  for (const n of SIZES)
    for (const k of [1, 5, 40, n - 1, n, n + 3, 0]) {
      it(`n=${n} k=${k}`, () => {
        const logits = randomLogits(n, mulberry32(n * 31 + k), 2);
        const c = loaded(logits);
        topK(c, k);
        expectSameSurvivors(c, refTopK(refCands(logits), k));
        if (k > 0 && k < n) {
          expectSortedDesc(c);
          expect(c.sorted).toBe(true);
          // the sampler's single-pass variant over the implicit whole vocabulary
          const d = new Candidates(n);
          d.loadTopK(logits, k);
          expect(live(d)).toEqual(live(c));
        }
      });
    }

  it('breaks ties by lower id, deterministically', () => {
    const logits = new Float32Array([1, 3, 2, 3, 3, 0, 3]);
    const c = loaded(logits);
    topK(c, 3);
    expect(live(c)).toEqual([1, 3, 4]);
    c.loadTopK(logits, 3);
    expect(live(c)).toEqual([1, 3, 4]);
  });
});

describe('topP', () => {
  for (const n of SIZES)
    for (const scale of SCALES)
      for (const p of [0.05, 0.5, 0.9, 0.99, 1]) {
        const path = n > 2048 ? 'bucketed' : 'heap';
        it(`n=${n} scale=${scale} p=${p}, unsorted input (${path} path)`, () => {
          const logits = randomLogits(n, mulberry32(n + p * 1000 + scale), scale);
          const c = loaded(logits);
          topP(c, p);
          expectSameSurvivors(c, refTopP(refCands(logits), p));
          if (p < 1 && path === 'heap') expectSortedDesc(c);
        });
        it(`n=${n} scale=${scale} p=${p}, after top_k=50 (sorted path)`, () => {
          const logits = randomLogits(n, mulberry32(n + p * 1000 + scale + 7), scale);
          const c = loaded(logits);
          topK(c, 50);
          topP(c, p);
          expectSameSurvivors(c, refTopP(refTopK(refCands(logits), 50), p));
        });
      }

  it('bucketed path: −Infinity logits (masked tokens) and a huge logit range', () => {
    const n = 5000;
    const logits = randomLogits(n, mulberry32(99), 2);
    for (let i = 0; i < n; i += 3) logits[i] = -Infinity;
    logits[7] = 500; // range far beyond the 64-nat histogram span
    logits[8] = 499;
    for (const p of [0.5, 0.9, 0.999999]) {
      const c = loaded(logits);
      topP(c, p);
      expectSameSurvivors(c, refTopP(refCands(logits).filter((x) => x.logit > -Infinity), p));
    }
    const flat = new Float32Array(n).fill(1.5); // range 0: falls back to the heap
    const c = loaded(flat);
    topP(c, 0.5);
    expect(live(c)).toEqual(Array.from({ length: n / 2 }, (_, i) => i));
  });

  it('keeps at least one token for tiny p', () => {
    const c = loaded(new Float32Array([0, 0, 0, 0]));
    topP(c, 1e-9);
    expect(live(c)).toEqual([0]);
  });
});

describe('minP', () => {
  for (const n of SIZES)
    for (const p of [0, 0.01, 0.05, 0.3, 1]) {
      it(`n=${n} p=${p}`, () => {
        const logits = randomLogits(n, mulberry32(n * 7 + p * 100), 3);
        const c = loaded(logits);
        minP(c, p);
        const ref = refMinP(refCands(logits), p);
        expectSameSurvivors(c, ref);
        // order preserved (id order for freshly loaded candidates)
        const ids = live(c);
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
      });
    }
});

describe('typicalP', () => {
  for (const n of SIZES)
    for (const scale of SCALES)
      for (const p of [0.2, 0.5, 0.95, 1]) {
        it(`n=${n} scale=${scale} p=${p}`, () => {
          const logits = randomLogits(n, mulberry32(n * 13 + p * 100 + scale), scale);
          const c = loaded(logits);
          typicalP(c, p);
          const ref = refTypical(refCands(logits), p);
          expectSameSurvivors(c, ref);
          if (p < 1) expect(live(c)).toEqual(ref.map((r) => r.id)); // same (typicality) order
        });
      }
});

describe('drawFromCandidates', () => {
  it('maps coins to tokens by cumulative probability in candidate order', () => {
    const logits = randomLogits(300, mulberry32(5), 2);
    const c = loaded(logits);
    topK(c, 30);
    const order = live(c);
    const t = 0.7;
    const p = refProbs(
      order.map((id) => ({ id, logit: logits[id]! })),
      t,
    );
    let cum = 0;
    for (const id of order) {
      const mid = cum + p.get(id)! / 2;
      cum += p.get(id)!;
      if (p.get(id)! < 1e-9) continue; // interval too thin to hit reliably at its midpoint
      expect(drawFromCandidates(c, t, mid)).toBe(id);
    }
    expect(drawFromCandidates(c, t, 0)).toBe(order[0]);
    expect(order).toContain(drawFromCandidates(c, t, 1 - 2 ** -53));
  });
});
