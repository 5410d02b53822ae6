/**
 * Candidate filters of the sampler chain, with llama.cpp's semantics (src/llama-sampling.cpp,
 * min_keep = 1). Each narrows c.ids[0..n) in place; probabilities are computed at T = 1 on the
 * (penalised) logits, since llama.cpp applies temperature after these stages.
 */
import { selectTopK } from './heap.ts';
import { N_BUCKETS, softmax, weights, type Candidates } from './candidates.ts';

/** Keep the k highest logits, sorted (ties: lower id first). k ≤ 0 or k ≥ n: no-op. */
export function topK(c: Candidates, k: number): void {
  if (k <= 0 || k >= c.n) return;
  selectTopK(c.ids, c.logits, c.n, k);
  c.n = k;
  c.sorted = true;
}

/**
 * Nucleus: keep the smallest prefix of the logit-sorted candidates whose probability mass is ≥ p.
 * Sorted input is walked; unsorted input is never fully sorted: small sets are ordered
 * progressively with a heap, large ones (the whole vocabulary when top_k is off) are bucketed by
 * logit so that only the bucket holding the cut is ordered. p ≥ 1: no-op.
 * Leaves unnormalised weights in c.p.
 */
export function topP(c: Candidates, p: number): void {
  if (p >= 1 || c.n <= 1) return;
  if (c.sorted) {
    const target = p * weights(c);
    const { ids, p: w } = c;
    let cum = 0;
    for (let i = 0; i < c.n; i++) {
      cum += w[ids[i]!]!;
      if (cum >= target) {
        c.n = i + 1;
        return;
      }
    }
    return;
  }
  if (c.n > BUCKETS_ABOVE && topPBuckets(c, p)) return;
  topPHeap(c, p);
}

/** Candidate counts above which top_p buckets by logit instead of heap-ordering everything. */
const BUCKETS_ABOVE = 2048;

function topPHeap(c: Candidates, p: number): void {
  const target = p * weights(c);
  const { ids, logits, score, p: w, n } = c;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    score[id] = logits[id]!;
  }
  const order = c.order;
  order.start(ids, score, n);
  let cum = 0;
  let m = 0;
  for (let id = order.next(); id >= 0; id = order.next()) {
    m++;
    cum += w[id]!;
    if (cum >= target) break;
  }
  order.finish(m);
  c.n = m;
  c.sorted = true;
}

/**
 * top_p by logit histogram: N_BUCKETS equal-width buckets over [max − min(range, 64), max]
 * (lower logits share the last bucket). Every bucket above the one where the cumulative mass
 * reaches the target is kept whole; that bucket is heap-ordered and cut exactly, so the result is
 * the same set as the sorted prefix. Returns false (nothing done) for degenerate logits.
 */
function topPBuckets(c: Candidates, p: number): boolean {
  const { ids, logits, p: w, score, aux, bucketMass: mass, n } = c;
  const max = c.maxLogit();
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const l = logits[ids[i]!]!;
    if (l < min) min = l;
  }
  const range = Math.min(max - min, 64);
  if (!(range > 0) || !Number.isFinite(max)) return false;
  const target = p * weights(c);
  const last = N_BUCKETS - 1;
  const scale = last / range;
  mass.fill(0);
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const d = (max - logits[id]!) * scale;
    const b = d < last ? d | 0 : last; // also catches −Infinity logits
    score[id] = b;
    mass[b]! += w[id]!;
  }
  let cut = 0;
  let cum = 0;
  while (cut < last && cum + mass[cut]! < target) cum += mass[cut++]!;
  // keep buckets < cut in place (id order); move the cut bucket's ids to aux
  let kept = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const b = score[id]!;
    if (b < cut) ids[kept++] = id;
    else if (b === cut) aux[m++] = id;
  }
  for (let i = 0; i < m; i++) {
    const id = aux[i]!;
    score[id] = logits[id]!;
  }
  const order = c.order;
  order.start(aux, score, m);
  for (let id = order.next(); id >= 0; id = order.next()) {
    ids[kept++] = id;
    cum += w[id]!;
    if (cum >= target) break;
  }
  c.n = kept;
  c.sorted = false;
  return true;
}

/**
 * Locally typical sampling (Meister et al. 2022): order candidates by |−log p − H| ascending
 * (H = entropy) and keep the shortest prefix whose mass is > p. Leaves the candidates in that
 * order, i.e. no longer sorted by logit. p ≥ 1: no-op.
 */
export function typicalP(c: Candidates, p: number): void {
  if (p >= 1 || c.n <= 1) return;
  softmax(c);
  const { ids, p: prob, score, n } = c;
  let entropy = 0;
  for (let i = 0; i < n; i++) {
    const q = prob[ids[i]!]!;
    if (q > 0) entropy -= q * Math.log(q);
  }
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const q = prob[id]!;
    // best first = smallest shift; a probability that underflowed to 0 is least typical
    score[id] = q > 0 ? -Math.abs(-Math.log(q) - entropy) : -Infinity;
  }
  const order = c.order;
  order.start(ids, score, n);
  let cum = 0;
  let m = 0;
  for (let id = order.next(); id >= 0; id = order.next()) {
    m++;
    cum += prob[id]!;
    if (cum > p) break;
  }
  order.finish(m);
  c.n = m;
  c.sorted = m <= 1;
}

/**
 * Keep tokens whose probability is ≥ p × the top token's, i.e. logit ≥ max + ln p.
 * Order is preserved. p ≤ 0: no-op.
 */
export function minP(c: Candidates, p: number): void {
  if (p <= 0 || c.n === 0) return;
  const threshold = c.maxLogit() + Math.log(p);
  const { ids, logits, n } = c;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (logits[id]! >= threshold) ids[kept++] = id;
  }
  c.n = kept;
}

/**
 * Temperature + categorical draw over the live candidates: P(id) ∝ exp((logit − max) / T).
 * Walks the candidates in their current order and returns the first whose cumulative mass
 * exceeds coin × total. Leaves the (unnormalised) weights in c.p. Requires T > 0, coin in [0, 1).
 */
export function drawFromCandidates(c: Candidates, temperature: number, coin: number): number {
  const sum = weights(c, 1 / temperature);
  const { ids, p, n } = c;
  const target = coin * sum;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    cum += p[id]!;
    if (target < cum) return id;
  }
  // rounding pushed target past the total: take the last candidate with non-zero weight
  for (let i = n - 1; i > 0; i--) if (p[ids[i]!]! > 0) return ids[i]!;
  return ids[0]!;
}

/** Index of the largest value in logits[0..n) (ties: lowest index; NaN never wins). */
export function argmax(logits: Float32Array, n: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}
