/**
 * IQ4_NL: 32 values in 18 bytes, `{ f16 d; u8 qs[16] }` (Q4_0's layout); value = IQ4NL_VALUES[nibble]·d,
 * a non-linear grid of 16 int8 levels (ggml-common.h kvalues_iq4nl).
 *
 * Quantizer: ggml-quants.c quantize_row_iq4_nl_impl for one block of 32 without an importance matrix
 * (weights x²), bit-exact (every f32 step rounded with Math.fround, in C's order):
 * - `ntry = 7`: `quantize_iq4_nl(…, quant_weights = NULL)`, what llama-quantize writes (the default here);
 * - `ntry = −1`: `quantize_row_iq4_nl_ref` (no scale search; codes from the first pass).
 * A block with max|x| < 1e-15 gets d = 0; its codes are then the nearest level to 0 (ntry 7) or, as in C, the
 * previous block's codes (ntry −1: C leaves its code buffer as it was; zeros for the first block here).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { GROUP_MAX_EPS, signedAbsMax } from './k-common.ts';

const QK = 32;
export const IQ4_NL_BYTES = 18;
/** kvalues_iq4nl. */
export const IQ4NL_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const f32 = Math.fround;

/** best_index_int8(16, values, x): index of the level nearest to x (ties to the upper one; f32 differences). */
export function bestIndex(x: number): number {
  const v = IQ4NL_VALUES;
  if (x <= v[0]) return 0;
  if (x >= v[15]) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < v[mav]) mu = mav;
    else ml = mav;
  }
  return f32(x - v[mu - 1]) < f32(v[mu] - x) ? mu - 1 : mu;
}

/** Σ w·q·x and Σ w·q² over a block of 32 for the codes nearest to id·x (accumulated in f32, in order). */
export function sums(x: Float32Array, at: number, w: Float32Array, id: number, codes: Uint8Array | null): [number, number] {
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < QK; j++) {
    const l = bestIndex(f32(id * x[at + j]));
    if (codes) codes[j] = l;
    const q = IQ4NL_VALUES[l];
    const wq = f32(w[j] * q);
    sumqx = f32(sumqx + f32(wq * x[at + j]));
    sumq2 = f32(sumq2 + f32(wq * q));
  }
  return [sumqx, sumq2];
}

/**
 * `src` (n floats, n % 32 == 0) → `dst` (n/32 × 18 bytes). `ntry` 7: quantize_iq4_nl without importance
 * matrix (default); −1: quantize_row_iq4_nl_ref.
 */
export function quantizeRowIQ4_NL(src: Float32Array, dst: Uint8Array, ntry = 7): void {
  const w = new Float32Array(QK);
  const L = new Uint8Array(QK);
  const v0 = IQ4NL_VALUES[0];
  for (let i = 0; i < src.length / QK; i++) {
    const x = i * QK;
    for (let j = 0; j < QK; j++) w[j] = f32(src[x + j] * src[x + j]);
    const max = signedAbsMax(src, x, QK);
    let scale = 0;
    if (!(Math.abs(max) < GROUP_MAX_EPS)) {
      let d = ntry > 0 ? f32(-max / v0) : f32(max / v0);
      let [sumqx, sumq2] = sums(src, x, w, f32(1 / d), L);
      d = sumq2 > 0 ? f32(sumqx / sumq2) : 0;
      let best = f32(d * sumqx);
      for (let itry = -ntry; itry <= ntry; itry++) {
        [sumqx, sumq2] = sums(src, x, w, f32((itry + v0) / max), null);
        if (sumq2 > 0 && f32(sumqx * sumqx) > f32(best * sumq2)) {
          d = f32(sumqx / sumq2);
          best = f32(d * sumqx);
        }
      }
      scale = d;
    }
    const y = i * IQ4_NL_BYTES;
    const h = fp32ToFp16Bits(scale);
    dst[y] = h & 0xff;
    dst[y + 1] = h >>> 8;
    if (ntry > 0) {
      const id = scale ? f32(1 / scale) : 0;
      for (let j = 0; j < QK; j++) L[j] = bestIndex(f32(id * src[x + j]));
    }
    for (let j = 0; j < QK / 2; j++) dst[y + 2 + j] = L[j] | (L[j + QK / 2] << 4);
  }
}

/** dequantize_row_iq4_nl: `src` (n/32 × 18 bytes) → `dst` (n floats). */
export function dequantizeRowIQ4_NL(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK; i++) {
    const y = i * IQ4_NL_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    for (let j = 0; j < QK / 2; j++) {
      const q = src[y + 2 + j];
      dst[i * QK + j] = IQ4NL_VALUES[q & 0x0f] * d;
      dst[i * QK + j + QK / 2] = IQ4NL_VALUES[q >> 4] * d;
    }
  }
}
