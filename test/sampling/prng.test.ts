import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from '../../src/sampling/prng.ts';

describe('Xoshiro128 (xoshiro128**)', () => {
  it("matches the reference C implementation's outputs", () => {
    // From Blackman & Vigna's xoshiro128starstar.c compiled with gcc: state {1,2,3,4} and a second state.
    const r = new Xoshiro128(0);
    r.setState(1, 2, 3, 4);
    expect(Array.from({ length: 8 }, () => r.nextU32())).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849,
    ]);
    r.setState(0xdeadbeef, 0x12345678, 0xcafebabe, 0x0badf00d);
    expect(Array.from({ length: 8 }, () => r.nextU32())).toEqual([
      2576977301, 347642640, 2932269098, 1734644419, 3250013134, 1805960553, 2263909644, 119746310,
    ]);
  });

  it('next() is uniform in [0, 1): mean, variance and 10 bins of 200k draws', () => {
    const r = new Xoshiro128(7);
    const N = 200_000;
    const bins = new Array<number>(10).fill(0);
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < N; i++) {
      const u = r.next();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      sum2 += u * u;
      bins[Math.floor(u * 10)]!++;
    }
    expect(Math.abs(sum / N - 0.5)).toBeLessThan(0.005); // σ of the mean ≈ 0.00065
    expect(Math.abs(sum2 / N - sum ** 2 / N ** 2 - 1 / 12)).toBeLessThan(0.002);
    const chi2 = bins.reduce((a, c) => a + (c - N / 10) ** 2 / (N / 10), 0);
    expect(chi2).toBeLessThan(30); // 9 dof, p ≈ 4e-4
  });

  it('seeds: same seed same stream, nearby seeds unrelated, large seeds use their high bits', () => {
    const a = new Xoshiro128(1);
    const b = new Xoshiro128(1);
    const c = new Xoshiro128(2);
    const sa = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(sa);
    const sc = Array.from({ length: 100 }, () => c.nextU32());
    expect(sa.filter((x, i) => x === sc[i]).length).toBe(0);
    const hi1 = new Xoshiro128(2 ** 40 + 5).nextU32();
    const hi2 = new Xoshiro128(2 ** 41 + 5).nextU32();
    expect(hi1).not.toBe(hi2);
  });
});
