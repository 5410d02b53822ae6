/**
 * Float64 references for the quantized kernels (MATMUL, GET_ROWS), written from the ggml block
 * formats, independent of the Rust code: decode bytes to exact values, quantize activations the
 * way llama.cpp's x86 CPU build does, and generate random weights of every core type.
 *
 * Layouts (ggml): Q8_0 = {f16 d; i8 qs[32]} (34 B), Q4_0 = {f16 d; u8 qs[16]} (18 B) with
 * element j in the low nibble of byte j and element j+16 in its high nibble, value (nibble−8)·d.
 * Q4_1 = {f16 d; f16 m; u8 qs[16]} (20 B), value nibble·d + m; Q5_0 = {f16 d; u32 qh; u8 qs[16]} (22 B),
 * code = nibble | (bit j of qh) << 4, value (code−16)·d; Q5_1 = {f16 d; f16 m; u32 qh; u8 qs[16]} (24 B),
 * value code·d + m; IQ4_NL = {f16 d; u8 qs[16]} (18 B), value IQ4NL[nibble]·d.
 */
import { CoreType } from '../../src/backend/wasm/abi.ts';

export type WType = (typeof CoreType)[keyof typeof CoreType];
export const WTYPES: [string, WType][] = [
  ['F32', CoreType.F32],
  ['F16', CoreType.F16],
  ['BF16', CoreType.BF16],
  ['Q8_0', CoreType.Q8_0],
  ['Q4_0', CoreType.Q4_0],
  ['Q4_1', CoreType.Q4_1],
  ['Q5_0', CoreType.Q5_0],
  ['Q5_1', CoreType.Q5_1],
  ['IQ4_NL', CoreType.IQ4_NL],
];

/** Bytes per 32-value block of the Q types. */
const BLOCK_BYTES: Partial<Record<WType, number>> = {
  [CoreType.Q8_0]: 34, [CoreType.Q4_0]: 18, [CoreType.Q4_1]: 20, [CoreType.Q5_0]: 22, [CoreType.Q5_1]: 24, [CoreType.IQ4_NL]: 18,
};
/** ggml's kvalues_iq4nl. */
const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** Q types with a min (value code·d + m): their matmul activations are ggml's Q8_1 (with s = f16(d·Σq)). */
export function hasMin(t: WType): boolean {
  return t === CoreType.Q4_1 || t === CoreType.Q5_1;
}

/** Bytes of a row of n elements. */
export function rowBytes(t: WType, n: number): number {
  switch (t) {
    case CoreType.F32:
      return 4 * n;
    case CoreType.F16:
    case CoreType.BF16:
      return 2 * n;
  }
  const bs = BLOCK_BYTES[t];
  if (bs === undefined) throw new Error(`type ${t}`);
  return (n / 32) * bs;
}

/** Exact value of f16 bits, from the fields. */
export function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round half to even (exact for any double). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** f16 bits of a finite value, round to nearest even (IEEE); overflow → ±inf. */
export function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal (1024 → smallest normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** bf16 bits of an f32 value, round to nearest even (finite inputs). */
export function bf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const hi = u >>> 16;
  const lo = u & 0xffff;
  return (hi + (lo > 0x8000 || (lo === 0x8000 && hi & 1) ? 1 : 0)) & 0xffff;
}
export function bf16Value(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0];
}

/**
 * One block of 32 activations quantized like ggml's x86 `quantize_row_q8_0` (llama.cpp's CPU
 * build here): amax = max|x|, d = amax/127 stored as f16, q = round_half_even(x·(127/amax)),
 * every step in f32. Returns the exact values q·f16(d).
 */
export function quantizeQ8Block(x: ArrayLike<number>, at: number, out: Float64Array, outAt: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]));
  const d = Math.fround(amax / 127);
  const id = amax === 0 ? 0 : Math.fround(127 / amax);
  const dv = f16Value(f16Bits(d));
  for (let j = 0; j < 32; j++) out[outAt + j] = roundHalfEven(Math.fround(x[at + j] * id)) * dv;
}

/**
 * x (f32 [n_tok][n]) as the kernel's dot type sees it: Q8 blocks for Q8_0/Q4_0 weights, f16 for
 * F16, bf16 for BF16, x itself for F32.
 */
export function activationsAs(t: WType, x: Float32Array, n: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (t === CoreType.F16) out[i] = f16Value(f16Bits(x[i]));
    else if (t === CoreType.BF16) out[i] = bf16Value(bf16Bits(x[i]));
    else out[i] = x[i];
  }
  if (BLOCK_BYTES[t] !== undefined) {
    for (let b = 0; b < x.length; b += 32) quantizeQ8Block(x, b, out, b);
  }
  void n;
  return out;
}

/**
 * s of each Q8_1 block of x (f32 [n_tok][n], blocks of 32), as ggml's x86 `quantize_row_q8_1`:
 * f16(d·Σq) with the unrounded f32 d = amax/127 and q as in quantizeQ8Block.
 */
export function q8_1Sums(x: Float32Array): Float64Array {
  const s = new Float64Array(x.length / 32);
  for (let b = 0; b < s.length; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
    const d = Math.fround(amax / 127);
    const id = amax === 0 ? 0 : Math.fround(127 / amax);
    let sum = 0;
    for (let j = 0; j < 32; j++) sum += roundHalfEven(Math.fround(x[32 * b + j] * id));
    s[b] = f16Value(f16Bits(Math.fround(d * sum)));
  }
  return s;
}

/** The f16 min m of each block (`rows` rows of n elements of a type with a min), [rows][n/32]. */
export function blockMins(t: WType, bytes: Uint8Array, at: number, rows: number, n: number): Float64Array {
  const out = new Float64Array((rows * n) / 32);
  const bs = BLOCK_BYTES[t]!;
  for (let b = 0; b < out.length; b++) out[b] = f16Value(bytes[at + b * bs + 2] | (bytes[at + b * bs + 3] << 8));
  return out;
}

/**
 * Exact values of `rows` rows of n elements of type t starting at byte `at` of `bytes`;
 * with `withoutMin`, Q4_1/Q5_1 values without their block's m (code·d).
 */
export function dequantRows(t: WType, bytes: Uint8Array, at: number, rows: number, n: number, withoutMin = false): Float64Array {
  const out = new Float64Array(rows * n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number) => dv.getUint16(p, true);
  for (let r = 0; r < rows; r++) {
    const base = at + r * rowBytes(t, n);
    for (let i = 0; i < n; i++) {
      let v: number;
      switch (t) {
        case CoreType.F32:
          v = dv.getFloat32(base + 4 * i, true);
          break;
        case CoreType.F16:
          v = f16Value(u16(base + 2 * i));
          break;
        case CoreType.BF16:
          v = bf16Value(u16(base + 2 * i));
          break;
        case CoreType.Q8_0: {
          const blk = base + Math.floor(i / 32) * 34;
          v = dv.getInt8(blk + 2 + (i % 32)) * f16Value(u16(blk));
          break;
        }
        case CoreType.Q4_0: {
          const blk = base + Math.floor(i / 32) * 18;
          const j = i % 32;
          const byte = bytes[blk + 2 + (j % 16)];
          v = ((j < 16 ? byte & 15 : byte >> 4) - 8) * f16Value(u16(blk));
          break;
        }
        default: {
          const blk = base + Math.floor(i / 32) * BLOCK_BYTES[t]!;
          const j = i % 32;
          const [qs, qh] = t === CoreType.Q4_1 ? [4, -1] : t === CoreType.Q5_0 ? [6, 2] : t === CoreType.Q5_1 ? [8, 4] : [2, -1];
          const byte = bytes[blk + qs + (j % 16)];
          let c = j < 16 ? byte & 15 : byte >> 4;
          if (qh >= 0) c += 16 * ((bytes[blk + qh + (j >> 3)] >> (j & 7)) & 1);
          const d = f16Value(u16(blk));
          if (t === CoreType.Q5_0) v = (c - 16) * d;
          else if (t === CoreType.IQ4_NL) v = IQ4NL[c] * d;
          else v = c * d + (withoutMin ? 0 : f16Value(u16(blk + 2)));
        }
      }
      out[r * n + i] = v;
    }
  }
  return out;
}

/** Deterministic 32-bit generator (xorshift32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/**
 * Random weights [rows][n] of type t. Q types: random qs bytes (Q8_0 includes −128), f16 scales
 * mostly in [2^-10, 2^-3], every 16th block subnormal. F16: finite values of magnitude < 8.
 */
export function randomWeights(t: WType, rows: number, n: number, seed: number): Uint8Array {
  const next = rng(seed);
  const bytes = new Uint8Array(rows * rowBytes(t, n));
  const dv = new DataView(bytes.buffer);
  const scale = (k: number) => (k % 16 === 5 ? next() % 0x400 : 0x1400 + (next() % 0x1c00));
  switch (t) {
    case CoreType.F32:
      for (let i = 0; i < rows * n; i++) dv.setFloat32(4 * i, (next() / 2 ** 32) * 2 - 1, true);
      break;
    case CoreType.F16:
      for (let i = 0; i < rows * n; i++) dv.setUint16(2 * i, (next() % 0x4800) | (next() & 0x8000), true);
      break;
    case CoreType.BF16:
      for (let i = 0; i < rows * n; i++) dv.setUint16(2 * i, bf16Bits((next() / 2 ** 32) * 4 - 2), true);
      break;
    default: {
      // Q4_1/Q5_1: m is a random f16 of either sign, magnitude in about [2^-14, 2^1].
      const bs = BLOCK_BYTES[t]!;
      for (let b = 0, k = 0; b < bytes.length; b += bs, k++) {
        dv.setUint16(b, scale(k), true);
        for (let j = 2; j < bs; j++) bytes[b + j] = next() & 0xff;
        if (hasMin(t)) dv.setUint16(b + 2, (0x0400 + (next() % 0x3c00)) | (next() & 0x8000), true);
      }
    }
  }
  return bytes;
}
