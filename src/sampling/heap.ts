/**
 * Binary heaps over token ids, in place in an Int32Array, for partial ordering without a full sort.
 * Order: larger key first, ties by smaller id (so results are deterministic).
 */

/** True when token a ranks strictly before token b under `key` (desc), ties by id (asc). */
function before32(key: Float32Array, a: number, b: number): boolean {
  const ka = key[a]!;
  const kb = key[b]!;
  return ka > kb || (ka === kb && a < b);
}

/** Same as before32 for f64 keys (kept separate so each call site stays monomorphic). */
function before64(key: Float64Array, a: number, b: number): boolean {
  const ka = key[a]!;
  const kb = key[b]!;
  return ka > kb || (ka === kb && a < b);
}

/** Restore the "worst at root" heap property below position i of ids[0..size), keyed by f32 logits. */
function siftDownWorst(ids: Int32Array, key: Float32Array, i: number, size: number): void {
  const id = ids[i]!;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    // pick the worse child
    if (child + 1 < size && before32(key, ids[child]!, ids[child + 1]!)) child++;
    if (!before32(key, id, ids[child]!)) break; // id is already worse than (or equal to) both
    ids[i] = ids[child]!;
    i = child;
  }
  ids[i] = id;
}

/**
 * Keep the k best of ids[0..n) (by f32 `key`) and leave them in ids[0..k) in rank order.
 * O(n log k) worst case, O(n) typical: each id is compared once with the current k-th best.
 * Requires 0 < k ≤ n.
 */
export function selectTopK(ids: Int32Array, key: Float32Array, n: number, k: number): void {
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDownWorst(ids, key, i, k);
  let rootId = ids[0]!;
  let rootKey = key[rootId]!;
  for (let i = k; i < n; i++) {
    const id = ids[i]!;
    const v = key[id]!;
    if (v > rootKey || (v === rootKey && id < rootId)) {
      ids[0] = id;
      siftDownWorst(ids, key, 0, k);
      rootId = ids[0]!;
      rootKey = key[rootId]!;
    }
  }
  heapsortWorstFirst(ids, key, k);
}

/**
 * Same as selectTopK for the implicit candidate list 0, 1, …, n−1 (the whole vocabulary):
 * reads key[] sequentially and writes only ids[0..k). Requires 0 < k ≤ n.
 */
export function selectTopKOfRange(ids: Int32Array, key: Float32Array, n: number, k: number): void {
  for (let i = 0; i < k; i++) ids[i] = i;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDownWorst(ids, key, i, k);
  let rootId = ids[0]!;
  let rootKey = key[rootId]!;
  for (let id = k; id < n; id++) {
    const v = key[id]!;
    // ids arrive in increasing order, so an equal key never beats the root (whose id is smaller)
    if (v > rootKey) {
      ids[0] = id;
      siftDownWorst(ids, key, 0, k);
      rootId = ids[0]!;
      rootKey = key[rootId]!;
    }
  }
  heapsortWorstFirst(ids, key, k);
}

/** Turn the "worst at root" heap ids[0..k) into rank order by moving the worst to the end. */
function heapsortWorstFirst(ids: Int32Array, key: Float32Array, k: number): void {
  for (let end = k - 1; end > 0; end--) {
    const worst = ids[0]!;
    ids[0] = ids[end]!;
    ids[end] = worst;
    siftDownWorst(ids, key, 0, end);
  }
}

/** Restore the "best at root" heap property below position i of ids[0..size), keyed by f64 score. */
function siftDownBest(ids: Int32Array, key: Float64Array, i: number, size: number): void {
  const id = ids[i]!;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && before64(key, ids[child + 1]!, ids[child]!)) child++;
    if (!before64(key, ids[child]!, id)) break;
    ids[i] = ids[child]!;
    i = child;
  }
  ids[i] = id;
}

/**
 * Progressive ordering: yields ids[0..n) best-first, one at a time, for stages that stop early
 * (top_p, typical_p). Build is O(n); each `next()` is O(log n).
 * Popped ids accumulate at the tail of `ids`; `finish(m)` moves the first m popped to ids[0..m).
 */
export class BestFirst {
  private ids: Int32Array = new Int32Array(0);
  private key: Float64Array = new Float64Array(0);
  private n = 0;
  private size = 0;

  start(ids: Int32Array, key: Float64Array, n: number): void {
    this.ids = ids;
    this.key = key;
    this.n = n;
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) siftDownBest(ids, key, i, n);
  }

  /** Next best id, or −1 when all have been popped. */
  next(): number {
    if (this.size === 0) return -1;
    const ids = this.ids;
    const best = ids[0]!;
    const last = --this.size;
    ids[0] = ids[last]!;
    ids[last] = best;
    if (last > 1) siftDownBest(ids, this.key, 0, last);
    return best;
  }

  /** Place the first m popped ids (m ≤ popped count) at ids[0..m) in the order they were popped. */
  finish(m: number): void {
    const ids = this.ids;
    const n = this.n;
    if (2 * m <= n) {
      // sources ids[n-m..n) and destinations ids[0..m) do not overlap
      for (let i = 0; i < m; i++) ids[i] = ids[n - 1 - i]!;
    } else {
      for (let i = 0, j = n - 1; i < j; i++, j--) {
        const t = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = t;
      }
    }
  }
}
