/**
 * WGSL shared by every kernel. Bindings (every pipeline; see ../pipelines.ts):
 * - 0: `P` uniform, 32 u32 op parameters (a 256-byte slot of the per-compute parameter buffer, dynamic offset);
 * - 1: `A` the activation arena, u32 words (f32 values as bits, so i32 token ids are never read as f32
 *   denormals and flushed);
 * - 2: `W` a weight buffer or KV page pool (bytes, read through `wb`/`wh`), or a dummy;
 * - 3: `V` the V page pool (attention only).
 * `f16` selects the variant that rounds to f16 with the `shader-f16` type (attention's and GELU's f16 roundings);
 * without it the same values come from `pack2x16float`/`unpack2x16float` (core WGSL). f16 storage is read and
 * written with those in both variants (naga rejects `bitcast<vec2<f16>>(u32)` swizzles).
 */
export interface ShaderCaps {
  f16: boolean;
}

export function header(caps: ShaderCaps, w: 'none' | 'read' | 'read_write', v = false): string {
  return `${caps.f16 ? 'enable f16;\n' : ''}
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 8>;
@group(0) @binding(1) var<storage, read_write> A: array<u32>;
${w === 'none' ? '' : `@group(0) @binding(2) var<storage, ${w}> W: array<u32>;`}
${v ? '@group(0) @binding(3) var<storage, read> V: array<u32>;' : ''}
fn pu(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn af(i: u32) -> f32 { return bitcast<f32>(A[i]); }
fn aset(i: u32, v: f32) { A[i] = bitcast<u32>(v); }
fn h2f(h: u32) -> f32 { return unpack2x16float(h).x; }
fn f2h(x: f32) -> u32 { return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu; }
${caps.f16
    ? 'fn f16r(x: f32) -> f32 { return f32(f16(x)); }'
    : 'fn f16r(x: f32) -> f32 { return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x; }'}
fn sext8(b: u32) -> i32 { return i32(b << 24u) >> 24u; }
/** tanh without overflow (GL drivers may evaluate tanh as a ratio of exponentials). */
fn tanh_s(x: f32) -> f32 { let t = exp(-2.0 * abs(x)); return sign(x) * (1.0 - t) / (1.0 + t); }
`;
}

/** Byte readers over a u32 binding `B` (W or V): bytes, little-endian u16, f16 as f32. */
export function byteReaders(B: 'W' | 'V'): string {
  return `
fn ${B}b(b: u32) -> u32 { return (${B}[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn ${B}h(b: u32) -> u32 {
  let s = b & 3u;
  if (s == 0u) { return ${B}[b >> 2u] & 0xffffu; }
  if (s == 2u) { return ${B}[b >> 2u] >> 16u; }
  return ${B}b(b) | (${B}b(b + 1u) << 8u);
}
fn ${B}f16(b: u32) -> f32 { return h2f(${B}h(b)); }
`;
}

/** Grid-stride index helpers: flat index of a thread from a 2-D dispatch of 64-wide workgroups. */
export const GRID = `
fn gidx(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * 64u + lid; }
fn gsize(nwg: vec3<u32>) -> u32 { return nwg.x * nwg.y * 64u; }
`;
