/**
 * Q6_K: 256 values in 210 bytes (ggml-common.h block_q6_K):
 *   ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] (int8) | d (fp16).
 * Half h (128 values, h = 0..1), l < 32, with ql' = ql + 64h, qh' = qh + 32h:
 *   element 128h + l      : ql'[l] & 15      | (qh'[l] >> 0 & 3) << 4
 *   element 128h + 32 + l : ql'[l + 32] & 15 | (qh'[l] >> 2 & 3) << 4
 *   element 128h + 64 + l : ql'[l] >> 4      | (qh'[l] >> 4 & 3) << 4
 *   element 128h + 96 + l : ql'[l + 32] >> 4 | (qh'[l] >> 6 & 3) << 4
 * value = d·scales[e/16]·(q − 32), q in 0..63.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { GROUP_MAX_EPS, QK_K, makeQxQuants, nearestInt } from './k-common.ts';

export const Q6_K_BYTES = 210;

const f = Math.fround;

/** quantize_row_q6_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 210 bytes). */
export function quantizeRowQ6_K(src: Float32Array, dst: Uint8Array): void {
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q6_K_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
      const a = Math.abs(scales[ib]);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scales[ib];
      }
    }
    dst.fill(0, y, y + Q6_K_BYTES);
    if (maxAbsScale < GROUP_MAX_EPS) continue;
    const iscale = f(-128 / maxScale);
    const dBits = fp32ToFp16Bits(f(1 / iscale));
    dst[y + 208] = dBits & 0xff;
    dst[y + 209] = dBits >> 8;
    const d0 = fp16BitsToFp32(dBits);
    for (let ib = 0; ib < 16; ib++) dst[y + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const d = f(d0 * ((dst[y + 192 + j] << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(src[x + 16 * j + ii] / d)))) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = y + 64 * h;
      const qh = y + 128 + 32 * h;
      const e = 128 * h;
      for (let l = 0; l < 32; l++) {
        const [q1, q2, q3, q4] = [L[e + l], L[e + l + 32], L[e + l + 64], L[e + l + 96]];
        dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}

/** dequantize_row_q6_K: `src` (n/256 × 210 bytes) → `dst` (n floats). */
export function dequantizeRowQ6_K(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * Q6_K_BYTES;
    const d = fp16BitsToFp32(src[y + 208] | (src[y + 209] << 8));
    for (let h = 0; h < 2; h++) {
      const ql = y + 64 * h;
      const qh = y + 128 + 32 * h;
      const sc = y + 192 + 8 * h;
      const o = i * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const s = (k: number): number => (src[sc + is + k] << 24) >> 24;
        const q1 = ((src[ql + l] & 0xf) | (((src[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((src[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((src[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((src[qh + l] >> 6) & 3) << 4)) - 32;
        dst[o + l] = f(d * s(0)) * q1;
        dst[o + l + 32] = f(d * s(2)) * q2;
        dst[o + l + 64] = f(d * s(4)) * q3;
        dst[o + l + 96] = f(d * s(6)) * q4;
      }
    }
  }
}
