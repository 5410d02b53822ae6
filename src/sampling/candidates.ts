/**
 * The sampler chain's working set. Stages narrow `ids[0..n)`; per-token values live in
 * vocabulary-indexed arrays so that reordering candidates moves one Int32 each.
 * Allocated once per Sampler (n_vocab entries each); nothing here allocates per call.
 */
import { EXP_BIAS, FRAC, INV_STEP, POW2, STEP } from './fast-exp.ts';
import { BestFirst, selectTopKOfRange } from './heap.ts';

/** Logit histogram resolution for top_p on unsorted candidates. */
export const N_BUCKETS = 1024;

export class Candidates {
  readonly nVocab: number;
  /** [n_vocab] candidate token ids; the live candidates are ids[0..n). */
  readonly ids: Int32Array;
  /** [n_vocab] by token id: probability from the last `softmax` (valid for live ids only). */
  readonly p: Float64Array;
  /** [n_vocab] by token id: scratch sort key used by the ordering stages. */
  readonly score: Float64Array;
  /** [n_vocab] scratch list of token ids (top_p's boundary bucket). */
  readonly aux: Int32Array;
  /** [N_BUCKETS] probability mass per logit bucket (top_p on unsorted input). */
  readonly bucketMass: Float64Array;
  /** [n_vocab] by token id: the logits being sampled (after penalties). */
  logits: Float32Array;
  /** Number of live candidates. */
  n = 0;
  /** True when ids[0..n) is in descending logit order, ties by ascending id. */
  sorted = false;
  /** Heap used by the stages that order candidates progressively (top_p, typical_p). */
  readonly order = new BestFirst();

  constructor(nVocab: number) {
    this.nVocab = nVocab;
    this.ids = new Int32Array(nVocab);
    this.p = new Float64Array(nVocab);
    this.score = new Float64Array(nVocab);
    this.aux = new Int32Array(nVocab);
    this.bucketMass = new Float64Array(N_BUCKETS);
    this.logits = new Float32Array(0);
  }

  /** Make every token of `logits` ([n_vocab]) a live candidate, in id order. */
  load(logits: Float32Array): void {
    this.logits = logits;
    const ids = this.ids;
    for (let i = 0; i < this.nVocab; i++) ids[i] = i;
    this.n = this.nVocab;
    this.sorted = false;
  }

  /**
   * Make the k highest logits of `logits` ([n_vocab]) the live candidates, in descending order
   * (ties: lower id first), in one sequential pass. Equivalent to load + topK; 0 < k < n_vocab.
   */
  loadTopK(logits: Float32Array, k: number): void {
    this.logits = logits;
    selectTopKOfRange(this.ids, logits, this.nVocab, k);
    this.n = k;
    this.sorted = true;
  }

  /** Largest logit among the live candidates (−Infinity when there are none). */
  maxLogit(): number {
    const { ids, logits, n } = this;
    if (n === 0) return -Infinity;
    if (this.sorted) return logits[ids[0]!]!;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = logits[ids[i]!]!;
      if (v > max) max = v;
    }
    return max;
  }
}

/**
 * Unnormalised probabilities: p[id] = exp((logit[id] − max) · invTemp) for id in ids[0..n).
 * The hot loop of sampling without top_k. exp is `fastExp` (fast-exp.ts) written in place.
 * @returns their sum (≥ 1 when the max is finite).
 */
export function weights(c: Candidates, invTemp = 1): number {
  const { ids, logits, p, n } = c;
  const max = c.maxLogit();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const x = (logits[id]! - max) * invTemp; // ≤ 0, or NaN
    let e = 0;
    if (x > -745) {
      const y = x * INV_STEP;
      const k = Math.floor(y);
      const r = (y - k) * STEP;
      const poly = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))));
      e = FRAC[k & 63]! * poly * POW2[(k >> 6) + EXP_BIAS]!;
    }
    p[id] = e;
    sum += e;
  }
  return sum;
}

/**
 * p[id] = exp((logit[id] − max) / T) / Σ over the live candidates, for id in ids[0..n).
 * @param invTemp 1 / temperature (1 for the filtering stages, which work at T = 1 as in llama.cpp).
 */
export function softmax(c: Candidates, invTemp = 1): void {
  const sum = weights(c, invTemp);
  const { ids, p, n } = c;
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) p[ids[i]!]! *= inv;
}
