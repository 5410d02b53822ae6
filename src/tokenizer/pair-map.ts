/**
 * Open-addressing hash map from a pair of non-negative int32 ids to an int32 value (BPE merge ranks).
 * Typed-array storage: builds 300k entries in a few ms and looks up without allocating, where a JS Map
 * keyed by a packed double would hash heap numbers.
 */
export class PairMap {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly value: Int32Array;
  private readonly mask: number;

  /** `capacity`: most entries that will be set. */
  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.value = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    return ((Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0) & this.mask;
  }

  /** Sets (a, b) → v unless (a, b) is already present (first wins). */
  setIfAbsent(a: number, b: number, v: number): void {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      if (this.left[i] === -1) {
        this.left[i] = a;
        this.right[i] = b;
        this.value[i] = v;
        return;
      }
      if (this.left[i] === a && this.right[i] === b) return;
    }
  }

  /** The value of (a, b), or -1. */
  get(a: number, b: number): number {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.left[i];
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return this.value[i];
    }
  }
}
