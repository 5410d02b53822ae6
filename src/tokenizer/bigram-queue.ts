/**
 * Min-heap of candidate merges (bigrams) ordered by (key, left): the smallest key wins, ties go to the leftmost
 * pair — the order of llama.cpp's llm_bigram_spm / llm_bigram_bpe comparators (SPM uses key = −score, BPE the
 * merge rank). Entries live in parallel typed arrays that grow as needed and are reused across calls.
 */
export class BigramQueue {
  private key = new Float64Array(256);
  private left = new Int32Array(256);
  private right = new Int32Array(256);
  /** Combined length of the two symbols when queued, to detect stale entries. */
  private size = new Int32Array(256);
  private n = 0;

  get length(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  push(key: number, left: number, right: number, size: number): void {
    if (this.n === this.key.length) this.grow();
    let i = this.n++;
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(key, left, p)) break;
      this.move(p, i);
      i = p;
    }
    this.key[i] = key;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
  }

  /** Pops the top entry into `out` = [left, right, size]; returns its key. Call only when length > 0. */
  pop(out: Int32Array): number {
    const topKey = this.key[0];
    out[0] = this.left[0];
    out[1] = this.right[0];
    out[2] = this.size[0];
    const last = --this.n;
    if (last > 0) {
      const k = this.key[last], l = this.left[last], r = this.right[last], s = this.size[last];
      let i = 0;
      // sift down
      for (;;) {
        const a = 2 * i + 1;
        if (a >= last) break;
        const b = a + 1;
        const c = b < last && this.lessAt(b, a) ? b : a;
        if (!this.lessAt2(c, k, l)) break;
        this.move(c, i);
        i = c;
      }
      this.key[i] = k;
      this.left[i] = l;
      this.right[i] = r;
      this.size[i] = s;
    }
    return topKey;
  }

  /** (key, left) < entry j */
  private less(key: number, left: number, j: number): boolean {
    return key < this.key[j] || (key === this.key[j] && left < this.left[j]);
  }
  /** entry i < entry j */
  private lessAt(i: number, j: number): boolean {
    return this.key[i] < this.key[j] || (this.key[i] === this.key[j] && this.left[i] < this.left[j]);
  }
  /** entry j < (key, left) */
  private lessAt2(j: number, key: number, left: number): boolean {
    return this.key[j] < key || (this.key[j] === key && this.left[j] < left);
  }
  private move(from: number, to: number): void {
    this.key[to] = this.key[from];
    this.left[to] = this.left[from];
    this.right[to] = this.right[from];
    this.size[to] = this.size[from];
  }
  private grow(): void {
    const cap = this.key.length * 2;
    const k = new Float64Array(cap); k.set(this.key); this.key = k;
    const l = new Int32Array(cap); l.set(this.left); this.left = l;
    const r = new Int32Array(cap); r.set(this.right); this.right = r;
    const s = new Int32Array(cap); s.set(this.size); this.size = s;
  }
}
