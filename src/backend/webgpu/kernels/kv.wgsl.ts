/**
 * KV_STORE and ATTENTION over KV pages laid out as the WASM backend's (wasm/ABI.md KV_STORE/ATTENTION): token at
 * position p goes to page `table[p / page_size]`, slot `p % page_size`, byte `slot · row_bytes` of the page,
 * a row of `n_head_kv · head_dim` values in F32, F16 or ggml's Q8_0/Q4_0 blocks. Page handles (u32, from
 * WebGpuBackend.allocPages) are `pool << 20 | index`: the page is `index · page_bytes` bytes into its pool
 * buffer (one buffer per allocPages call, bound as W for K and V for V).
 *
 * KV_STORE params: 0 src (f32 [n_tok][row_len] in A), 1 n_tok, 2 row_len, 3 pos, 4 table (u32 in A),
 * 5 page_size, 6 page_bytes, 7 row_bytes. F32: a thread per value; F16: per pair; Q8_0/Q4_0: per row
 * (quantize_row_q8_0_ref / quantize_row_q4_0_ref; rows of a multiple of 4 bytes, so no word is shared).
 *
 * ATTENTION params: 0 q, 1 out, 2 n_tok, 3 q_pos, 4 n_kv, 5 n_head, 6 n_head_kv, 7 head_dim (≤ 256),
 * 8 k table, 9 v table, 10 page_size, 11 k page bytes, 12 v page bytes, 13 k row bytes, 14 v row bytes,
 * 15 window, 16 scale, 17 softcap, 18 flags (bit 0: ggml's f16 rounding of q and of the softmax weights).
 * One 64-thread workgroup per (token, head): pass 1 each thread keeps a running max and sum over its keys,
 * combined in shared memory; pass 2 recomputes the scores and sums softmax-weighted V rows (weights rounded
 * to f16 with flag bit 0, as llama.cpp's non-flash path); the 64 partial outputs are summed 16 dims at a time.
 */
import { GgmlType } from '../../../gguf/types.ts';
import { byteReaders, GRID, header, type ShaderCaps } from './common.wgsl.ts';

export const KV_TYPES = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0] as const;

/** Bytes of a KV row of `n` values. */
export function kvRowBytesOf(type: GgmlType, n: number): number {
  switch (type) {
    case GgmlType.F32: return 4 * n;
    case GgmlType.F16: return 2 * n;
    case GgmlType.Q8_0: return (n / 32) * 34;
    case GgmlType.Q4_0: return (n / 32) * 18;
    default: throw new Error(`webgpu: KV type ${GgmlType[type]} not supported`);
  }
}

const ADDR = `
fn rowAddr(table: u32, p: u32, ps: u32, pageBytes: u32, rowBytes: u32) -> u32 {
  return (A[table + p / ps] & 0xfffffu) * pageBytes + (p % ps) * rowBytes;
}`;

export function kvStoreShader(caps: ShaderCaps, type: GgmlType): string {
  const quant = type === GgmlType.Q8_0 || type === GgmlType.Q4_0;
  // put(byte): appends one byte to the row, flushing whole words
  const put = `
fn put(word: ptr<function, u32>, nb: ptr<function, u32>, wi: ptr<function, u32>, byte: u32) {
  *word = *word | ((byte & 0xffu) << (8u * *nb));
  *nb = *nb + 1u;
  if (*nb == 4u) { W[*wi] = *word; *wi = *wi + 1u; *word = 0u; *nb = 0u; }
}`;
  const pre = `${header(caps, 'read_write')}${GRID}${ADDR}${quant ? put : ''}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let src = pu(0u); let nTok = pu(1u); let rowLen = pu(2u); let pos = pu(3u); let table = pu(4u);
  let ps = pu(5u); let pageBytes = pu(6u); let rowBytes = pu(7u);`;
  const perRow = (body: string) => `${pre}
  for (var t = gidx(wid, nwg, lid3.x); t < nTok; t += gsize(nwg)) {
    let base = rowAddr(table, u32(bitcast<i32>(A[pos + t])), ps, pageBytes, rowBytes) >> 2u;
    let x0 = src + t * rowLen;
    var word = 0u; var nb = 0u; var wi = base;
    for (var b = 0u; b < rowLen / 32u; b++) {${body}
    }
  }
}`;
  switch (type) {
    case GgmlType.F32:
      return `${pre}
  for (var k = gidx(wid, nwg, lid3.x); k < nTok * rowLen; k += gsize(nwg)) {
    let t = k / rowLen; let i = k % rowLen;
    let base = rowAddr(table, u32(bitcast<i32>(A[pos + t])), ps, pageBytes, rowBytes) >> 2u;
    W[base + i] = A[src + k];
  }
}`;
    case GgmlType.F16:
      return `${pre}
  let half = rowLen / 2u;
  for (var k = gidx(wid, nwg, lid3.x); k < nTok * half; k += gsize(nwg)) {
    let t = k / half; let i = k % half;
    let base = rowAddr(table, u32(bitcast<i32>(A[pos + t])), ps, pageBytes, rowBytes) >> 2u;
    W[base + i] = f2h(af(src + t * rowLen + 2u * i)) | (f2h(af(src + t * rowLen + 2u * i + 1u)) << 16u);
  }
}`;
    case GgmlType.Q8_0:
      return `${perRow(`
      var amax = 0.0;
      for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(af(x0 + b * 32u + j))); }
      let d = amax / 127.0;
      var id = 0.0; if (d != 0.0) { id = 1.0 / d; }
      let dh = f2h(d);
      put(&word, &nb, &wi, dh); put(&word, &nb, &wi, dh >> 8u);
      for (var j = 0u; j < 32u; j++) {
        let x = af(x0 + b * 32u + j) * id;
        let q = i32(sign(x) * floor(abs(x) + 0.5)); // roundf: half away from zero
        put(&word, &nb, &wi, u32(q));
      }`)}`;
    case GgmlType.Q4_0:
      return `${perRow(`
      var amax = 0.0; var mx = 0.0;
      for (var j = 0u; j < 32u; j++) { let x = af(x0 + b * 32u + j); if (amax < abs(x)) { amax = abs(x); mx = x; } }
      let d = mx / -8.0;
      var id = 0.0; if (d != 0.0) { id = 1.0 / d; }
      let dh = f2h(d);
      put(&word, &nb, &wi, dh); put(&word, &nb, &wi, dh >> 8u);
      for (var j = 0u; j < 16u; j++) {
        let q0 = min(15, i32(trunc(af(x0 + b * 32u + j) * id + 8.5)));
        let q1 = min(15, i32(trunc(af(x0 + b * 32u + j + 16u) * id + 8.5)));
        put(&word, &nb, &wi, u32(q0) | (u32(q1) << 4u));
      }`)}`;
    default:
      throw new Error(`webgpu: KV type ${GgmlType[type]} not supported`);
  }
}

/** Element `i` of a KV row at byte `row` of pool B (W or V) of `type`. */
function kvElem(B: 'W' | 'V', type: GgmlType): string {
  switch (type) {
    case GgmlType.F32: return `fn ${B}e(row: u32, i: u32) -> f32 { return bitcast<f32>(${B}[(row >> 2u) + i]); }`;
    case GgmlType.F16: return `fn ${B}e(row: u32, i: u32) -> f32 { return ${B}f16(row + 2u * i); }`;
    case GgmlType.Q8_0: return `fn ${B}e(row: u32, i: u32) -> f32 { let o = row + (i / 32u) * 34u; return ${B}f16(o) * f32(sext8(${B}b(o + 2u + i % 32u))); }`;
    case GgmlType.Q4_0:
      return `fn ${B}e(row: u32, i: u32) -> f32 { let o = row + (i / 32u) * 18u; let j = i % 32u;
  let q = (${B}b(o + 2u + j % 16u) >> (4u * (j / 16u))) & 15u; return ${B}f16(o) * f32(i32(q) - 8); }`;
    default: throw new Error(`webgpu: KV type ${GgmlType[type]} not supported`);
  }
}

export function attentionShader(caps: ShaderCaps, kType: GgmlType, vType: GgmlType): string {
  return `${header(caps, 'read', true)}${byteReaders('W')}${byteReaders('V')}${ADDR}
${kvElem('W', kType)}
${kvElem('V', vType)}
var<workgroup> sm: array<f32, 64>;
var<workgroup> sl: array<f32, 64>;
var<workgroup> sh: array<f32, 2048>; // two halves of [64][16], alternating by chunk (see norm.wgsl.ts)
var<private> qv: array<f32, 256>;
var<private> acc: array<f32, 256>;
fn score(j: u32, kTab: u32, ps: u32, kpb: u32, krb: u32, koff: u32, hd: u32, scale: f32, cap: f32) -> f32 {
  let row = rowAddr(kTab, j, ps, kpb, krb);
  var s = 0.0;
  for (var d = 0u; d < hd; d++) { s += qv[d] * We(row, koff + d); }
  if (cap > 0.0) { return cap * tanh_s(scale * s / cap); }
  return scale * s;
}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lid = lid3.x;
  let q0 = pu(0u); let o0 = pu(1u); let nTok = pu(2u); let qPos = pu(3u); let nKv = pu(4u);
  let nHead = pu(5u); let nHeadKv = pu(6u); let hd = pu(7u); let kTab = pu(8u); let vTab = pu(9u);
  let ps = pu(10u); let kpb = pu(11u); let vpb = pu(12u); let krb = pu(13u); let vrb = pu(14u);
  let window = pu(15u); let scale = pf(16u); let cap = pf(17u); let round16 = (pu(18u) & 1u) != 0u;
  let group = nHead / nHeadKv;
  for (var u = wid.y * nwg.x + wid.x; u < nTok * nHead; u += nwg.x * nwg.y) {
    let t = u / nHead; let h = u % nHead; let g = h / group;
    let koff = g * hd;
    let p = bitcast<i32>(A[qPos + t]);
    let hi = min(p, i32(nKv) - 1);
    var lo = 0;
    if (window > 0u) { lo = max(0, p - i32(window) + 1); }
    for (var d = 0u; d < hd; d++) {
      var x = af(q0 + u * hd + d);
      if (round16) { x = f16r(x); }
      qv[d] = x;
      acc[d] = 0.0;
    }
    // pass 1: running max and sum per thread
    var m = -3.0e38; var l = 0.0;
    for (var j = lo + i32(lid); j <= hi; j += 64) {
      let s = score(u32(j), kTab, ps, kpb, krb, koff, hd, scale, cap);
      if (s > m) { l = l * exp(m - s) + 1.0; m = s; } else { l += exp(s - m); }
    }
    sm[lid] = m; sl[lid] = l;
    workgroupBarrier();
    var M = -3.0e38;
    for (var i = 0u; i < 64u; i++) { M = max(M, sm[i]); }
    var L = 0.0;
    for (var i = 0u; i < 64u; i++) { if (sl[i] > 0.0) { L += sl[i] * exp(sm[i] - M); } }
    workgroupBarrier();
    // pass 2: softmax-weighted V rows
    if (L > 0.0) {
      let inv = 1.0 / L;
      for (var j = lo + i32(lid); j <= hi; j += 64) {
        var w = exp(score(u32(j), kTab, ps, kpb, krb, koff, hd, scale, cap) - M) * inv;
        if (round16) { w = f16r(w); }
        let row = rowAddr(vTab, u32(j), ps, vpb, vrb);
        for (var d = 0u; d < hd; d++) { acc[d] += w * Ve(row, koff + d); }
      }
    }
    for (var d0 = 0u; d0 < hd; d0 += 16u) {
      let hb = ((d0 / 16u) & 1u) * 1024u;
      for (var k = 0u; k < 16u; k++) { sh[hb + lid * 16u + k] = acc[min(d0 + k, 255u)]; }
      workgroupBarrier();
      if (lid < 16u && d0 + lid < hd) {
        var s = 0.0;
        for (var i = 0u; i < 64u; i++) { s += sh[hb + i * 16u + lid]; }
        aset(o0 + u * hd + d0 + lid, s);
      }
      workgroupBarrier();
    }
  }
}`;
}
