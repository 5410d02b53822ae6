/**
 * Q2_K: 256 values in 84 bytes (ggml-common.h block_q2_K):
 *   scales[16] (low nibble: 4-bit scale, high nibble: 4-bit min, per 16 values) | qs[64] (2-bit levels) |
 *   d (fp16) | dmin (fp16).
 * Element e: level q = `qs[32·(e/128) + e%32] >> 2·((e%128)/32) & 3` (Q3_K's low-bit layout); sub-block s = e/16:
 * value = d·(scales[s] & 15)·q − dmin·(scales[s] >> 4).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { QK_K, makeQkx2Quants, nearestInt } from './k-common.ts';
import { pack2Bits } from './q3_k.ts';

export const Q2_K_BYTES = 84;

const f = Math.fround;

/** quantize_row_q2_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 84 bytes). */
export function quantizeRowQ2_K(src: Float32Array, dst: Uint8Array): void {
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q2_K_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x + 16 * j + l]);
      [scales[j], mins[j]] = makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, laux, f(-0.5), f(0.1), 15, true);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    let dBits = 0;
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[y + j] = nearestInt(f(iscale * scales[j])) & 0xff;
      dBits = fp32ToFp16Bits(f(maxScale / 15));
    } else {
      dst.fill(0, y, y + 16);
    }
    let mBits = 0;
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[y + j] |= (nearestInt(f(iscale * mins[j])) << 4) & 0xff;
      mBits = fp32ToFp16Bits(f(maxMin / 15));
    }
    dst[y + 80] = dBits & 0xff;
    dst[y + 81] = dBits >> 8;
    dst[y + 82] = mBits & 0xff;
    dst[y + 83] = mBits >> 8;
    const d0 = fp16BitsToFp32(dBits);
    const m0 = fp16BitsToFp32(mBits);
    for (let j = 0; j < 16; j++) {
      const d = f(d0 * (dst[y + j] & 0xf));
      if (!d) continue;
      const dm = f(m0 * (dst[y + j] >> 4));
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = Math.max(0, Math.min(3, nearestInt(f(f(src[x + 16 * j + ii] + dm) / d))));
      }
    }
    pack2Bits(L, dst, y + 16);
  }
}

/** dequantize_row_q2_K: `src` (n/256 × 84 bytes) → `dst` (n floats). */
export function dequantizeRowQ2_K(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * Q2_K_BYTES;
    const d = fp16BitsToFp32(src[y + 80] | (src[y + 81] << 8));
    const min = fp16BitsToFp32(src[y + 82] | (src[y + 83] << 8));
    for (let e = 0; e < QK_K; e++) {
      const q = (src[y + 16 + 32 * (e >> 7) + (e % 32)] >> (2 * ((e % 128) >> 5))) & 3;
      const sc = src[y + (e >> 4)];
      dst[i * QK_K + e] = f(f(f(d * (sc & 0xf)) * q) - f(min * (sc >> 4)));
    }
  }
}
