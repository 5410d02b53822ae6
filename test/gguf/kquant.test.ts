/**
 * K-quant reference (de)quantizers (src/gguf/quant/q4_k.ts, q5_k.ts, q6_k.ts):
 * - dequantizers vs. blocks built by hand here from ggml-common.h's layouts (6-bit scale/min packing of
 *   sub-blocks 4..7, Q5_K's 5th bits, Q6_K's 2 high bits and signed scales), values computed independently;
 * - quantizers: llama.cpp's own acceptance bound (tests/test-quantize-fns.cpp: data 0.1 + 2·cos(i + offset),
 *   4096 values, error √Σ(x − x̂)² / n < MAX_QUANTIZATION_TOTAL_ERROR = 0.002 for every 4-6 bit type);
 * - round-trip RMSE on seeded N(0, 1) data (Box-Muller over mulberry32, 64 Ki values), stated: Q4_K 0.0714,
 *   Q5_K 0.0361, Q6_K 0.0176 (our port; Q4_0's reference quantizer gives 0.0856 on the same data), each checked
 *   within ±5%, and ordered Q6_K < Q5_K < Q4_K < Q4_0. (A regression in the scale search or the level clamps moves
 *   these by far more than 5%. Bit-exactness with llama.cpp's C: test/gguf/kquant-llamacpp.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { dequantize, fp32ToFp16Bits, quantize } from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';

const K_TYPES: [string, GgmlType, number][] = [
  ['Q4_K', GgmlType.Q4_K, 144],
  ['Q5_K', GgmlType.Q5_K, 176],
  ['Q6_K', GgmlType.Q6_K, 210],
];

function gaussian(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - r();
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function rmse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

const h16 = (v: number): [number, number] => {
  const b = fp32ToFp16Bits(v);
  return [b & 0xff, b >> 8];
};

describe('K-quant dequantizers vs hand-built blocks', () => {
  it('Q4_K: 6-bit scales/mins of all 8 sub-blocks, nibble order', () => {
    const blk = new Uint8Array(144);
    blk.set(h16(0.5), 0); // d
    blk.set(h16(0.25), 2); // dmin
    const sc = [1, 2, 3, 63, 17, 33, 48, 5];
    const mn = [0, 7, 63, 1, 40, 2, 31, 60];
    // Packing written from ggml-common.h: bytes 0-3 sc[0..3] low 6 bits (+ high 2 bits of sc[4..7]),
    // bytes 4-7 mn[0..3] (+ high 2 bits of mn[4..7]), bytes 8-11 low nibbles of sc[4..7] | mn[4..7] << 4.
    for (let j = 0; j < 4; j++) {
      blk[4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
      blk[8 + j] = mn[j] | ((mn[j + 4] >> 4) << 6);
      blk[12 + j] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
    }
    const q = (e: number) => (e * 7 + 3) % 16; // level of element e
    for (let p = 0; p < 4; p++) for (let l = 0; l < 32; l++) blk[16 + 32 * p + l] = q(64 * p + l) | (q(64 * p + 32 + l) << 4);
    const got = dequantize(GgmlType.Q4_K, blk, 256);
    for (let e = 0; e < 256; e++) {
      const s = e >> 5;
      expect(got[e], `element ${e}`).toBe(0.5 * sc[s] * q(e) - 0.25 * mn[s]);
    }
  });

  it('Q5_K: 5th bit from qh bit 2p / 2p+1', () => {
    const blk = new Uint8Array(176);
    blk.set(h16(1), 0);
    blk.set(h16(2), 2);
    const sc = [1, 2, 3, 4, 5, 6, 7, 8];
    const mn = [8, 7, 6, 5, 4, 3, 2, 1];
    for (let j = 0; j < 4; j++) {
      blk[4 + j] = sc[j];
      blk[8 + j] = mn[j];
      blk[12 + j] = sc[j + 4] | (mn[j + 4] << 4);
    }
    const q = (e: number) => (e * 11 + 5) % 32;
    for (let p = 0; p < 4; p++) {
      for (let l = 0; l < 32; l++) {
        const a = q(64 * p + l);
        const b = q(64 * p + 32 + l);
        blk[48 + 32 * p + l] = (a & 15) | ((b & 15) << 4);
        blk[16 + l] |= ((a >> 4) << (2 * p)) | ((b >> 4) << (2 * p + 1));
      }
    }
    const got = dequantize(GgmlType.Q5_K, blk, 256);
    for (let e = 0; e < 256; e++) expect(got[e], `element ${e}`).toBe(sc[e >> 5] * q(e) - 2 * mn[e >> 5]);
  });

  it('Q6_K: low nibbles, 2 high bits, signed 8-bit scales per 16', () => {
    const blk = new Uint8Array(210);
    const sc = [1, -2, 3, -128, 127, 0, 5, -6, 7, 8, -9, 10, 11, 12, -13, 64];
    sc.forEach((s, i) => (blk[192 + i] = s & 0xff));
    blk.set(h16(0.125), 208);
    const q = (e: number) => (e * 13 + 7) % 64;
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const [a, b, c, d] = [0, 32, 64, 96].map((o) => q(128 * h + o + l));
        blk[64 * h + l] = (a & 15) | ((c & 15) << 4);
        blk[64 * h + l + 32] = (b & 15) | ((d & 15) << 4);
        blk[128 + 32 * h + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((d >> 4) << 6);
      }
    }
    const got = dequantize(GgmlType.Q6_K, blk, 256);
    for (let e = 0; e < 256; e++) expect(got[e], `element ${e}`).toBe(0.125 * sc[e >> 4] * (q(e) - 32));
  });
});

describe('Q3_K, Q2_K, IQ4_XS dequantizers vs hand-built blocks', () => {
  it('Q3_K: 2 low bits, high bit from hmask, 6-bit scales biased by 32', () => {
    const blk = new Uint8Array(110);
    blk.set(h16(0.25), 108);
    const sc = [0, 1, 31, 32, 33, 63, 10, 50, 5, 60, 17, 47, 2, 40, 25, 39]; // stored (biased) 6-bit scales
    // Packing written from ggml-common.h / quantize_row_q3_K_ref: bytes 96..103 hold the low nibbles of
    // sc[0..7] (low) and sc[8..15] (high); byte 104 + j%4 holds the 2 high bits of sc[j] at bit 2·(j/4).
    for (let j = 0; j < 16; j++) {
      if (j < 8) blk[96 + j] |= sc[j] & 15;
      else blk[96 + j - 8] |= (sc[j] & 15) << 4;
      blk[104 + (j % 4)] |= (sc[j] >> 4) << (2 * Math.floor(j / 4));
    }
    const q = (e: number) => (e * 5 + 3) % 8; // level 0..7 of element e
    for (let e = 0; e < 256; e++) {
      const half = Math.floor(e / 128);
      const g = Math.floor((e % 128) / 32);
      blk[32 + 32 * half + (e % 32)] |= (q(e) & 3) << (2 * g);
      if (q(e) >= 4) blk[e % 32] |= 1 << Math.floor(e / 32);
    }
    const got = dequantize(GgmlType.Q3_K, blk, 256);
    for (let e = 0; e < 256; e++) expect(got[e], `element ${e}`).toBe(0.25 * (sc[e >> 4] - 32) * (q(e) - 4));
  });

  it('Q2_K: 2-bit levels in Q3_K\'s order, 4-bit scale (low nibble) and min (high nibble) per 16', () => {
    const blk = new Uint8Array(84);
    blk.set(h16(0.5), 80); // d
    blk.set(h16(0.125), 82); // dmin
    const sc = [0, 1, 15, 7, 3, 9, 12, 5, 14, 2, 11, 6, 8, 13, 4, 10];
    const mn = [15, 0, 3, 8, 1, 14, 6, 9, 2, 12, 7, 5, 13, 4, 11, 10];
    for (let j = 0; j < 16; j++) blk[j] = sc[j] | (mn[j] << 4);
    const q = (e: number) => (e * 3 + 1) % 4;
    for (let e = 0; e < 256; e++) blk[16 + 32 * Math.floor(e / 128) + (e % 32)] |= q(e) << (2 * Math.floor((e % 128) / 32));
    const got = dequantize(GgmlType.Q2_K, blk, 256);
    for (let e = 0; e < 256; e++) expect(got[e], `element ${e}`).toBe(0.5 * sc[e >> 4] * q(e) - 0.125 * mn[e >> 4]);
  });

  it('IQ4_XS: 6-bit scales split in scales_l nibbles and scales_h pairs, kvalues_iq4nl levels', () => {
    const blk = new Uint8Array(136);
    blk.set(h16(0.0625), 0);
    const ls = [0, 63, 32, 31, 1, 40, 17, 50]; // stored (biased) scales
    let sh = 0;
    for (let ib = 0; ib < 8; ib++) {
      blk[4 + (ib >> 1)] |= (ls[ib] & 15) << (4 * (ib % 2));
      sh |= (ls[ib] >> 4) << (2 * ib);
    }
    blk[2] = sh & 0xff;
    blk[3] = sh >> 8;
    const kv = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]; // ggml-common.h kvalues_iq4nl
    const q = (e: number) => (e * 7 + 2) % 16;
    for (let ib = 0; ib < 8; ib++) for (let j = 0; j < 16; j++) blk[8 + 16 * ib + j] = q(32 * ib + j) | (q(32 * ib + 16 + j) << 4);
    const got = dequantize(GgmlType.IQ4_XS, blk, 256);
    for (let e = 0; e < 256; e++) expect(got[e], `element ${e}`).toBe(0.0625 * (ls[e >> 5] - 32) * kv[q(e)]);
  });
});

describe('K-quant reference quantizers', () => {
  it("meet llama.cpp's test-quantize-fns bound (0.002) on its cosine data", () => {
    const n = 4096;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.fround(0.1 + 2 * Math.cos(i)); // generate_data(0.0, ...)
    for (const [name, type, bytes] of K_TYPES) {
      const q = quantize(type, x, n);
      expect(q.length).toBe((n / 256) * bytes);
      const y = dequantize(type, q, n);
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i] - y[i]) ** 2;
      expect(Math.sqrt(s) / n, name).toBeLessThan(0.002);
    }
    // test-quantize-fns' MAX_QUANTIZATION_TOTAL_ERROR_2BITS (0.0075) for Q2_K, _3BITS (0.0040) for Q3_K, 0.002 for IQ4_XS.
    for (const [name, type, bound] of [['Q3_K', GgmlType.Q3_K, 0.004], ['Q2_K', GgmlType.Q2_K, 0.0075], ['IQ4_XS', GgmlType.IQ4_XS, 0.002]] as const) {
      const y = dequantize(type, quantize(type, x, n), n);
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i] - y[i]) ** 2;
      expect(Math.sqrt(s) / n, name).toBeLessThan(bound);
    }
  });

  it('round-trip RMSE on N(0,1) data, per type (stated windows), and the type ordering', () => {
    const n = 1 << 16;
    const x = gaussian(n, 1234);
    // [type, stated RMSE/σ]: checked within ±5%.
    const stated: [GgmlType, number][] = [
      [GgmlType.Q4_K, 0.0714],
      [GgmlType.Q5_K, 0.0361],
      [GgmlType.Q6_K, 0.0176],
    ];
    const got = new Map<GgmlType, number>();
    for (const [type, want] of stated) {
      const e = rmse(x, dequantize(type, quantize(type, x, 256), n));
      got.set(type, e);
      expect(e, `${type}`).toBeGreaterThan(want * 0.95);
      expect(e, `${type}`).toBeLessThan(want * 1.05);
    }
    const q40 = rmse(x, dequantize(GgmlType.Q4_0, quantize(GgmlType.Q4_0, x, 32), n));
    expect(got.get(GgmlType.Q4_K)!).toBeLessThan(q40);
    expect(got.get(GgmlType.Q5_K)!).toBeLessThan(got.get(GgmlType.Q4_K)!);
    expect(got.get(GgmlType.Q6_K)!).toBeLessThan(got.get(GgmlType.Q5_K)!);
    // Fewer bits, more error (no stated window: their bytes are checked against ggml's C in kquant-llamacpp).
    const q3 = rmse(x, dequantize(GgmlType.Q3_K, quantize(GgmlType.Q3_K, x, 256), n));
    expect(q3).toBeGreaterThan(got.get(GgmlType.Q4_K)!);
    expect(q3).toBeLessThan(0.25); // 3 bits: about 2^-3 of the range per level
    const q2 = rmse(x, dequantize(GgmlType.Q2_K, quantize(GgmlType.Q2_K, x, 256), n));
    expect(q2).toBeGreaterThan(q3);
    expect(q2).toBeLessThan(0.5);
    const iq4xs = rmse(x, dequantize(GgmlType.IQ4_XS, quantize(GgmlType.IQ4_XS, x, 256), n));
    expect(iq4xs).toBeGreaterThan(got.get(GgmlType.Q5_K)!);
    expect(iq4xs).toBeLessThan(q40); // non-linear levels and 6-bit sub-scales beat Q4_0
  });

  it('zero rows give zero blocks; rows must be multiples of 256', () => {
    for (const type of [...K_TYPES.map((k) => k[1]), GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.IQ4_XS]) {
      const q = quantize(type, new Float32Array(512), 512);
      expect(Array.from(dequantize(type, q, 512)).every((v) => v === 0)).toBe(true);
      expect(() => quantize(type, new Float32Array(128), 128)).toThrow(RangeError);
    }
  });
});
