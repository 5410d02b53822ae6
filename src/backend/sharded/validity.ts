/**
 * Which shards hold the latest bytes of one replicated buffer.
 *
 * The buffer's bytes `[0, size)` are partitioned into intervals; each interval has a mask of the shards
 * whose copy equals the latest value (bit s = shard s). Mask 0: never written (undefined; nothing to copy).
 * A write on shard s sets its interval's mask to `1 << s`; a read on s of an interval whose mask lacks s
 * needs a copy from a shard in the mask first, after which the mask gains s.
 *
 * Fixed capacity, typed arrays only: nothing is allocated per op. Intervals: `lo[i]..lo[i+1]`, `lo[n] = size`.
 */
import { TesseraError } from '../../errors.ts';

/** More distinct intervals than a buffer tracks: an access pattern the sharded backend was not built for. */
export class ValidityOverflowError extends TesseraError {
  constructor(capacity: number) {
    super('shard_validity_overflow', `sharded backend: a buffer was split into more than ${capacity} intervals of differing validity`);
  }
}

const CAPACITY = 64;

/** Called for each stale part of a read: copy bytes `[a, e)` of the buffer from shard `from` to shard `to`. */
export type CopyFn = (from: number, to: number, a: number, e: number) => void;

export class Validity {
  private n = 1;
  /** Interval starts, `lo[n] = size`. */
  private readonly lo = new Float64Array(CAPACITY + 1);
  private readonly mask = new Uint32Array(CAPACITY);

  constructor(readonly size: number) {
    this.lo[1] = size;
  }

  /** Everything `[0, size)` is valid on shard `s` only (the host wrote it there). */
  reset(s: number): void {
    this.n = 1;
    this.lo[0] = 0;
    this.lo[1] = this.size;
    this.mask[0] = 1 << s;
  }

  /** Shard `s` wrote `[a, e)`. */
  write(a: number, e: number, s: number): void {
    if (e <= a) return;
    const i0 = this.split(a);
    const i1 = this.split(e);
    // intervals i0..i1-1 cover [a, e): make them one interval
    this.mask[i0] = 1 << s;
    this.remove(i0 + 1, i1 - i0 - 1);
    this.merge();
  }

  /** Shard `s` reads `[a, e)`: calls `copy` for each defined part it lacks, then records that s has it. */
  read(a: number, e: number, s: number, copy: CopyFn): void {
    if (e <= a) return;
    const bit = 1 << s;
    if (this.covered(a, e, bit)) return;
    const i0 = this.split(a);
    const i1 = this.split(e);
    for (let i = i0; i < i1; i++) {
      const m = this.mask[i];
      if (m === 0 || m & bit) continue;
      copy(31 - Math.clz32(m & -m), s, this.lo[i], this.lo[i + 1]);
      this.mask[i] = m | bit;
    }
    this.merge();
  }

  /** Whether every defined byte of `[a, e)` is valid on the shards of `bit`. */
  private covered(a: number, e: number, bit: number): boolean {
    for (let i = 0; i < this.n; i++) {
      if (this.lo[i + 1] <= a) continue;
      if (this.lo[i] >= e) break;
      const m = this.mask[i];
      if (m !== 0 && !(m & bit)) return false;
    }
    return true;
  }

  /** Makes `x` an interval boundary; returns the index of the interval starting at x (n when x = size). */
  private split(x: number): number {
    for (let i = 0; i < this.n; i++) {
      if (this.lo[i] === x) return i;
      if (this.lo[i + 1] > x) {
        if (this.n === CAPACITY) throw new ValidityOverflowError(CAPACITY);
        for (let j = this.n; j > i; j--) {
          this.lo[j + 1] = this.lo[j];
          this.mask[j] = this.mask[j - 1];
        }
        this.lo[i + 1] = x;
        this.n++;
        return i + 1;
      }
    }
    return this.n;
  }

  /** Removes `count` intervals starting at `i` (their bytes join interval i − 1). */
  private remove(i: number, count: number): void {
    if (count <= 0) return;
    for (let j = i; j + count < this.n; j++) {
      this.lo[j] = this.lo[j + count];
      this.mask[j] = this.mask[j + count];
    }
    this.n -= count;
    this.lo[this.n] = this.size;
  }

  /** Joins neighbours with equal masks. */
  private merge(): void {
    let w = 0;
    for (let i = 1; i < this.n; i++) {
      if (this.mask[i] === this.mask[w]) continue;
      w++;
      this.lo[w] = this.lo[i];
      this.mask[w] = this.mask[i];
    }
    this.n = w + 1;
    this.lo[this.n] = this.size;
  }

  /** [lo, hi, mask] triples, for tests. */
  intervals(): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < this.n; i++) out.push([this.lo[i], this.lo[i + 1], this.mask[i]]);
    return out;
  }
}
