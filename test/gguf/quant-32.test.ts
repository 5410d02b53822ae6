/**
 * Q4_1, Q5_0, Q5_1, IQ4_NL reference (de)quantizers (src/gguf/quant/):
 * - round-trip RMSE on seeded N(0, 1) data (64 Ki values), bounds stated per type below;
 * - the quantizers' algebra, checked in float64 independently of the f32 code: the block scale (and min)
 *   reproduce the block's extremes within fp16 rounding, every code is the nearest grid point (up to f32
 *   rounding of the scaled value), IQ4_NL's scale is the weighted least-squares optimum of one of the 16
 *   candidate scales ggml tries and fits no worse than any of them;
 * - hand-decoded blocks (layout: which nibble / qh bit is which element);
 * - byte for byte against llama.cpp's own ggml-quants.c (quantize_row_{q4_1,q5_0,q5_1,iq4_nl}_ref and
 *   quantize_iq4_nl without imatrix), compiled with gcc from a llama.cpp checkout at $LLAMA_CPP_SRC, else
 *   from the ggml sources in the llama.cpp bundle node-llama-cpp ships
 *   (skipped, saying so, when that or gcc is missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IQ4NL_VALUES, dequantize, fp16BitsToFp32, quantize, quantizeRowIQ4_NL } from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { ggmlQuantsSource } from '../helpers/llama-src.ts';

function gaussian(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const h = (b: Uint8Array, at: number) => fp16BitsToFp32(u16(b, at));

/** [name, type, bytes per block, RMSE bound on N(0,1)]. Bounds: uniform rounding error step/√12 with the
 * step of a 32-sample Gaussian block (range ≈ 4.1σ, max|x| ≈ 2.1σ) plus margin; IQ4_NL's grid is denser near 0. */
const TYPES: [string, GgmlType, number, number][] = [
  ['Q4_1', GgmlType.Q4_1, 20, 0.085], // step (max−min)/15 ≈ 0.27 → 0.079
  ['Q5_0', GgmlType.Q5_0, 22, 0.045], // step max|x|/16 ≈ 0.13 → 0.038
  ['Q5_1', GgmlType.Q5_1, 24, 0.042], // step (max−min)/31 ≈ 0.13 → 0.038
  ['IQ4_NL', GgmlType.IQ4_NL, 18, 0.08], // Q4_0's step max/8 ≈ 0.27 → 0.077 (its fit weights x², not plain RMSE)
];

const X = gaussian(1 << 16, 2024);

describe('Q4_1 / Q5_0 / Q5_1 / IQ4_NL round trip', () => {
  for (const [name, type, bs, bound] of TYPES) {
    it(`${name}: RMSE on N(0,1) ≤ ${bound}, ${bs} bytes per 32 values`, () => {
      const q = quantize(type, X, 256);
      expect(q.length).toBe((X.length / 32) * bs);
      const y = dequantize(type, q, X.length);
      let se = 0;
      for (let i = 0; i < X.length; i++) se += (y[i] - X[i]) ** 2;
      const rmse = Math.sqrt(se / X.length);
      expect(rmse).toBeLessThan(bound);
      expect(rmse).toBeGreaterThan(bound / 3); // a real quantizer, not a copy
    });
  }
});

/** Element j's code of a block whose nibbles start at `qs` and whose high bits (5-bit types) are at `qhAt`. */
function code(b: Uint8Array, blk: number, qs: number, qhAt: number | null, j: number): number {
  const byte = b[blk + qs + (j % 16)];
  const nib = j < 16 ? byte & 15 : byte >> 4;
  return qhAt === null ? nib : nib | (((u32(b, blk + qhAt) >>> j) & 1) << 4);
}

/** Same data plus blocks that test edges: all-equal, zero, exact grid points, tiny values. */
function edgeData(): Float32Array {
  const x = gaussian(32 * 512, 7);
  for (let b = 0; b < 512; b++) {
    for (let j = 0; j < 32; j++) {
      const i = b * 32 + j;
      if (b % 9 === 1) x[i] = 3; // constant block
      if (b % 9 === 2) x[i] = 0;
      if (b % 9 === 3) x[i] = j - 16; // on the Q5_0 grid
      if (b % 9 === 4) x[i] *= 1e-30;
      if (b % 9 === 5) x[i] += 100; // large offset
    }
  }
  return x;
}

describe('quantizer algebra vs float64', () => {
  const x = edgeData();
  const nb = x.length / 32;
  const fp16Close = (got: number, want: number) => Math.abs(got - want) <= Math.abs(want) * 2 ** -11 + 2 ** -25;

  for (const [name, type, bits, qs, qhAt] of [
    ['Q4_1', GgmlType.Q4_1, 4, 4, null],
    ['Q5_1', GgmlType.Q5_1, 5, 8, 4],
  ] as const) {
    it(`${name}: d = (max−min)/${2 ** bits - 1}, m = min (fp16), codes nearest to (x−min)/d`, () => {
      const q = quantize(type, x, 32);
      const bs = type === GgmlType.Q4_1 ? 20 : 24;
      for (let b = 0; b < nb; b++) {
        let min = Infinity;
        let max = -Infinity;
        for (let j = 0; j < 32; j++) {
          min = Math.min(min, x[b * 32 + j]);
          max = Math.max(max, x[b * 32 + j]);
        }
        const d = h(q, b * bs);
        const dRef = (max - min) / (2 ** bits - 1);
        expect(fp16Close(d, dRef), `${name} block ${b}: d ${d} vs ${dRef}`).toBe(true);
        expect(fp16Close(h(q, b * bs + 2), min), `${name} block ${b}: m`).toBe(true);
        for (let j = 0; j < 32; j++) {
          const c = code(q, b * bs, qs, qhAt, j);
          const want = dRef ? (x[b * 32 + j] - min) / dRef : 0; // the exact real-number code
          expect(Math.abs(c - want), `${name} block ${b} element ${j}: code ${c} vs ${want}`).toBeLessThanOrEqual(0.5 + 1e-5);
        }
      }
    });
  }

  it('Q5_0: d = max/−16 (the signed extreme maps to code 0), codes nearest to x/d + 16, clamped at 31', () => {
    const q = quantize(GgmlType.Q5_0, x, 32);
    for (let b = 0; b < nb; b++) {
      let max = 0;
      for (let j = 0; j < 32; j++) if (Math.abs(x[b * 32 + j]) > Math.abs(max)) max = x[b * 32 + j];
      const d = h(q, b * 22);
      expect(fp16Close(d, max / -16), `block ${b}: d`).toBe(true);
      for (let j = 0; j < 32; j++) {
        const c = code(q, b * 22, 6, 2, j);
        const want = max ? Math.min(31, x[b * 32 + j] / (max / -16) + 16) : 16;
        expect(Math.abs(c - want), `block ${b} element ${j}: code ${c} vs ${want}`).toBeLessThanOrEqual(0.5 + 1e-5);
        if (x[b * 32 + j] === max && max !== 0) expect(c).toBe(0);
      }
    }
  });

  it('IQ4_NL: codes nearest to x/d on the grid, d the weighted least-squares scale, no worse than any of ggml’s 16 candidates', () => {
    const q = quantize(GgmlType.IQ4_NL, x, 32);
    const nearest = (v: number) => IQ4NL_VALUES.reduce((bi, g, i) => (Math.abs(g - v) < Math.abs(IQ4NL_VALUES[bi] - v) ? i : bi), 0);
    /** Weighted (w = x²) squared error of block b at scale s with its nearest codes, and the optimal s for them. */
    const fit = (b: number, s: number): [number, number] => {
      let sqx = 0;
      let sq2 = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[b * 32 + j];
        const g = IQ4NL_VALUES[nearest(v / s)];
        sqx += v * v * g * v;
        sq2 += v * v * g * g;
      }
      const best = sqx / sq2;
      let err = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[b * 32 + j];
        err += v * v * (v - best * IQ4NL_VALUES[nearest(v / s)]) ** 2;
      }
      return [err, best];
    };
    for (let b = 0; b < nb; b++) {
      const d = h(q, b * 18);
      let max = 0;
      for (let j = 0; j < 32; j++) if (Math.abs(x[b * 32 + j]) > Math.abs(max)) max = x[b * 32 + j];
      if (Math.abs(max) < 1e-15) {
        expect(d, `block ${b}: tiny block gets d = 0`).toBe(0);
        continue;
      }
      let err = 0;
      let slack = 0; // what rounding d to fp16 (relative 2^-11) may add to the weighted error
      for (let j = 0; j < 32; j++) {
        const v = x[b * 32 + j];
        slack += v * v * (1.5 * 2 ** -11 * v) ** 2;
        const c = code(q, b * 18, 2, null, j);
        const gap = Math.abs(v / d - IQ4NL_VALUES[c]) - Math.abs(v / d - IQ4NL_VALUES[nearest(v / d)]);
        // ggml picks codes with the f32 scale, before d is rounded to fp16 (relative 2^-11).
        expect(gap, `block ${b} element ${j}: code ${c} not the nearest level`).toBeLessThanOrEqual(Math.abs(v / d) * 2 ** -10);
        err += v * v * (v - d * IQ4NL_VALUES[c]) ** 2;
      }
      // ggml fits the least-squares scale to the codes of 16 candidate scales (max/127, then max/(−127 + t),
      // t = −7..7) and keeps the best: d must be one of those optima (up to fp16), and no candidate fits better
      // than d with its final codes (up to the fp16 rounding of d).
      const fits = [max / 127, ...Array.from({ length: 15 }, (_, t) => max / (t - 7 - 127))].map((s) => fit(b, s));
      expect(fits.some(([, ls]) => fp16Close(d, ls)), `block ${b}: d ${d} is no candidate's least-squares scale`).toBe(true);
      for (const [e] of fits) expect(err, `block ${b}: a candidate fits better`).toBeLessThanOrEqual(e * (1 + 1e-4) + slack); // 1e-4: f32 sums in ggml's comparison
    }
  });
});

describe('hand-decoded blocks', () => {
  it('Q4_1, Q5_0, Q5_1, IQ4_NL layouts', () => {
    // d = 2 (0x4000), m = −1 (0xBC00); byte 0 = 0x9F: element 0 nibble 15, element 16 nibble 9.
    const q41 = new Uint8Array(20);
    q41.set([0x00, 0x40, 0x00, 0xbc, 0x9f]);
    let y = dequantize(GgmlType.Q4_1, q41, 32);
    expect([y[0], y[16], y[1], y[31]]).toEqual([29, 17, -1, -1]);
    // Q5_0: d = 0.5; qh bit 0 and bit 31 set: element 0 = (15|16)−16 = 15 → 7.5; element 16 = 9−16 → −3.5;
    // element 31: nibble 0 | 16 → 0; element 1: 0 − 16 → −8.
    const q50 = new Uint8Array(22);
    q50.set([0x00, 0x38, 0x01, 0x00, 0x00, 0x80, 0x9f]);
    y = dequantize(GgmlType.Q5_0, q50, 32);
    expect([y[0], y[16], y[31], y[1]]).toEqual([7.5, -3.5, 0, -8]);
    // Q5_1: d = 1, m = 0.5; qh bit 16 set: element 16 = 9|16 = 25 → 25.5.
    const q51 = new Uint8Array(24);
    q51.set([0x00, 0x3c, 0x00, 0x38, 0x00, 0x00, 0x01, 0x00, 0x9f]);
    y = dequantize(GgmlType.Q5_1, q51, 32);
    expect([y[0], y[16], y[1]]).toEqual([15.5, 25.5, 0.5]);
    // IQ4_NL: d = 1; nibble 0 → −127, 15 → 113, 8 → 1.
    const iq = new Uint8Array(18);
    iq.set([0x00, 0x3c, 0x8f, 0x00]);
    y = dequantize(GgmlType.IQ4_NL, iq, 32);
    expect([y[0], y[16], y[1], y[17]]).toEqual([113, 1, -127, -127]);
  });
});

// A llama.cpp checkout ($LLAMA_CPP_SRC), else ggml's sources from the bundle node-llama-cpp ships.
const SRC = process.env.LLAMA_CPP_SRC ?? ggmlQuantsSource().dir ?? '';
const HARNESS = fileURLToPath(new URL('./ggml-quants-harness.c', import.meta.url));
const canBuild = SRC !== '' && existsSync(join(SRC, 'ggml/src/ggml-quants.c')) && spawnSync('gcc', ['--version']).status === 0;

describe('vs. llama.cpp ggml-quants.c, byte for byte', () => {
  it.skipIf(!canBuild)('all four (skipped without gcc or a llama.cpp source)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsr-q32-'));
    const exe = join(dir, 'harness');
    const inc = ['-I', join(SRC, 'ggml/include'), '-I', join(SRC, 'ggml/src')];
    // No -march: ggml-quants.c is in ggml-base, built for the baseline ISA (no FMA contraction).
    const cc = spawnSync('gcc', ['-O2', ...inc, HARNESS, join(SRC, 'ggml/src/ggml-quants.c'), '-o', exe, '-lm']);
    expect(cc.status, cc.stderr.toString()).toBe(0);
    const x = edgeData();
    const ours: [string, (x: Float32Array) => Uint8Array][] = [
      ['q4_1', (v) => quantize(GgmlType.Q4_1, v, 32)],
      ['q5_0', (v) => quantize(GgmlType.Q5_0, v, 32)],
      ['q5_1', (v) => quantize(GgmlType.Q5_1, v, 32)],
      ['iq4_nl', (v) => quantize(GgmlType.IQ4_NL, v, 32)],
      ['iq4_nl_ref', (v) => {
        const out = new Uint8Array((v.length / 32) * 18);
        quantizeRowIQ4_NL(v, out, -1);
        return out;
      }],
    ];
    for (const [name, f] of ours) {
      const r = spawnSync(exe, [name], { input: new Uint8Array(x.buffer), maxBuffer: 64 << 20 });
      expect(r.status).toBe(0);
      const want = new Uint8Array(r.stdout);
      const got = f(x);
      expect(got.length).toBe(want.length);
      let diff = -1;
      for (let i = 0; i < got.length && diff < 0; i++) if (got[i] !== want[i]) diff = i;
      expect(diff, `${name}: first differing byte`).toBe(-1);
    }
  });
});
