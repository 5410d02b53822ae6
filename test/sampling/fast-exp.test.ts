import { describe, expect, it } from 'vitest';
import { fastExp } from '../../src/sampling/fast-exp.ts';
import { mulberry32 } from './helpers.ts';

describe('fastExp vs Math.exp', () => {
  it('relative error ≤ 1e-13 on [−708, 700] (normal results) and ≤ 1e-14 on [−30, 0]', () => {
    const rand = mulberry32(42);
    let worst = 0;
    const check = (x: number) => {
      const want = Math.exp(x);
      const rel = Math.abs(fastExp(x) - want) / want;
      if (rel > worst) worst = rel;
    };
    for (let i = 0; i < 1_000_000; i++) check(-708 + 1408 * rand());
    for (const x of [700, -708]) check(x);
    expect(worst).toBeLessThanOrEqual(1e-13);
    worst = 0;
    // the range that matters for sampling: logit − max over typical logit spreads
    for (let i = 0; i < 1_000_000; i++) check(-30 * rand());
    for (const x of [0, -0, -1e-300, -5e-324, -1, -Math.LN2, -64 * Math.LN2, -30]) check(x);
    expect(worst).toBeLessThanOrEqual(1e-14);
  });

  it('subnormal results: |error| ≤ 1e-13 · 2^-1022 + one subnormal ulp', () => {
    const rand = mulberry32(43);
    let worst = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = -745 + 37 * rand();
      worst = Math.max(worst, Math.abs(fastExp(x) - Math.exp(x)));
    }
    expect(worst).toBeLessThanOrEqual(1e-13 * 2 ** -1022 + 5e-324);
    expect(worst).toBeLessThanOrEqual(1e-14);
  });

  it('underflows to 0 like Math.exp, and maps NaN and −Infinity to 0', () => {
    expect(fastExp(-745.2)).toBe(0);
    expect(fastExp(-1000)).toBe(0);
    expect(fastExp(-Infinity)).toBe(0);
    expect(fastExp(NaN)).toBe(0);
    expect(fastExp(0)).toBe(1);
    expect(fastExp(710)).toBe(Infinity);
  });
});
