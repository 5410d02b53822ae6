/**
 * Q4_K: 256 values in 144 bytes (ggml-common.h block_q4_K):
 *   d (fp16) | dmin (fp16) | scales[12] (8 six-bit scales and 8 six-bit mins, packed as in get_scale_min_k4) |
 *   qs[128] (4-bit levels).
 * Sub-block s (32 values, s = 0..7) has scale d·sc[s] and min dmin·m[s]; value = d·sc[s]·q − dmin·m[s].
 * Byte qs[32·p + l] (pair p = 0..3) holds element 64p + l in its low nibble and 64p + 32 + l in its high nibble.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { QK_K, ScaleMinScratch, quantizeScaleMinBlock, scaleMinK4 } from './k-common.ts';

export const Q4_K_BYTES = 144;

const f = Math.fround;

/** quantize_row_q4_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 144 bytes). */
export function quantizeRowQ4_K(src: Float32Array, dst: Uint8Array): void {
  const s = new ScaleMinScratch();
  const L = s.L;
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q4_K_BYTES;
    quantizeScaleMinBlock(src, x, dst, y, 15, -1, 20, s);
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
