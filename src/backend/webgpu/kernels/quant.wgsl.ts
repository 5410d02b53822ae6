/**
 * Dequantization of one chunk of 32 consecutive values of a weight row, per ggml type, into the private
 * array `v` (WGSL). `load32(rowOff, c, n)`: row at byte `rowOff` of `W`, values `[32c, 32c + 32)`, row
 * length `n` (F32/F16/BF16 rows may end inside a chunk: the rest is 0). Layouts are ggml's blocks:
 * Q8_0 {f16 d; i8 q[32]} 34 B; Q4_0 {f16 d; u8 qs[16]} 18 B (value j: low nibble of qs[j], j+16: high);
 * Q4_1 {f16 d, m; qs[16]} 20 B; Q5_0 {f16 d; u8 qh[4]; qs[16]} 22 B; Q5_1 {f16 d, m; qh[4]; qs[16]} 24 B;
 * Q4_K {f16 d, dmin; u8 scales[12]; qs[128]} 144 B; Q5_K {d, dmin, scales[12], qh[32], qs[128]} 176 B;
 * Q6_K {ql[128], qh[64], i8 scales[16], f16 d} 210 B. Values as ggml's dequantize_row_*: f32 products.
 */
import { GgmlType } from '../../../gguf/types.ts';

/** Bytes per 32 values for the 32-blocks, per 256 for the K-quants, per value for the float types. */
export const GPU_WEIGHT_TYPES = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
  GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
] as const;

const KSCALE = `
fn kscale(sb: u32, j: u32) -> vec2<f32> {
  // get_scale_min_k4 over the 12 scale bytes at sb
  if (j < 4u) { return vec2<f32>(f32(Wb(sb + j) & 63u), f32(Wb(sb + j + 4u) & 63u)); }
  let sc = (Wb(sb + j + 4u) & 0xfu) | ((Wb(sb + j - 4u) >> 6u) << 4u);
  let m = (Wb(sb + j + 4u) >> 4u) | ((Wb(sb + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}`;

const BODY: Partial<Record<GgmlType, string>> = {
  [GgmlType.F32]: `
  for (var j = 0u; j < 32u; j++) { let i = c * 32u + j; v[j] = select(0.0, bitcast<f32>(W[(rowOff >> 2u) + i]), i < n); }`,
  [GgmlType.F16]: `
  for (var j = 0u; j < 32u; j++) { let i = c * 32u + j; v[j] = select(0.0, Wf16(rowOff + 2u * i), i < n); }`,
  [GgmlType.BF16]: `
  for (var j = 0u; j < 32u; j++) { let i = c * 32u + j; v[j] = select(0.0, bitcast<f32>(Wh(rowOff + 2u * i) << 16u), i < n); }`,
  [GgmlType.Q8_0]: `
  let o = rowOff + c * 34u; let d = Wf16(o);
  for (var j = 0u; j < 32u; j++) { v[j] = d * f32(sext8(Wb(o + 2u + j))); }`,
  [GgmlType.Q4_0]: `
  let o = rowOff + c * 18u; let d = Wf16(o);
  for (var j = 0u; j < 16u; j++) { let b = Wb(o + 2u + j); v[j] = d * f32(i32(b & 15u) - 8); v[j + 16u] = d * f32(i32(b >> 4u) - 8); }`,
  [GgmlType.Q4_1]: `
  let o = rowOff + c * 20u; let d = Wf16(o); let m = Wf16(o + 2u);
  for (var j = 0u; j < 16u; j++) { let b = Wb(o + 4u + j); v[j] = f32(b & 15u) * d + m; v[j + 16u] = f32(b >> 4u) * d + m; }`,
  [GgmlType.Q5_0]: `
  let o = rowOff + c * 22u; let d = Wf16(o);
  let qh = Wb(o + 2u) | (Wb(o + 3u) << 8u) | (Wb(o + 4u) << 16u) | (Wb(o + 5u) << 24u);
  for (var j = 0u; j < 16u; j++) {
    let b = Wb(o + 6u + j);
    let x0 = (b & 15u) | (((qh >> j) << 4u) & 0x10u);
    let x1 = (b >> 4u) | ((qh >> (j + 12u)) & 0x10u);
    v[j] = f32(i32(x0) - 16) * d; v[j + 16u] = f32(i32(x1) - 16) * d;
  }`,
  [GgmlType.Q5_1]: `
  let o = rowOff + c * 24u; let d = Wf16(o); let m = Wf16(o + 2u);
  let qh = Wb(o + 4u) | (Wb(o + 5u) << 8u) | (Wb(o + 6u) << 16u) | (Wb(o + 7u) << 24u);
  for (var j = 0u; j < 16u; j++) {
    let b = Wb(o + 8u + j);
    let x0 = (b & 15u) | (((qh >> j) << 4u) & 0x10u);
    let x1 = (b >> 4u) | ((qh >> (j + 12u)) & 0x10u);
    v[j] = f32(x0) * d + m; v[j + 16u] = f32(x1) * d + m;
  }`,
  [GgmlType.Q4_K]: `
  let o = rowOff + (c / 8u) * 144u; let sub = c % 8u;
  let d = Wf16(o); let dmin = Wf16(o + 2u);
  let sm = kscale(o + 4u, sub);
  let d1 = d * sm.x; let m1 = dmin * sm.y;
  let q = o + 16u + (sub / 2u) * 32u; let sh = (sub & 1u) * 4u;
  for (var j = 0u; j < 32u; j++) { v[j] = d1 * f32((Wb(q + j) >> sh) & 15u) - m1; }`,
  [GgmlType.Q5_K]: `
  let o = rowOff + (c / 8u) * 176u; let sub = c % 8u;
  let d = Wf16(o); let dmin = Wf16(o + 2u);
  let sm = kscale(o + 4u, sub);
  let d1 = d * sm.x; let m1 = dmin * sm.y;
  let qh = o + 16u; let q = o + 48u + (sub / 2u) * 32u; let sh = (sub & 1u) * 4u;
  for (var j = 0u; j < 32u; j++) {
    let hb = select(0u, 16u, ((Wb(qh + j) >> sub) & 1u) != 0u);
    v[j] = d1 * f32(((Wb(q + j) >> sh) & 15u) + hb) - m1;
  }`,
  [GgmlType.Q6_K]: `
  let o = rowOff + (c / 8u) * 210u; let sub = c % 8u;
  let h = sub / 4u; let p = sub % 4u;
  let d = Wf16(o + 208u);
  let ql = o + h * 64u + (p & 1u) * 32u; let qsh = (p / 2u) * 4u;
  let qh = o + 128u + h * 32u; let hsh = 2u * p;
  let sc = o + 192u + h * 8u + 2u * p;
  for (var j = 0u; j < 32u; j++) {
    let q = i32(((Wb(ql + j) >> qsh) & 15u) | (((Wb(qh + j) >> hsh) & 3u) << 4u)) - 32;
    v[j] = d * f32(sext8(Wb(sc + j / 16u))) * f32(q);
  }`,
};

/** The `load32` function (and `v`) for weights of `type`. */
export function load32(type: GgmlType): string {
  const body = BODY[type];
  if (!body) throw new Error(`webgpu: no dequantizer for ${GgmlType[type]}`);
  const k = type === GgmlType.Q4_K || type === GgmlType.Q5_K ? KSCALE : '';
  return `${k}
var<private> v: array<f32, 32>;
fn load32(rowOff: u32, c: u32, n: u32) {${body}
}`;
}

/**
 * The same dequantization unrolled: `pre` (WGSL statements for chunk `c` of the row at `rowOff`) and `val(j)` (the
 * expression of value j < 32), for kernels that keep the 32 values in scalars (no private array: software drivers
 * turn dynamically indexed private arrays into per-lane gathers). Values are those of `load32`.
 */
export function unrolled(type: GgmlType): { pre: string; val: (j: number) => string; tail: boolean } {
  const nib = (o: string, j: number) => (j < 16 ? `(Wb(${o} + ${j}u) & 15u)` : `(Wb(${o} + ${j - 16}u) >> 4u)`);
  switch (type) {
    case GgmlType.F32: return { pre: 'let o = (rowOff >> 2u) + c * 32u; let lim = n - c * 32u;', val: (j) => `select(0.0, bitcast<f32>(W[o + ${j}u]), ${j}u < lim)`, tail: true };
    case GgmlType.F16: return { pre: 'let o = rowOff + c * 64u; let lim = n - c * 32u;', val: (j) => `select(0.0, Wf16(o + ${2 * j}u), ${j}u < lim)`, tail: true };
    case GgmlType.BF16: return { pre: 'let o = rowOff + c * 64u; let lim = n - c * 32u;', val: (j) => `select(0.0, bitcast<f32>(Wh(o + ${2 * j}u) << 16u), ${j}u < lim)`, tail: true };
    case GgmlType.Q8_0: return { pre: 'let o = rowOff + c * 34u; let d = Wf16(o);', val: (j) => `d * f32(sext8(Wb(o + ${2 + j}u)))`, tail: false };
    case GgmlType.Q4_0: return { pre: 'let o = rowOff + c * 18u + 2u; let d = Wf16(o - 2u);', val: (j) => `d * f32(i32(${nib('o', j)}) - 8)`, tail: false };
    case GgmlType.Q4_1: return { pre: 'let o = rowOff + c * 20u + 4u; let d = Wf16(o - 4u); let m = Wf16(o - 2u);', val: (j) => `f32(${nib('o', j)}) * d + m`, tail: false };
    default: return { pre: 'load32(rowOff, c, n);', val: (j) => `v[${j}]`, tail: false };
  }
}
