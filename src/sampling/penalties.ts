/**
 * Repetition, presence and frequency penalties over a sliding window of the last tokens,
 * as llama.cpp's llama_sampler_penalties:
 *   for each token t with count c > 0 in the window:
 *     logit[t] = logit[t] ≤ 0 ? logit[t] · repeat : logit[t] / repeat
 *     logit[t] −= c · frequency + presence
 * The window is a ring buffer; per-token counts and the list of distinct tokens are updated in
 * O(1) per accepted token, so applying costs O(distinct tokens in the window), not O(n_vocab).
 */
export class PenaltyWindow {
  readonly capacity: number;
  /** [capacity] the last accepted tokens; when full, ring[head] is the oldest. */
  private readonly ring: Int32Array;
  private head = 0;
  private size = 0;
  /** [n_vocab] occurrences of each token in the window. */
  private readonly counts: Int32Array;
  /** [capacity] the distinct tokens of the window (count > 0), unordered. */
  private readonly distinct: Int32Array;
  private nDistinct = 0;
  /** [n_vocab] position of a token in `distinct` (valid while its count > 0). */
  private readonly slot: Int32Array;
  /** [capacity] tokens whose logit `apply` changed, and their original logits, for `restore`. */
  private readonly savedIds: Int32Array;
  private readonly savedLogits: Float32Array;
  private nSaved = 0;

  constructor(nVocab: number, capacity: number) {
    this.capacity = capacity;
    this.ring = new Int32Array(capacity);
    this.counts = new Int32Array(nVocab);
    this.distinct = new Int32Array(capacity);
    this.slot = new Int32Array(nVocab);
    this.savedIds = new Int32Array(capacity);
    this.savedLogits = new Float32Array(capacity);
  }

  /** Add a token to the window, evicting the oldest when full. */
  push(token: number): void {
    if (this.capacity === 0) return;
    if (this.size === this.capacity) {
      const old = this.ring[this.head]!;
      if (--this.counts[old]! === 0) {
        const last = this.distinct[--this.nDistinct]!;
        const at = this.slot[old]!;
        this.distinct[at] = last;
        this.slot[last] = at;
      }
    } else {
      this.size++;
    }
    this.ring[this.head] = token;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    if (this.counts[token]!++ === 0) {
      this.slot[token] = this.nDistinct;
      this.distinct[this.nDistinct++] = token;
    }
  }

  /** Empty the window. O(distinct tokens). */
  clear(): void {
    for (let i = 0; i < this.nDistinct; i++) this.counts[this.distinct[i]!] = 0;
    this.nDistinct = 0;
    this.size = 0;
    this.head = 0;
    this.nSaved = 0;
  }

  /** Occurrences of `token` in the window. */
  count(token: number): number {
    return this.counts[token]!;
  }

  /** Number of tokens in the window. */
  get length(): number {
    return this.size;
  }

  /**
   * Penalise logits ([n_vocab], in place, rounded to f32 as llama.cpp) and remember the
   * originals; call `restore` with the same array afterwards.
   */
  apply(logits: Float32Array, repeat: number, frequency: number, presence: number): void {
    const { distinct, counts, savedIds, savedLogits } = this;
    const n = this.nDistinct;
    for (let i = 0; i < n; i++) {
      const t = distinct[i]!;
      const l = logits[t]!;
      savedIds[i] = t;
      savedLogits[i] = l;
      const r = l <= 0 ? l * repeat : l / repeat;
      logits[t] = r - (counts[t]! * frequency + presence);
    }
    this.nSaved = n;
  }

  /** Undo the last `apply` on the same array. */
  restore(logits: Float32Array): void {
    const { savedIds, savedLogits } = this;
    for (let i = 0; i < this.nSaved; i++) logits[savedIds[i]!] = savedLogits[i]!;
    this.nSaved = 0;
  }
}
