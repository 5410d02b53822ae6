/** Small valid GGUF specs used by the round-trip, malformed and fuzz tests. */
import { GgmlType, type GgufValue, GgufValueType as T, gv } from '../../src/gguf/types.ts';
import type { GgufWriteSpec } from '../../src/gguf/writer.ts';

/** One value of every scalar type, arrays of every type, nested arrays, empty strings, unicode keys. */
export function allTypesMetadata(): Record<string, GgufValue> {
  return {
    'general.architecture': gv.str('llama'),
    'v.u8': gv.u8(255), 'v.i8': gv.i8(-128), 'v.u16': gv.u16(65535), 'v.i16': gv.i16(-32768),
    'v.u32': gv.u32(4294967295), 'v.i32': gv.i32(-2147483648), 'v.f32': gv.f32(-1.5), 'v.bool.t': gv.bool(true),
    'v.bool.f': gv.bool(false), 'v.str': gv.str('héllo wörld ✓ 🦙'), 'v.str.empty': gv.str(''),
    'v.str.bom': gv.str('\uFEFF'), 'v.str.bom2': gv.str('\uFEFF long enough to skip the short-ASCII path ✓'),
    'v.u64': gv.u64(2n ** 64n - 1n), 'v.u64.small': gv.u64(123456789), 'v.i64': gv.i64(-(2n ** 63n)), 'v.i64.small': gv.i64(-42),
    'v.f64': gv.f64(Math.PI),
    'a.u8': gv.arr(T.UINT8, [0, 1, 255]), 'a.i8': gv.arr(T.INT8, [-128, 0, 127]),
    'a.u16': gv.arr(T.UINT16, [0, 65535]), 'a.i16': gv.arr(T.INT16, [-32768, 32767]),
    'a.u32': gv.arr(T.UINT32, Uint32Array.from([0, 4294967295])), 'a.i32': gv.arr(T.INT32, [-5, 5]),
    'a.f32': gv.arr(T.FLOAT32, new Float32Array([0.5, -2.25, 1e30])), 'a.bool': gv.arr(T.BOOL, [true, false, true]),
    'a.str': gv.arr(T.STRING, ['a', '', 'ünïcødé', '<0x0A>', '\uFEFF']), 'a.u64': gv.arr(T.UINT64, [0, 2n ** 60n]),
    'a.i64': gv.arr(T.INT64, [-1, -(2n ** 62n)]), 'a.f64': gv.arr(T.FLOAT64, [1e-300, -0]),
    'a.empty': gv.arr(T.UINT32, []),
    'a.nested': gv.arr(T.ARRAY, [gv.arr(T.INT32, [1, 2]), gv.arr(T.STRING, ['x']), gv.arr(T.ARRAY, [gv.arr(T.BOOL, [true])])]),
    'ключ.日本語': gv.str('unicode key'),
    '': gv.str('empty key'),
  };
}

/** Deterministic bytes. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** A few tensors of assorted types and shapes (sizes not multiples of the alignment, to exercise padding). */
export function sampleTensors(): GgufWriteSpec['tensors'] {
  return [
    { name: 'token_embd.weight', type: GgmlType.F32, dims: [3, 5], data: pattern(60, 1) },
    { name: 'blk.0.attn_q.weight', type: GgmlType.Q8_0, dims: [64, 3], data: pattern(6 * 34, 2) },
    { name: 'blk.0.ffn_up.weight', type: GgmlType.Q4_0, dims: [32, 2, 1, 3], data: pattern(6 * 18, 3) },
    { name: 'norm', type: GgmlType.F16, dims: [7], data: pattern(14, 4) },
    { name: 'k', type: GgmlType.Q4_K, dims: [256, 1], data: pattern(144, 5) },
  ];
}

/** Several small valid files: the seeds of the fuzz test. */
export function seedSpecs(): GgufWriteSpec[] {
  return [
    { metadata: allTypesMetadata(), tensors: sampleTensors() },
    { version: 2, alignment: 64, metadata: { 'general.architecture': gv.str('x'), 'n': gv.u32(7) }, tensors: sampleTensors().slice(0, 2) },
    { metadata: { 'a.nested': allTypesMetadata()['a.nested'], 's': gv.arr(T.STRING, ['p', 'q', 'r']) }, tensors: [] },
    { alignment: 16, metadata: {}, tensors: sampleTensors().slice(2) },
  ];
}
