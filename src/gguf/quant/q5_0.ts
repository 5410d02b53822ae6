/**
 * Q5_0: 32 values in 22 bytes, `{ f16 d; u8 qh[4]; u8 qs[16] }`; element j's 5-bit code is
 * `nibble | (bit j of qh (u32, little-endian)) << 4`, nibbles as in Q4_0 (byte j: element j low, j + 16 high);
 * value = (code − 16)·d. The quantizer is bit-exact with ggml-quants.c quantize_row_q5_0_ref.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { signedAbsMax } from './k-common.ts';

const QK = 32;
export const Q5_0_BYTES = 22;
const f32 = Math.fround;

/** quantize_row_q5_0_ref: `src` (n floats, n % 32 == 0) → `dst` (n/32 × 22 bytes). */
export function quantizeRowQ5_0(src: Float32Array, dst: Uint8Array): void {
  for (let i = 0; i < src.length / QK; i++) {
    const x = i * QK;
    const d = f32(signedAbsMax(src, x, QK) / -16);
    const id = d ? f32(1 / d) : 0;
    const y = i * Q5_0_BYTES;
    const h = fp32ToFp16Bits(d);
    dst[y] = h & 0xff;
    dst[y + 1] = h >>> 8;
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      // MIN(31, (int8_t)(x·id + 16.5f)): truncation toward zero.
      const xi0 = Math.min(31, Math.trunc(f32(f32(src[x + j] * id) + 16.5)));
      const xi1 = Math.min(31, Math.trunc(f32(f32(src[x + QK / 2 + j] * id) + 16.5)));
      dst[y + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + QK / 2);
    }
    writeU32(dst, y + 2, qh);
  }
}

/** dequantize_row_q5_0: `src` (n/32 × 22 bytes) → `dst` (n floats). */
export function dequantizeRowQ5_0(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK; i++) {
    const y = i * Q5_0_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    const qh = readU32(src, y + 2);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[y + 6 + j];
      dst[i * QK + j] = (((q & 0x0f) | (((qh >>> j) & 1) << 4)) - 16) * d;
      dst[i * QK + j + QK / 2] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
    }
  }
}

export function writeU32(dst: Uint8Array, at: number, v: number): void {
  dst[at] = v & 0xff;
  dst[at + 1] = (v >>> 8) & 0xff;
  dst[at + 2] = (v >>> 16) & 0xff;
  dst[at + 3] = v >>> 24;
}

export function readU32(src: Uint8Array, at: number): number {
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
}
