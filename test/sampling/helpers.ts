/** Test-only helpers: an independent PRNG (mulberry32) and float64 reference sampling stages. */

export { mulberry32 } from '../helpers/mulberry32.ts';

/** Logits ~ scale · N(0, 1) (Box–Muller), as f32. */
export function randomLogits(n: number, rand: () => number, scale = 3): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-300);
    const v = rand();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export interface Cand {
  id: number;
  logit: number;
}

export function refCands(logits: ArrayLike<number>): Cand[] {
  return Array.from(logits, (logit, id) => ({ id, logit }));
}

/** Descending logit, ties by ascending id. */
export function byLogitDesc(a: Cand, b: Cand): number {
  return b.logit - a.logit || a.id - b.id;
}

/** Softmax at temperature 1 over the candidates, as a Map id → p (float64). */
export function refProbs(cands: Cand[], temperature = 1): Map<number, number> {
  const max = cands.reduce((m, c) => Math.max(m, c.logit), -Infinity);
  const w = cands.map((c) => Math.exp((c.logit - max) / temperature));
  const sum = w.reduce((a, b) => a + b, 0);
  return new Map(cands.map((c, i) => [c.id, w[i]! / sum]));
}

export function refTopK(cands: Cand[], k: number): Cand[] {
  if (k <= 0 || k >= cands.length) return cands;
  return [...cands].sort(byLogitDesc).slice(0, k);
}

/** Smallest logit-sorted prefix with mass ≥ p. */
export function refTopP(cands: Cand[], p: number): Cand[] {
  if (p >= 1) return cands;
  const probs = refProbs(cands);
  const sorted = [...cands].sort(byLogitDesc);
  let cum = 0;
  for (let i = 0; i < sorted.length; i++) {
    cum += probs.get(sorted[i]!.id)!;
    if (cum >= p) return sorted.slice(0, i + 1);
  }
  return sorted;
}

/** Tokens with probability ≥ p · max probability. */
export function refMinP(cands: Cand[], p: number): Cand[] {
  if (p <= 0) return cands;
  const probs = refProbs(cands);
  let pmax = 0;
  for (const q of probs.values()) pmax = Math.max(pmax, q);
  return cands.filter((c) => probs.get(c.id)! >= p * pmax);
}

/** Sort by |−ln p − H| ascending, keep the shortest prefix with mass > p. */
export function refTypical(cands: Cand[], p: number): Cand[] {
  if (p >= 1) return cands;
  const probs = refProbs(cands);
  let h = 0;
  for (const q of probs.values()) if (q > 0) h -= q * Math.log(q);
  const shift = (c: Cand) => Math.abs(-Math.log(probs.get(c.id)!) - h);
  const sorted = [...cands].sort((a, b) => shift(a) - shift(b) || a.id - b.id);
  let cum = 0;
  for (let i = 0; i < sorted.length; i++) {
    cum += probs.get(sorted[i]!.id)!;
    if (cum > p) return sorted.slice(0, i + 1);
  }
  return sorted;
}

/** llama.cpp penalties over `window` = the last repeat_last_n tokens of history. */
export function refPenalise(
  logits: ArrayLike<number>,
  window: readonly number[],
  repeat: number,
  frequency: number,
  presence: number,
): number[] {
  const counts = new Map<number, number>();
  for (const t of window) counts.set(t, (counts.get(t) ?? 0) + 1);
  return Array.from(logits, (l, id) => {
    const c = counts.get(id) ?? 0;
    if (c === 0) return l;
    const r = l > 0 ? l / repeat : l * repeat;
    return r - c * frequency - presence;
  });
}
