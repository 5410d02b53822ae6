/**
 * Reference quantizers vs. independent references:
 * - fp16/bf16 conversion vs. a plain arithmetic round-to-nearest-even written here (not ggml's bit trick),
 *   on every fp16 boundary and midpoint and on random floats; plus hand-checked values;
 * - Q8_0/Q4_0 vs. hand-computed blocks (roundf ties away from zero, Q4_0 clamp and sign of d, zero blocks);
 * - all types vs. llama.cpp's gguf-py numpy quantizers (test/gguf/ref_quants.py), byte for byte, when python3
 *   with numpy is available (skipped otherwise, saying so);
 * - round-trip error bounds.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bf16BitsToFp32, dequantize, fp16BitsToFp32, fp32ToBf16Bits, fp32ToFp16Bits, quantize,
} from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';

const f32 = Math.fround;

/** Independent fp32 → fp16 (RNE, overflow → inf, NaN → 0x7E00|sign) by arithmetic on the value. */
function refFp16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return sign | 0x7e00;
  if (a === 0) return sign;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const q = e < -14 ? 2 ** -24 : 2 ** (e - 10); // quantum of the target binade
  let m = a / q; // exact: a is a float32, q a power of two
  const fl = Math.floor(m);
  const frac = m - fl;
  m = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = m * q;
  if (v >= 65520 || v > 65504) return sign | 0x7c00;
  if (v < 2 ** -14) return sign | m; // subnormal (m ≤ 1024; 1024 = smallest normal, same bits)
  const ee = Math.floor(Math.log2(v));
  return sign | ((ee + 15) << 10) | (v / 2 ** (ee - 10) - 1024);
}

/** Independent fp32 → bf16 (RNE) by arithmetic on the value (finite inputs). */
function refBf16(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  const hi = b.getUint16(0);
  const lo = b.getUint16(2);
  const up = lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1);
  return (hi + (up ? 1 : 0)) & 0xffff;
}

function randomFloats(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u1 = (s + 1) / 4294967297;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u2 = s / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

describe('fp16 / bf16 conversions', () => {
  it('hand-checked values', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65519.99, 0x7bff],
      [65520, 0x7c00], [1e10, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
      [f32(2 ** -25 * 1.0000001), 0x0001], [2 ** -14, 0x0400], [f32(0.1), 0x2e66], [f32(1 + 2 ** -11), 0x3c00],
      [f32(1 + 3 * 2 ** -11), 0x3c02], [NaN, 0x7e00],
    ];
    for (const [x, h] of cases) expect(fp32ToFp16Bits(x).toString(16), `fp16(${x})`).toBe(h.toString(16));
    expect(fp32ToBf16Bits(1)).toBe(0x3f80);
    expect(fp32ToBf16Bits(f32(1 + 2 ** -8))).toBe(0x3f80); // tie → even
    expect(fp32ToBf16Bits(f32(1 + 3 * 2 ** -8))).toBe(0x3f82); // tie → even (up)
    expect(fp32ToBf16Bits(-Infinity)).toBe(0xff80);
    expect(fp32ToBf16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
    expect(fp16BitsToFp32(0x3c00)).toBe(1);
    expect(fp16BitsToFp32(0x0001)).toBe(2 ** -24);
    expect(fp16BitsToFp32(0xfbff)).toBe(-65504);
    expect(fp16BitsToFp32(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(fp16BitsToFp32(0x7e00))).toBe(true);
    expect(bf16BitsToFp32(0x3f80)).toBe(1);
    expect(bf16BitsToFp32(0xc040)).toBe(-3);
  });

  it('fp32 → fp16 equals an arithmetic round-to-nearest-even on every fp16 value, midpoint and neighbour', () => {
    let checked = 0;
    const bad: number[] = [];
    const check = (x: number) => {
      if (fp32ToFp16Bits(x) !== refFp16(x)) bad.push(x);
      checked++;
    };
    for (let h = 0; h < 0x7c00; h++) {
      const v = fp16BitsToFp32(h);
      const next = h + 1 < 0x7c00 ? fp16BitsToFp32(h + 1) : 65520;
      const mid = (v + next) / 2; // exact in float32
      for (const x of [v, mid, f32(mid * (1 + 2 ** -23)), f32(mid * (1 - 2 ** -23)), f32(v * (1 + 2 ** -23))]) {
        check(x);
        check(-x);
      }
      if (fp32ToFp16Bits(v) !== h) bad.push(v);
    }
    for (const x of randomFloats(20000, 7, 1000)) check(x);
    expect(bad.slice(0, 10)).toEqual([]);
    expect(checked).toBeGreaterThan(300000);
  });

  it('fp32 → bf16 equals an arithmetic round-to-nearest-even', () => {
    const bad: number[] = [];
    for (const x of randomFloats(50000, 11, 3)) if (fp32ToBf16Bits(x) !== refBf16(x)) bad.push(x);
    for (let h = 0; h < 0x7f80; h++) {
      const v = bf16BitsToFp32(h);
      const mid = f32((v + bf16BitsToFp32(h + 1)) / 2);
      for (const x of [v, mid, -mid, f32(mid * (1 + 2 ** -23))]) if (fp32ToBf16Bits(x) !== refBf16(x)) bad.push(x);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});

describe('Q8_0 / Q4_0 hand-computed blocks', () => {
  it('Q8_0: amax 127 gives d = 1 and roundf ties away from zero', () => {
    const x = new Float32Array(32);
    x.set([-127, 126.5, -2.5, 2.5, f32(0.49999997), 1.5, -1.5, 0.5, -0.5, 3.2]);
    const q = quantize(GgmlType.Q8_0, x, 32);
    expect(q.length).toBe(34);
    expect(q[0] | (q[1] << 8)).toBe(0x3c00);
    expect(Array.from(new Int8Array(q.buffer, 2, 10))).toEqual([-127, 127, -3, 3, 0, 2, -2, 1, -1, 3]);
    expect(Array.from(new Int8Array(q.buffer, 12, 22))).toEqual(new Array(22).fill(0));
    expect(Array.from(dequantize(GgmlType.Q8_0, q, 32).subarray(0, 4))).toEqual([-127, 127, -3, 3]);
  });

  it('Q4_0: d = max / -8 keeps the sign of the largest magnitude; nibbles are trunc(x/d + 8.5) clamped to 15', () => {
    const x = new Float32Array(32);
    x.set([-8, 7, 7.6, f32(0.4999), 0.5, -0.5, -7.6, 3]);
    x.set([1, 2, -3], 16);
    const q = quantize(GgmlType.Q4_0, x, 32);
    expect(q.length).toBe(18);
    expect(q[0] | (q[1] << 8)).toBe(0x3c00); // d = -8 / -8 = 1
    const lo = [0, 15, 15, 8, 9, 8, 0, 11]; // trunc(x + 8.5), min 15
    const hi = [9, 10, 5]; // x[16..18] + 8.5
    for (let j = 0; j < 16; j++) expect(q[2 + j], `byte ${j}`).toBe((lo[j] ?? 8) | ((hi[j] ?? 8) << 4));
    expect(Array.from(dequantize(GgmlType.Q4_0, q, 32).subarray(0, 8))).toEqual([-8, 7, 7, 0, 1, 0, -8, 3]);

    const y = new Float32Array(32);
    y.set([8, -7, 4]); // largest magnitude positive → d = -1
    const r = quantize(GgmlType.Q4_0, y, 32);
    expect(r[0] | (r[1] << 8)).toBe(0xbc00);
    expect([r[2] & 15, r[3] & 15, r[4] & 15]).toEqual([0, 15, 4]); // trunc(-8+8.5)=0, trunc(7+8.5)=15, trunc(-4+8.5)=4
    expect(Array.from(dequantize(GgmlType.Q4_0, r, 32).subarray(0, 3))).toEqual([8, -7, 4]);
  });

  it('zero blocks: Q8_0 d = +0 and all 0; Q4_0 d = 0 / -8 = -0 (fp16 0x8000) and all nibbles 8', () => {
    const z = new Float32Array(64);
    expect(Array.from(quantize(GgmlType.Q8_0, z, 64))).toEqual(new Array(68).fill(0));
    const q4 = quantize(GgmlType.Q4_0, z, 32);
    for (let b = 0; b < 2; b++) expect(Array.from(q4.subarray(b * 18, b * 18 + 18))).toEqual([0x00, 0x80, ...new Array(16).fill(0x88)]);
  });

  it('shape errors', () => {
    expect(() => quantize(GgmlType.Q8_0, new Float32Array(48), 48)).toThrow(RangeError);
    expect(() => quantize(GgmlType.F16, new Float32Array(10), 4)).toThrow(RangeError);
    expect(() => quantize(GgmlType.Q8_1, new Float32Array(256), 256)).toThrow(RangeError);
  });
});

describe('round-trip error bounds', () => {
  const x = randomFloats(32 * 512, 3, 0.05);
  it('F32 exact, F16/BF16 within half an ulp', () => {
    expect(dequantize(GgmlType.F32, quantize(GgmlType.F32, x, 64), x.length)).toEqual(x);
    const h = dequantize(GgmlType.F16, quantize(GgmlType.F16, x, 64), x.length);
    const b = dequantize(GgmlType.BF16, quantize(GgmlType.BF16, x, 64), x.length);
    let worstH = 0;
    let worstB = 0;
    for (let i = 0; i < x.length; i++) {
      const a = Math.abs(x[i]);
      worstH = Math.max(worstH, Math.abs(h[i] - x[i]) / Math.max(a * 2 ** -11, 2 ** -25));
      worstB = Math.max(worstB, Math.abs(b[i] - x[i]) / (a * 2 ** -8));
    }
    expect(worstH).toBeLessThanOrEqual(1);
    expect(worstB).toBeLessThanOrEqual(1);
  });
  it('Q8_0 within d·(1/2 + 127·2^-11), Q4_0 within |d|·(1 + 8·2^-11)', () => {
    for (const [type, bytesPerBlock, bound] of [[GgmlType.Q8_0, 34, 0.5 + 127 * 2 ** -11], [GgmlType.Q4_0, 18, 1 + 8 * 2 ** -11]] as const) {
      const q = quantize(type, x, 32);
      const y = dequantize(type, q, x.length);
      let sumErr = 0;
      let sumD = 0;
      let worst = 0;
      for (let blk = 0; blk < x.length / 32; blk++) {
        const d = Math.abs(fp16BitsToFp32(q[blk * bytesPerBlock] | (q[blk * bytesPerBlock + 1] << 8)));
        sumD += d;
        for (let j = 0; j < 32; j++) {
          const e = Math.abs(y[blk * 32 + j] - x[blk * 32 + j]);
          worst = Math.max(worst, e / (d * bound));
          sumErr += e;
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
      // uniform rounding error: mean |e| ≈ d/4
      expect(sumErr / x.length / (sumD / (x.length / 32))).toBeGreaterThan(0.2);
      expect(sumErr / x.length / (sumD / (x.length / 32))).toBeLessThan(0.3);
    }
  });
});

const REF_SCRIPT = fileURLToPath(new URL('./ref_quants.py', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('vs. llama.cpp gguf-py numpy quantizers (byte for byte)', () => {
  it.skipIf(!hasNumpy)('F16, BF16, Q8_0, Q4_0 (skipped when python3 + numpy are unavailable)', () => {
    const parts = [randomFloats(32 * 2000, 5, 0.02), randomFloats(32 * 200, 6, 300), randomFloats(32 * 50, 8, 1e-6)];
    // ties and exact halves after scaling: integers and half-integers in blocks whose max is 127 or -8
    const ties = new Float32Array(32 * 64);
    for (let i = 0; i < ties.length; i++) ties[i] = (((i * 37) % 255) - 127) / 2;
    for (let b = 0; b < 64; b++) ties[b * 32] = b % 2 ? 127 : -8;
    const x = new Float32Array(parts.reduce((n, p) => n + p.length, ties.length));
    let o = 0;
    for (const p of [...parts, ties]) {
      x.set(p, o);
      o += p.length;
    }
    for (const [name, type] of [['F16', GgmlType.F16], ['BF16', GgmlType.BF16], ['Q8_0', GgmlType.Q8_0], ['Q4_0', GgmlType.Q4_0]] as const) {
      const r = spawnSync('python3', [REF_SCRIPT, name], { input: new Uint8Array(x.buffer), maxBuffer: 64 << 20 });
      expect(r.status, r.stderr?.toString()).toBe(0);
      const ref = new Uint8Array(r.stdout);
      const ours = quantize(type, x, 32);
      expect(ours.length).toBe(ref.length);
      let diff = -1;
      for (let i = 0; i < ours.length && diff < 0; i++) if (ours[i] !== ref[i]) diff = i;
      expect(diff, `${name}: first differing byte`).toBe(-1);
    }
  });
});
