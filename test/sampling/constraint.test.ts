/** The sampler's optional LogitConstraint: applied to a copy before the chain, never to the caller's logits. */
import { describe, expect, it } from 'vitest';
import type { LogitConstraint } from '../../src/sampling/constraint.ts';
import { resolveOptions } from '../../src/sampling/options.ts';
import { Sampler } from '../../src/sampling/sampler.ts';

/** Allows only the ids in `allowed`. */
class AllowList implements LogitConstraint {
  calls = 0;
  constructor(private readonly allowed: Set<number>) {}
  apply(logits: Float32Array): void {
    this.calls++;
    for (let i = 0; i < logits.length; i++) if (!this.allowed.has(i)) logits[i] = -Infinity;
  }
}

const V = 1000;
const logits = Float32Array.from({ length: V }, (_, i) => Math.cos(i * 0.37) * 4);
// Allowed: ids whose logits are low, so that an unconstrained top_k 40 would never pick them.
const allowed = new Set([...Array(V).keys()].sort((a, b) => logits[a] - logits[b]).slice(0, 5));

describe('Sampler with a LogitConstraint', () => {
  it.each([
    ['temperature 1, full distribution', { temperature: 1, top_k: 0, top_p: 1 }],
    ['Ollama defaults (top_k 40, top_p 0.9)', {}],
    ['min_p and typical_p', { temperature: 1.5, min_p: 0.2, typical_p: 0.5 }],
    ['penalties', { temperature: 1, repeat_penalty: 1.3, presence_penalty: 0.5, frequency_penalty: 0.5 }],
  ])('%s: only allowed tokens, several of them drawn; the logits are left unchanged', (_, o) => {
    const c = new AllowList(allowed);
    const s = new Sampler(V, resolveOptions({ ...o, seed: 5 }), c);
    const before = logits.slice();
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const t = s.sample(logits);
      expect(allowed.has(t), `token ${t}`).toBe(true);
      s.accept(t);
      seen.add(t);
    }
    expect(c.calls).toBe(400);
    expect(logits).toEqual(before);
    expect(seen.size).toBeGreaterThan(1);
  });
  it('greedy: the best allowed token', () => {
    const s = new Sampler(V, resolveOptions({ temperature: 0 }), new AllowList(allowed));
    const best = [...allowed].reduce((a, b) => (logits[b] > logits[a] ? b : a));
    expect(s.sample(logits)).toBe(best);
  });
});
