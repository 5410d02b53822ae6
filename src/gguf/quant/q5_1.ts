/**
 * Q5_1: 32 values in 24 bytes, `{ f16 d; f16 m; u8 qh[4]; u8 qs[16] }`; 5-bit codes as in Q5_0;
 * value = code·d + m (f32, as ggml's dequantize_row_q5_1). The quantizer is bit-exact with ggml-quants.c
 * quantize_row_q5_1_ref, including its unclamped `(uint8_t)(x + 0.5f)` (a code that rounds to 32 keeps only
 * its low 5 bits, i.e. 0, as in C).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { minScaleHeader } from './q4_1.ts';
import { readU32, writeU32 } from './q5_0.ts';

const QK = 32;
export const Q5_1_BYTES = 24;
const f32 = Math.fround;

/** quantize_row_q5_1_ref: `src` (n floats, n % 32 == 0) → `dst` (n/32 × 24 bytes). */
export function quantizeRowQ5_1(src: Float32Array, dst: Uint8Array): void {
  for (let i = 0; i < src.length / QK; i++) {
    const x = i * QK;
    const y = i * Q5_1_BYTES;
    const { min, id } = minScaleHeader(src, x, 31, dst, y);
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      const xi0 = Math.trunc(f32(f32(f32(src[x + j] - min) * id) + 0.5)) & 0xff;
      const xi1 = Math.trunc(f32(f32(f32(src[x + QK / 2 + j] - min) * id) + 0.5)) & 0xff;
      dst[y + 8 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + QK / 2);
    }
    writeU32(dst, y + 4, qh);
  }
}

/** dequantize_row_q5_1: `src` (n/32 × 24 bytes) → `dst` (n floats). */
export function dequantizeRowQ5_1(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK; i++) {
    const y = i * Q5_1_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    const m = fp16BitsToFp32(src[y + 2] | (src[y + 3] << 8));
    const qh = readU32(src, y + 4);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[y + 8 + j];
      dst[i * QK + j] = f32(f32(((q & 0x0f) | (((qh >>> j) & 1) << 4)) * d) + m);
      dst[i * QK + j + QK / 2] = f32(f32(((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d) + m);
    }
  }
}
