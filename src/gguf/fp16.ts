/**
 * Scalar float conversions, bit-exact with ggml (ggml-impl.h): ggml_compute_fp32_to_fp16 (round to nearest even,
 * NaN → 0x7E00 with the sign kept), ggml_compute_fp16_to_fp32, ggml_compute_fp32_to_bf16 (round to nearest even,
 * NaN → quiet NaN), bf16 → fp32.
 */

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

function bitsOf(f: number): number {
  f32buf[0] = f;
  return u32buf[0];
}
function fromBits(b: number): number {
  u32buf[0] = b;
  return f32buf[0];
}

const SCALE_TO_INF = 2 ** 112;
const SCALE_TO_ZERO = 2 ** -110;

/** fp32 → fp16 bits, as ggml_compute_fp32_to_fp16 (the GGML_FP32_TO_FP16 used by the reference quantizers). */
export function fp32ToFp16Bits(f: number): number {
  let base = Math.fround(Math.fround(Math.abs(f) * SCALE_TO_INF) * SCALE_TO_ZERO);
  const w = bitsOf(f);
  const shl1w = (w << 1) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1w & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(fromBits(((bias >>> 1) + 0x07800000) >>> 0) + base);
  const bits = bitsOf(base);
  const expBits = (bits >>> 13) & 0x00007c00;
  const mantissaBits = bits & 0x00000fff;
  const nonsign = expBits + mantissaBits;
  return ((sign >>> 16) | (shl1w > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

/** fp16 bits → fp32 (exact). */
export function fp16BitsToFp32(h: number): number {
  return FP16_TABLE()[h & 0xffff];
}

let fp16Table: Float32Array | undefined;
/** All 65536 fp16 values as fp32 (256 KiB, built on first use). */
function FP16_TABLE(): Float32Array {
  if (fp16Table) return fp16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0) t[h] = sign * man * 2 ** -24;
    else if (exp === 31) t[h] = man ? NaN : sign * Infinity;
    else t[h] = sign * (1024 + man) * 2 ** (exp - 25);
  }
  return (fp16Table = t);
}

/** fp32 → bf16 bits, as ggml_compute_fp32_to_bf16. */
export function fp32ToBf16Bits(f: number): number {
  const u = bitsOf(f);
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return (((u + (0x7fff + ((u >>> 16) & 1))) >>> 0) >>> 16) & 0xffff;
}

/** bf16 bits → fp32 (exact). */
export function bf16BitsToFp32(h: number): number {
  return fromBits(((h & 0xffff) << 16) >>> 0);
}
