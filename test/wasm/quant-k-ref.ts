/**
 * Float64 references for the K-quant kernels (MATMUL, GET_ROWS), written here from ggml-common.h's
 * block layouts, independent of the Rust code and of src/gguf/quant/: decode each element to its
 * exact value and, for every element, the two terms the kernels sum separately
 * (`d·sc·q` and `dmin·m` for Q4_K/Q5_K); quantize activations like ggml's `quantize_row_q8_K_ref`.
 *
 *   Q4_K (144 B): d f16 | dmin f16 | scales[12] | qs[128]
 *   Q5_K (176 B): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]
 *   Q6_K (210 B): ql[128] | qh[64] | scales i8[16] | d f16
 *   Q3_K (110 B): hmask[32] | qs[64] | scales[12] (16 six-bit, biased by 32) | d f16
 *   Q2_K (84 B): scales[16] (4-bit scale | 4-bit min << 4) | qs[64] | d f16 | dmin f16
 *   IQ4_XS (136 B): d f16 | scales_h u16 | scales_l[4] | qs[128] (kvalues_iq4nl indices)
 */
import { f16Value, rng, roundHalfEven } from './quant-ref.ts';

export const K_TYPES: [string, number, number][] = [
  ['Q4_K', 12, 144],
  ['Q5_K', 13, 176],
  ['Q6_K', 14, 210],
  ['Q3_K', 11, 110],
  ['Q2_K', 10, 84],
  ['IQ4_XS', 23, 136],
];
const BYTES: Record<number, number> = { 10: 84, 11: 110, 12: 144, 13: 176, 14: 210, 23: 136 };
/** Byte offsets of the f16 d (and dmin) where they are not Q4_K's 0 (and 2). */
const D_AT: Record<number, number[]> = { 10: [80, 82], 11: [108], 14: [208], 23: [0] };
/** ggml-common.h kvalues_iq4nl. */
const KVALUES_IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

export const kRowBytes = (t: number, n: number): number => (n / 256) * BYTES[t];

/** Sub-block j's 6-bit scale and min from the 12 bytes at s (ggml get_scale_min_k4, restated). */
function scaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 0x3f, b[s + 4 + j] & 0x3f];
  const lo = b[s + 8 + (j - 4)];
  return [(lo & 0x0f) + 16 * (b[s + j - 4] >> 6), (lo >> 4) + 16 * (b[s + j] >> 6)];
}

/**
 * Exact values of `rows` rows of n elements of K type t at byte `at`: `val` the element, `mag` |d·sc·q| + |dmin·m|
 * (what the kernels' f32 error scales with).
 */
export function kDequantRows(t: number, bytes: Uint8Array, at: number, rows: number, n: number): { val: Float64Array; mag: Float64Array } {
  const val = new Float64Array(rows * n);
  const mag = new Float64Array(rows * n);
  const u16 = (p: number) => bytes[p] | (bytes[p + 1] << 8);
  const bs = BYTES[t];
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < n / 256; b++) {
      const blk = at + r * kRowBytes(t, n) + b * bs;
      for (let e = 0; e < 256; e++) {
        const o = r * n + b * 256 + e;
        if (t === 10) {
          // Level at 2g of qs[32·half + l] (byte 16 on); sub-block j = e/16: scale = low nibble of scales[j], min = high.
          const q = (bytes[blk + 16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
          const sm = bytes[blk + (e >> 4)];
          const a = f16Value(u16(blk + 80)) * (sm & 15) * q;
          const c = f16Value(u16(blk + 82)) * (sm >> 4);
          val[o] = a - c;
          mag[o] = Math.abs(a) + Math.abs(c);
        } else if (t === 23) {
          // Sub-block s = e/32: 6-bit scale = nibble s%2 of scales_l[s/2] | bits 2s..2s+1 of scales_h << 4; level =
          // kvalues_iq4nl[nibble] of qs[16s + j%16] (low nibble for j < 16).
          const s = e >> 5;
          const j = e & 31;
          const ls = ((bytes[blk + 4 + (s >> 1)] >> (4 * (s % 2))) & 15) + 16 * ((u16(blk + 2) >> (2 * s)) & 3);
          const byte = bytes[blk + 8 + 16 * s + (j % 16)];
          val[o] = f16Value(u16(blk)) * (ls - 32) * KVALUES_IQ4NL[j < 16 ? byte & 15 : byte >> 4];
          mag[o] = Math.abs(val[o]);
        } else if (t === 11) {
          // Low 2 bits at 2g of qs[32·half + l], high bit at bit e/32 of hmask[l]; scale j = e/16: low nibble of
          // scales[j % 8] (high nibble for j ≥ 8), 2 high bits at 2·(j/4) of scales[8 + j % 4].
          const half = e >> 7;
          const g = (e >> 5) & 3;
          const l = e & 31;
          const j = e >> 4;
          const q = ((bytes[blk + 32 + 32 * half + l] >> (2 * g)) & 3) + 4 * ((bytes[blk + l] >> (e >> 5)) & 1);
          const sLo = j < 8 ? bytes[blk + 96 + j] & 15 : bytes[blk + 96 + j - 8] >> 4;
          const sHi = (bytes[blk + 104 + (j % 4)] >> (2 * (j >> 2))) & 3;
          val[o] = f16Value(u16(blk + 108)) * (sLo + 16 * sHi - 32) * (q - 4);
          mag[o] = Math.abs(val[o]);
        } else if (t === 14) {
          const half = e >> 7;
          const g = (e >> 5) & 3;
          const l = e & 31;
          const low = bytes[blk + 64 * half + l + (g % 2 === 1 ? 32 : 0)];
          const lo4 = g >= 2 ? low >> 4 : low & 15;
          const hi2 = (bytes[blk + 128 + 32 * half + l] >> (2 * g)) & 3;
          const sc = (bytes[blk + 192 + (e >> 4)] << 24) >> 24;
          val[o] = f16Value(u16(blk + 208)) * sc * (lo4 + 16 * hi2 - 32);
          mag[o] = Math.abs(val[o]);
        } else {
          const pair = e >> 6;
          const high = (e >> 5) & 1;
          const qs = t === 13 ? 48 : 16;
          const byte = bytes[blk + qs + 32 * pair + (e & 31)];
          let q = high ? byte >> 4 : byte & 15;
          if (t === 13 && (bytes[blk + 16 + (e & 31)] >> (2 * pair + high)) & 1) q += 16;
          const [sc, m] = scaleMin(bytes, blk + 4, e >> 5);
          const a = f16Value(u16(blk)) * sc * q;
          const c = f16Value(u16(blk + 2)) * m;
          val[o] = a - c;
          mag[o] = Math.abs(a) + Math.abs(c);
        }
      }
    }
  }
  return { val, mag };
}

/**
 * x (f32 [n_tok][n], n % 256 == 0) quantized like ggml's `quantize_row_q8_K_ref`, as exact values: per 256,
 * max = the first value of largest |x|, iscale = f32(−127/max), q = min(127, round_half_even(f32(iscale·x))),
 * d = f32(1/iscale); all zero when max = 0. With `blocks` (n_tok·n/256·292 bytes), also writes the core's
 * scratch layout (ABI.md): { i8 qs[256]; f32 d; i16 bsums[16] } per block.
 */
export function q8kActivations(x: Float32Array, blocks?: Uint8Array): Float64Array {
  const out = new Float64Array(x.length);
  const dv = blocks ? new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength) : undefined;
  const f = Math.fround;
  for (let b = 0; b < x.length; b += 256) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 256; j++) {
      if (Math.abs(x[b + j]) > amax) {
        amax = Math.abs(x[b + j]);
        max = x[b + j];
      }
    }
    const iscale = amax === 0 ? 0 : f(-127 / max);
    const d = amax === 0 ? 0 : f(1 / iscale);
    const at = (b / 256) * 292;
    dv?.setFloat32(at + 256, d, true);
    for (let j = 0; j < 256; j++) {
      const q = Math.min(127, roundHalfEven(f(iscale * x[b + j])));
      out[b + j] = q * d;
      dv?.setInt8(at + j, q);
      if (dv && j % 16 === 15) {
        let s = 0;
        for (let k = j - 15; k <= j; k++) s += dv.getInt8(at + k);
        dv.setInt16(at + 260 + 2 * (j >> 4), s, true);
      }
    }
  }
  return out;
}

/**
 * Random K-quant weights [rows][n]: every byte random except the f16 d/dmin, mostly in [2^-10, 2^-3]
 * (every 16th block's d subnormal). Q6_K's scales then include −128 and 127.
 */
export function kRandomWeights(t: number, rows: number, n: number, seed: number): Uint8Array {
  const next = rng(seed);
  const bytes = new Uint8Array(rows * kRowBytes(t, n));
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  const set16 = (p: number, v: number) => {
    bytes[p] = v & 0xff;
    bytes[p + 1] = v >> 8;
  };
  const scale = (k: number) => (k % 16 === 5 ? next() % 0x400 : 0x1400 + (next() % 0x1c00));
  const bs = BYTES[t];
  for (let b = 0, k = 0; b < bytes.length; b += bs, k++) {
    if (t in D_AT) D_AT[t].forEach((at, i) => set16(b + at, scale(k + i)));
    else {
      set16(b, scale(k));
      set16(b + 2, scale(k + 1));
    }
  }
  return bytes;
}
