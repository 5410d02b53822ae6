/**
 * Byte-budget bookkeeping shared by the memory and filesystem drivers: entry sizes in least-recently-used order
 * (a Map iterates in insertion order; `touch` re-inserts), and the total they take.
 */
export class LruBytes {
  private readonly sizes = new Map<string, number>(); // key → bytes, oldest first
  used = 0;

  get size(): number {
    return this.sizes.size;
  }
  has(key: string): boolean {
    return this.sizes.has(key);
  }
  bytesOf(key: string): number {
    return this.sizes.get(key) ?? 0;
  }
  /** Mark `key` most recently used. */
  touch(key: string): void {
    const s = this.sizes.get(key);
    if (s === undefined) return;
    this.sizes.delete(key);
    this.sizes.set(key, s);
  }
  /** Insert or replace `key` as the most recently used entry. */
  set(key: string, bytes: number): void {
    this.remove(key);
    this.sizes.set(key, bytes);
    this.used += bytes;
  }
  remove(key: string): boolean {
    const s = this.sizes.get(key);
    if (s === undefined) return false;
    this.sizes.delete(key);
    this.used -= s;
    return true;
  }
  /**
   * The oldest keys to drop so that putting `bytes` under `key` (replacing what `key` holds) fits `budget`
   * (0 = unlimited). The caller removes them.
   */
  victims(key: string, bytes: number, budget: number): string[] {
    if (budget <= 0) return [];
    let used = this.used - this.bytesOf(key) + bytes;
    const out: string[] = [];
    for (const [k, s] of this.sizes) {
      if (used <= budget) break;
      if (k === key) continue;
      out.push(k);
      used -= s;
    }
    return out;
  }
  clear(): void {
    this.sizes.clear();
    this.used = 0;
  }
  keys(): IterableIterator<string> {
    return this.sizes.keys();
  }
}
