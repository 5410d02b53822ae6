/**
 * Q5_K: 256 values in 176 bytes (ggml-common.h block_q5_K):
 *   d (fp16) | dmin (fp16) | scales[12] (as Q4_K) | qh[32] (5th bits) | qs[128] (low 4 bits).
 * Element 64p + l (pair p = 0..3, l < 32): low nibble of qs[32p + l], 5th bit = bit 2p of qh[l];
 * element 64p + 32 + l: high nibble of qs[32p + l], 5th bit = bit 2p+1 of qh[l].
 * Value = d·sc[s]·q − dmin·m[s] for sub-block s (32 values), q in 0..31.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { QK_K, makeQkx2Quants, nearestInt, packScaleMinK4, scaleMinK4 } from './k-common.ts';

export const Q5_K_BYTES = 176;

const f = Math.fround;

/** quantize_row_q5_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 176 bytes). */
export function quantizeRowQ5_K(src: Float32Array, dst: Uint8Array): void {
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q5_K_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[x + 32 * j + l] * src[x + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(src[x + 32 * j + l]));
      [scales[j], mins[j]] = makeQkx2Quants(32, 31, src, x + 32 * j, weights, L, 32 * j, laux, f(-0.5), f(0.1), 15, false);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    for (let j = 0; j < 8; j++) {
      ls[j] = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
      lm[j] = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
    }
    packScaleMinK4(ls, lm, dst, y + 4);
    const dBits = fp32ToFp16Bits(f(maxScale / 63));
    const mBits = fp32ToFp16Bits(f(maxMin / 63));
    dst[y] = dBits & 0xff;
    dst[y + 1] = dBits >> 8;
    dst[y + 2] = mBits & 0xff;
    dst[y + 3] = mBits >> 8;
    const d0 = fp16BitsToFp32(dBits);
    const m0 = fp16BitsToFp32(mBits);
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(j, dst, y + 4);
      const d = f(d0 * sc);
      if (!d) continue;
      const dm = f(m0 * m);
      for (let ii = 0; ii < 32; ii++) {
        L[32 * j + ii] = Math.max(0, Math.min(31, nearestInt(f(f(src[x + 32 * j + ii] + dm) / d))));
      }
    }
    const qh = y + 16;
    const ql = y + 48;
    dst.fill(0, qh, qh + 32);
    for (let p = 0; p < 4; p++) {
      for (let l = 0; l < 32; l++) {
        let l1 = L[64 * p + l];
        let l2 = L[64 * p + 32 + l];
        if (l1 > 15) {
          l1 -= 16;
          dst[qh + l] |= 1 << (2 * p);
        }
        if (l2 > 15) {
          l2 -= 16;
          dst[qh + l] |= 2 << (2 * p);
        }
        dst[ql + 32 * p + l] = l1 | (l2 << 4);
      }
    }
  }
}

/** dequantize_row_q5_K: `src` (n/256 × 176 bytes) → `dst` (n floats). */
export function dequantizeRowQ5_K(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * Q5_K_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    const min = fp16BitsToFp32(src[y + 2] | (src[y + 3] << 8));
    for (let p = 0; p < 4; p++) {
      const [sc1, m1] = scaleMinK4(2 * p, src, y + 4);
      const [sc2, m2] = scaleMinK4(2 * p + 1, src, y + 4);
      const d1 = f(d * sc1);
      const mm1 = f(min * m1);
      const d2 = f(d * sc2);
      const mm2 = f(min * m2);
      const o = i * QK_K + 64 * p;
      for (let l = 0; l < 32; l++) {
        const q = src[y + 48 + 32 * p + l];
        const h = src[y + 16 + l] >> (2 * p);
        dst[o + l] = f(d1 * ((q & 0xf) + (h & 1 ? 16 : 0))) - mm1;
        dst[o + 32 + l] = f(d2 * ((q >> 4) + (h & 2 ? 16 : 0))) - mm2;
      }
    }
  }
}
