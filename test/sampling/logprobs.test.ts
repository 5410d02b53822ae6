import { describe, expect, it } from 'vitest';
import { topLogprobs, TopLogprobs } from '../../src/sampling/logprobs.ts';
import { resolveOptions } from '../../src/sampling/options.ts';
import { Sampler } from '../../src/sampling/sampler.ts';
import { mulberry32, randomLogits } from './helpers.ts';

/** float64 reference: log softmax with a full sort. */
function refLogSoftmax(logits: Float32Array): { lp: number[]; order: number[] } {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lz = max + Math.log(sum);
  const lp = Array.from(logits, (l) => l - lz);
  const order = lp.map((_, i) => i).sort((a, b) => lp[b]! - lp[a]! || a - b);
  return { lp, order };
}

describe('topLogprobs', () => {
  it('matches a float64 log-softmax (|Δ| ≤ 1e-9) and its top-k order', () => {
    const n = 32000;
    const logits = randomLogits(n, mulberry32(4), 3);
    const ref = refLogSoftmax(logits);
    const out = new TopLogprobs(20);
    for (const k of [0, 1, 5, 20, 50]) {
      topLogprobs(logits, 123, k, out);
      expect(out.token).toBe(123);
      expect(Math.abs(out.logprob - ref.lp[123]!)).toBeLessThanOrEqual(1e-9);
      expect(out.k).toBe(Math.min(k, 20));
      expect(Array.from(out.ids.subarray(0, out.k))).toEqual(ref.order.slice(0, out.k));
      for (let i = 0; i < out.k; i++) expect(Math.abs(out.logprobs[i]! - ref.lp[ref.order[i]!]!)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('ties keep the lower id first', () => {
    const out = new TopLogprobs(3);
    topLogprobs(new Float32Array([0, 2, 1, 2, 2]), 0, 3, out);
    expect(Array.from(out.ids)).toEqual([1, 3, 4]);
  });

  it('reports the raw distribution even when penalties changed the choice', () => {
    const logits = new Float32Array([2, 1.9, 0]);
    const s = new Sampler(3, resolveOptions({ temperature: 0, repeat_penalty: 2 }));
    s.accept(0);
    const t = s.sample(logits);
    expect(t).toBe(1);
    const out = new TopLogprobs(2);
    topLogprobs(logits, t, 2, out);
    expect(Array.from(out.ids)).toEqual([0, 1]); // token 0 is still the model's favourite
    const ref = refLogSoftmax(logits);
    expect(out.logprob).toBeCloseTo(ref.lp[1]!, 9);
  });
});
