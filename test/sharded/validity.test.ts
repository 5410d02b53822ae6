/** Validity against a byte-per-shard reference: the same writes and reads, the same copies, the same state. */
import { describe, expect, it } from 'vitest';
import { Validity, ValidityOverflowError } from '../../src/backend/sharded/validity.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';

/** Reference: for every byte, the set of shards holding its latest value (0: never written). */
class Naive {
  readonly m: Uint32Array;
  constructor(size: number) {
    this.m = new Uint32Array(size);
  }
  write(a: number, e: number, s: number) {
    this.m.fill(1 << s, a, e);
  }
  /** Bytes copied per (from, to): each stale defined byte is copied once, from its lowest valid shard. */
  read(a: number, e: number, s: number, copied: Map<string, number>) {
    for (let i = a; i < e; i++) {
      const m = this.m[i];
      if (m === 0 || m & (1 << s)) continue;
      const from = 31 - Math.clz32(m & -m);
      const k = `${from}>${s}`;
      copied.set(k, (copied.get(k) ?? 0) + 1);
      this.m[i] = m | (1 << s);
    }
  }
}

function expand(v: Validity): Uint32Array {
  const out = new Uint32Array(v.size);
  for (const [lo, hi, m] of v.intervals()) out.fill(m, lo, hi);
  return out;
}

describe('Validity', () => {
  it('matches the per-byte reference over random reads and writes on 3 shards', () => {
    const rand = mulberry32(11);
    const size = 512;
    const v = new Validity(size);
    const ref = new Naive(size);
    for (let step = 0; step < 3000; step++) {
      // prefix-heavy ranges, like rows [0, nTok) and single-row views
      const a = rand() < 0.5 ? 0 : Math.floor(rand() * size);
      const e = Math.min(size, a + 1 + Math.floor(rand() * (rand() < 0.5 ? 16 : size)));
      const s = Math.floor(rand() * 3);
      if (step % 500 === 499) {
        v.reset(s);
        ref.m.fill(1 << s);
      } else if (rand() < 0.5) {
        v.write(a, e, s);
        ref.write(a, e, s);
      } else {
        const got = new Map<string, number>();
        v.read(a, e, s, (from, to, lo, hi) => {
          expect(from).not.toBe(to);
          got.set(`${from}>${to}`, (got.get(`${from}>${to}`) ?? 0) + (hi - lo));
        });
        const want = new Map<string, number>();
        ref.read(a, e, s, want);
        if (JSON.stringify([...got].sort()) !== JSON.stringify([...want].sort())) expect(got).toEqual(want);
      }
      const got = expand(v);
      const bad = got.findIndex((m, i) => m !== ref.m[i]);
      if (bad >= 0) expect([step, bad, got[bad]]).toEqual([step, bad, ref.m[bad]]);
      if (v.intervals().length > 40) {
        // keep within capacity: a full write collapses everything (the tracker is exercised, not its limit)
        v.write(0, size, s);
        ref.write(0, size, s);
      }
    }
  });

  it('a read of bytes never written copies nothing', () => {
    const v = new Validity(100);
    v.read(0, 100, 1, () => expect.unreachable());
    v.write(10, 20, 0);
    const copies: number[][] = [];
    v.read(0, 100, 1, (f, t, a, e) => copies.push([f, t, a, e]));
    expect(copies).toEqual([[0, 1, 10, 20]]);
  });

  it('more intervals than it tracks: a named error', () => {
    const v = new Validity(1000);
    expect(() => {
      for (let i = 0; i < 200; i++) v.write(i * 4, i * 4 + 2, i % 2);
    }).toThrow(ValidityOverflowError);
  });
});
