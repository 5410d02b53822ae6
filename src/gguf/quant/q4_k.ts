/**
 * Q4_K: 256 values in 144 bytes (ggml-common.h block_q4_K):
 *   d (fp16) | dmin (fp16) | scales[12] (8 six-bit scales and 8 six-bit mins, packed as in get_scale_min_k4) |
 *   qs[128] (4-bit levels).
 * Sub-block s (32 values, s = 0..7) has scale d·sc[s] and min dmin·m[s]; value = d·sc[s]·q − dmin·m[s].
 * Byte qs[32·p + l] (pair p = 0..3) holds element 64p + l in its low nibble and 64p + 32 + l in its high nibble.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { QK_K, makeQkx2Quants, nearestInt, packScaleMinK4, scaleMinK4 } from './k-common.ts';

export const Q4_K_BYTES = 144;

const f = Math.fround;

/** quantize_row_q4_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 144 bytes). */
export function quantizeRowQ4_K(src: Float32Array, dst: Uint8Array): void {
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q4_K_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[x + 32 * j + l] * src[x + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(src[x + 32 * j + l]));
      [scales[j], mins[j]] = makeQkx2Quants(32, 15, src, x + 32 * j, weights, L, 32 * j, laux, -1, f(0.1), 20, false);
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
        L[32 * j + ii] = Math.max(0, Math.min(15, nearestInt(f(f(src[x + 32 * j + ii] + dm) / d))));
      }
    }
    for (let p = 0; p < 4; p++) {
      for (let l = 0; l < 32; l++) dst[y + 16 + 32 * p + l] = L[64 * p + l] | (L[64 * p + 32 + l] << 4);
    }
  }
}

/** dequantize_row_q4_K: `src` (n/256 × 144 bytes) → `dst` (n floats). */
export function dequantizeRowQ4_K(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * Q4_K_BYTES;
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
        const q = src[y + 16 + 32 * p + l];
        dst[o + l] = f(d1 * (q & 0xf)) - mm1;
        dst[o + 32 + l] = f(d2 * (q >> 4)) - mm2;
      }
    }
  }
}
