/**
 * Our logits against llama.cpp's (test/oracle/llamacpp.mjs): the statistics the golden tests assert.
 * See test/e2e/llama-vs-llamacpp.test.ts for why the tolerances are what they are.
 */
import { logSoftmax, type OracleResult, type TopLogprobs } from './llamacpp.ts';

/** llama.cpp's top two log-probs lie within `tol` of each other: either token is a correct argmax. */
export const nearTie = (top: TopLogprobs, tol: number): boolean => top.length > 1 && top[0][1] - top[1][1] <= tol;

export interface PromptComparison {
  /** max |Δ log-prob| over llama.cpp's top-k, over all positions. */
  maxDiff: number;
  nearTies: number;
  /** Positions where our argmax differs from llama.cpp's and llama.cpp's top two are not a near-tie. */
  argmaxMismatches: number;
}

/** Compares per-position logits `[n][n_vocab]` with llama.cpp's top-k. */
export function comparePrompt(logits: Float32Array[], oracle: OracleResult, tol: number): PromptComparison {
  let maxDiff = 0;
  let nearTies = 0;
  let argmaxMismatches = 0;
  for (let i = 0; i < logits.length; i++) {
    const theirs = oracle.top[i];
    const ours = logSoftmax(logits[i]);
    for (const [id, lp] of theirs) maxDiff = Math.max(maxDiff, Math.abs(ours[id] - lp));
    let best = 0;
    for (let j = 1; j < ours.length; j++) if (ours[j] > ours[best]) best = j;
    if (nearTie(theirs, tol)) nearTies++;
    else if (best !== theirs[0][0]) argmaxMismatches++;
  }
  return { maxDiff, nearTies, argmaxMismatches };
}

/** Length of the common prefix of two token lists. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < Math.min(a.length, b.length) && a[n] === b[n]) n++;
  return n;
}

/** llama.cpp's distribution at greedy step `step` (the prompt's last position for step 0). */
export function greedyDistribution(oracle: OracleResult, promptLen: number, step: number): TopLogprobs {
  return step === 0 ? oracle.top[promptLen - 1] : oracle.greedyTop[step - 1];
}
