/**
 * Q4_1: 32 values in 20 bytes, `{ f16 d; f16 m; u8 qs[16] }`; byte j holds element j in its low nibble and
 * element j + 16 in its high nibble; value = nibble·d + m (f32, as ggml's dequantize_row_q4_1).
 * The quantizer is bit-exact with ggml-quants.c quantize_row_q4_1_ref (every f32 step rounded with Math.fround).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';

const QK = 32;
export const Q4_1_BYTES = 20;
const f32 = Math.fround;

/**
 * The part quantize_row_q4_1_ref and q5_1_ref share: the block's min and max, d = (max − min)/levels and
 * m = min stored as fp16 at dst[y..y+4]; returns min and 1/d (0 for a constant block) for the codes.
 */
export function minScaleHeader(src: Float32Array, x: number, levels: number, dst: Uint8Array, y: number): { min: number; id: number } {
  let min = 3.4028234663852886e38;
  let max = -3.4028234663852886e38;
  for (let j = 0; j < QK; j++) {
    const v = src[x + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f32(f32(max - min) / levels);
  const hd = fp32ToFp16Bits(d);
  const hm = fp32ToFp16Bits(min);
  dst[y] = hd & 0xff;
  dst[y + 1] = hd >>> 8;
  dst[y + 2] = hm & 0xff;
  dst[y + 3] = hm >>> 8;
  return { min, id: d ? f32(1 / d) : 0 };
}

/** quantize_row_q4_1_ref: `src` (n floats, n % 32 == 0) → `dst` (n/32 × 20 bytes). */
export function quantizeRowQ4_1(src: Float32Array, dst: Uint8Array): void {
  for (let i = 0; i < src.length / QK; i++) {
    const x = i * QK;
    const y = i * Q4_1_BYTES;
    const { min, id } = minScaleHeader(src, x, 15, dst, y);
    for (let j = 0; j < QK / 2; j++) {
      // MIN(15, (int8_t)(x0 + 0.5f)): truncation toward zero (x0 ≥ 0 here).
      const xi0 = Math.min(15, Math.trunc(f32(f32(f32(src[x + j] - min) * id) + 0.5)));
      const xi1 = Math.min(15, Math.trunc(f32(f32(f32(src[x + QK / 2 + j] - min) * id) + 0.5)));
      dst[y + 4 + j] = xi0 | (xi1 << 4);
    }
  }
}

/** dequantize_row_q4_1: `src` (n/32 × 20 bytes) → `dst` (n floats). */
export function dequantizeRowQ4_1(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK; i++) {
    const y = i * Q4_1_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    const m = fp16BitsToFp32(src[y + 2] | (src[y + 3] << 8));
    for (let j = 0; j < QK / 2; j++) {
      const q = src[y + 4 + j];
      dst[i * QK + j] = f32(f32((q & 0x0f) * d) + m);
      dst[i * QK + j + QK / 2] = f32(f32((q >> 4) * d) + m);
    }
  }
}
