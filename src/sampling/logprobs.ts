/**
 * Log-probabilities for the API's `logprobs` / `top_logprobs`.
 *
 * Choice: computed from the model's raw logits, before penalties, filters and temperature,
 * i.e. log softmax(logits). This is what OpenAI reports (the model's distribution, independent
 * of sampling settings) and what makes values comparable across requests. llama.cpp's server
 * does the same by default (`post_sampling_probs: false`). Since `Sampler.sample` restores the
 * logits it penalised, call this after sampling with the same array.
 */
import { fastExp } from './fast-exp.ts';

/** Preallocated result of `topLogprobs`; reuse one per generation. */
export class TopLogprobs {
  /** The chosen token and its log-probability. */
  token = -1;
  logprob = 0;
  /** Number of valid alternatives in ids/logprobs. */
  k = 0;
  /** [capacity] most likely token ids, descending (ties: lower id first). */
  readonly ids: Int32Array;
  /** [capacity] their log-probabilities. */
  readonly logprobs: Float64Array;

  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
    this.logprobs = new Float64Array(capacity);
  }
}

/**
 * Fill `out` with log p(token) and the k most likely alternatives under softmax(logits).
 * Cost: O(n_vocab) exp + O(n_vocab) selection; no allocation. k is clamped to out's capacity
 * and to n_vocab.
 * @param logits [n_vocab] raw logits.
 */
export function topLogprobs(logits: Float32Array, token: number, k: number, out: TopLogprobs): void {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += fastExp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  out.token = token;
  out.logprob = logits[token]! - logZ;
  const kk = Math.max(0, Math.min(k, out.ids.length, n));
  out.k = kk;
  if (kk === 0) return;
  const ids = out.ids;
  streamTopK(logits, n, kk, ids);
  for (let i = 0; i < kk; i++) out.logprobs[i] = logits[ids[i]!]! - logZ;
}

/**
 * Top-k ids of logits[0..n) into ids[0..k) in rank order, by insertion into a sorted list of k:
 * O(n) compares when k is small (API limits top_logprobs to 20), no n-sized buffer.
 */
function streamTopK(logits: Float32Array, n: number, k: number, ids: Int32Array): void {
  let filled = 0;
  for (let id = 0; id < n; id++) {
    const v = logits[id]!;
    if (filled === k) {
      const worst = ids[k - 1]!;
      const wv = logits[worst]!;
      if (!(v > wv || (v === wv && id < worst))) continue;
    } else {
      filled++;
    }
    let j = filled - 1;
    while (j > 0) {
      const prev = ids[j - 1]!;
      const pv = logits[prev]!;
      if (!(v > pv || (v === pv && id < prev))) break;
      ids[j] = prev;
      j--;
    }
    ids[j] = id;
  }
}
