/**
 * Reference (de)quantizers, bit-exact with ggml's reference C code (ggml-quants.c quantize_row_q8_0_ref,
 * quantize_row_q4_0_ref, dequantize_row_q8_0/q4_0; ggml-impl.h fp16/bf16 conversions). Float32 arithmetic
 * is reproduced with Math.fround at every step where C rounds to float.
 *
 * Block layouts (little-endian):
 *   Q8_0: 32 values in 34 bytes: d (fp16) | qs[32] (int8);            x = qs[j] * d
 *   Q4_0: 32 values in 18 bytes: d (fp16) | qs[16] (two nibbles each); x[j] = ((qs[j] & 15) - 8) * d,
 *                                                                      x[j + 16] = ((qs[j] >> 4) - 8) * d
 * Q4_1, Q5_0, Q5_1, IQ4_NL: one file each in quant/ (layouts and ggml sources there).
 */
import { ggmlByteSize, ggmlTypeName, ggmlTypeTraits } from './ggml-types.ts';
import { dequantizeRowQ4_K, quantizeRowQ4_K } from './quant/q4_k.ts';
import { dequantizeRowQ5_K, quantizeRowQ5_K } from './quant/q5_k.ts';
import { dequantizeRowQ6_K, quantizeRowQ6_K } from './quant/q6_k.ts';
import { dequantizeRowQ3_K, quantizeRowQ3_K } from './quant/q3_k.ts';
import { dequantizeRowQ2_K, quantizeRowQ2_K } from './quant/q2_k.ts';
import { dequantizeRowIQ4_XS, quantizeRowIQ4_XS } from './quant/iq4_xs.ts';
import { bf16BitsToFp32, fp16BitsToFp32, fp32ToBf16Bits, fp32ToFp16Bits } from './fp16.ts';
import { GgmlType } from './types.ts';
import { dequantizeRowIQ4_NL, quantizeRowIQ4_NL } from './quant/iq4_nl.ts';
import { dequantizeRowQ4_1, quantizeRowQ4_1 } from './quant/q4_1.ts';
import { dequantizeRowQ5_0, quantizeRowQ5_0 } from './quant/q5_0.ts';
import { dequantizeRowQ5_1, quantizeRowQ5_1 } from './quant/q5_1.ts';

export { bf16BitsToFp32, fp16BitsToFp32, fp32ToBf16Bits, fp32ToFp16Bits } from './fp16.ts';
export { dequantizeRowIQ4_NL, IQ4NL_VALUES, quantizeRowIQ4_NL } from './quant/iq4_nl.ts';
export { dequantizeRowQ4_1, quantizeRowQ4_1 } from './quant/q4_1.ts';
export { dequantizeRowQ5_0, quantizeRowQ5_0 } from './quant/q5_0.ts';
export { dequantizeRowQ5_1, quantizeRowQ5_1 } from './quant/q5_1.ts';

/** The types quantize/dequantize handle. */
export const REFERENCE_QUANT_TYPES: readonly GgmlType[] = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
  GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL,
  GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, // K-quants: src/gguf/quant/q{4,5,6}_k.ts
  GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.IQ4_XS, // q3_k.ts, q2_k.ts, iq4_xs.ts
];

const QK = 32;

/** C `roundf`: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** quantize_row_q8_0_ref: `src` (n floats, n % 32 == 0) → `dst` (n/32 × 34 bytes). */
export function quantizeRowQ8_0(src: Float32Array, dst: Uint8Array): void {
  const nb = src.length / QK;
  for (let i = 0; i < nb; i++) {
    const x = i * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(src[x + j]);
      if (a > amax) amax = a; // MAX(amax, fabsf(v)); NaN never wins, as in C
    }
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const y = i * 34;
    const h = fp32ToFp16Bits(d);
    dst[y] = h & 0xff;
    dst[y + 1] = h >>> 8;
    for (let j = 0; j < QK; j++) dst[y + 2 + j] = roundf(Math.fround(src[x + j] * id)) & 0xff;
  }
}

/** quantize_row_q4_0_ref: `src` (n floats, n % 32 == 0) → `dst` (n/32 × 18 bytes). */
export function quantizeRowQ4_0(src: Float32Array, dst: Uint8Array): void {
  const nb = src.length / QK;
  for (let i = 0; i < nb; i++) {
    const x = i * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const y = i * 18;
    const h = fp32ToFp16Bits(d);
    dst[y] = h & 0xff;
    dst[y + 1] = h >>> 8;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = Math.fround(src[x + j] * id);
      const x1 = Math.fround(src[x + QK / 2 + j] * id);
      const xi0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5)));
      const xi1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
      dst[y + 2 + j] = xi0 | (xi1 << 4);
    }
  }
}

/** dequantize_row_q8_0: `src` (n/32 × 34 bytes) → `dst` (n floats). */
export function dequantizeRowQ8_0(src: Uint8Array, dst: Float32Array): void {
  const nb = dst.length / QK;
  for (let i = 0; i < nb; i++) {
    const y = i * 34;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    for (let j = 0; j < QK; j++) dst[i * QK + j] = ((src[y + 2 + j] << 24) >> 24) * d;
  }
}

/** dequantize_row_q4_0: `src` (n/32 × 18 bytes) → `dst` (n floats). */
export function dequantizeRowQ4_0(src: Uint8Array, dst: Float32Array): void {
  const nb = dst.length / QK;
  for (let i = 0; i < nb; i++) {
    const y = i * 18;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    for (let j = 0; j < QK / 2; j++) {
      const q = src[y + 2 + j];
      dst[i * QK + j] = ((q & 0x0f) - 8) * d;
      dst[i * QK + j + QK / 2] = ((q >> 4) - 8) * d;
    }
  }
}

function checkShape(type: GgmlType, n: number, nPerRow: number): void {
  const block = ggmlTypeTraits(type)?.blockSize ?? 1;
  if (!Number.isInteger(nPerRow) || nPerRow <= 0 || nPerRow % block !== 0) {
    throw new RangeError(`${ggmlTypeName(type)}: row length ${nPerRow} must be a positive multiple of ${block}`);
  }
  if (n % nPerRow !== 0) throw new RangeError(`${ggmlTypeName(type)}: ${n} values is not a whole number of rows of ${nPerRow}`);
}

/**
 * Quantizes `f32` (rows of `nPerRow` values) to `type` (REFERENCE_QUANT_TYPES) in ggml's byte layout.
 * Throws RangeError for other types or a row length that is not a multiple of the block size.
 */
export function quantize(type: GgmlType, f32: Float32Array, nPerRow: number): Uint8Array {
  checkShape(type, f32.length, nPerRow);
  const out = new Uint8Array(ggmlByteSize(type, f32.length));
  quantizeInto(type, f32, out);
  return out;
}

/** As quantize, into a caller-owned `dst` of exactly ggmlByteSize(type, f32.length) bytes (no allocation). */
export function quantizeInto(type: GgmlType, f32: Float32Array, dst: Uint8Array): void {
  switch (type) {
    case GgmlType.F32:
      dst.set(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength));
      return;
    case GgmlType.F16:
    case GgmlType.BF16: {
      const conv = type === GgmlType.F16 ? fp32ToFp16Bits : fp32ToBf16Bits;
      for (let i = 0; i < f32.length; i++) {
        const h = conv(f32[i]);
        dst[2 * i] = h & 0xff;
        dst[2 * i + 1] = h >>> 8;
      }
      return;
    }
    case GgmlType.Q8_0: return quantizeRowQ8_0(f32, dst);
    case GgmlType.Q4_0: return quantizeRowQ4_0(f32, dst);
    case GgmlType.Q4_1: return quantizeRowQ4_1(f32, dst);
    case GgmlType.Q5_0: return quantizeRowQ5_0(f32, dst);
    case GgmlType.Q5_1: return quantizeRowQ5_1(f32, dst);
    case GgmlType.IQ4_NL: return quantizeRowIQ4_NL(f32, dst);
    case GgmlType.Q4_K: return quantizeRowQ4_K(f32, dst);
    case GgmlType.Q5_K: return quantizeRowQ5_K(f32, dst);
    case GgmlType.Q6_K: return quantizeRowQ6_K(f32, dst);
    case GgmlType.Q3_K: return quantizeRowQ3_K(f32, dst);
    case GgmlType.Q2_K: return quantizeRowQ2_K(f32, dst);
    case GgmlType.IQ4_XS: return quantizeRowIQ4_XS(f32, dst);
    default:
      throw new RangeError(`no reference quantizer for ${ggmlTypeName(type)}`);
  }
}

/** Dequantizes `n` values of `type` from `bytes` (ggml layout) to float32. */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  const need = ggmlByteSize(type, n);
  if (bytes.length < need) throw new RangeError(`${ggmlTypeName(type)}: ${n} values need ${need} bytes, got ${bytes.length}`);
  const out = new Float32Array(n);
  switch (type) {
    case GgmlType.F32:
      out.set(new Float32Array(bytes.slice(0, need).buffer));
      break;
    case GgmlType.F16:
      for (let i = 0; i < n; i++) out[i] = fp16BitsToFp32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      break;
    case GgmlType.BF16:
      for (let i = 0; i < n; i++) out[i] = bf16BitsToFp32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      break;
    case GgmlType.Q8_0: dequantizeRowQ8_0(bytes, out); break;
    case GgmlType.Q4_0: dequantizeRowQ4_0(bytes, out); break;
    case GgmlType.Q4_1: dequantizeRowQ4_1(bytes, out); break;
    case GgmlType.Q5_0: dequantizeRowQ5_0(bytes, out); break;
    case GgmlType.Q5_1: dequantizeRowQ5_1(bytes, out); break;
    case GgmlType.IQ4_NL: dequantizeRowIQ4_NL(bytes, out); break;
    case GgmlType.Q4_K: dequantizeRowQ4_K(bytes, out); break;
    case GgmlType.Q5_K: dequantizeRowQ5_K(bytes, out); break;
    case GgmlType.Q6_K: dequantizeRowQ6_K(bytes, out); break;
    case GgmlType.Q3_K: dequantizeRowQ3_K(bytes, out); break;
    case GgmlType.Q2_K: dequantizeRowQ2_K(bytes, out); break;
    case GgmlType.IQ4_XS: dequantizeRowIQ4_XS(bytes, out); break;
    default:
      throw new RangeError(`no reference dequantizer for ${ggmlTypeName(type)}`);
  }
  return out;
}
