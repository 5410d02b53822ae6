/**
 * Q5_K: 256 values in 176 bytes (ggml-common.h block_q5_K):
 *   d (fp16) | dmin (fp16) | scales[12] (as Q4_K) | qh[32] (5th bits) | qs[128] (low 4 bits).
 * Element 64p + l (pair p = 0..3, l < 32): low nibble of qs[32p + l], 5th bit = bit 2p of qh[l];
 * element 64p + 32 + l: high nibble of qs[32p + l], 5th bit = bit 2p+1 of qh[l].
 * Value = d·sc[s]·q − dmin·m[s] for sub-block s (32 values), q in 0..31.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { QK_K, ScaleMinScratch, quantizeScaleMinBlock, scaleMinK4 } from './k-common.ts';

export const Q5_K_BYTES = 176;

const f = Math.fround;

/** quantize_row_q5_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 176 bytes). */
export function quantizeRowQ5_K(src: Float32Array, dst: Uint8Array): void {
  const s = new ScaleMinScratch();
  const L = s.L;
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q5_K_BYTES;
    quantizeScaleMinBlock(src, x, dst, y, 31, f(-0.5), 15, s);
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
