/**
 * MATMUL and GET_ROWS for every weight type: the weight is dequantized to f32 32 values at a time
 * (quant.wgsl.ts) and dotted in f32 with the f32 activations (by default first rounded as ggml's CPU path rounds
 * them, actquant.wgsl.ts; its integer block sums are then f32 sums here, equal up to f32 rounding).
 *
 * MATMUL params: 0 w byte offset (in W), 1 w row bytes, 2 x word offset, 3 out word offset, 4 n_in,
 * 5 rows (of this weight slice), 6 n_tok, 7 out row stride (n_out of the whole weight), 8 first row of the slice.
 * One workgroup per weight row (a stride loop over rows) and tile of 8 tokens: 64 threads split the row's
 * 32-value chunks, each dequantizes its chunk once for the 8 tokens, then a tree reduction in shared memory.
 *
 * GET_ROWS params: 0 table byte offset, 1 row bytes, 2 ids word offset (i32), 3 out word offset, 4 n_cols,
 * 5 n ids, 6 first row of the slice, 7 rows in the slice. Ids outside the slice are left to the other slices' dispatches.
 */
import type { GgmlType } from '../../../gguf/types.ts';
import { byteReaders, header, type ShaderCaps } from './common.wgsl.ts';
import { load32, unrolled } from './quant.wgsl.ts';

export function matmulShader(caps: ShaderCaps, type: GgmlType): string {
  return `${header(caps, 'read')}${byteReaders('W')}${load32(type)}
const TT = 8u;
var<workgroup> red: array<f32, 1024>; // two halves, alternating by row (see norm.wgsl.ts on reuse after a barrier)
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lid = lid3.x;
  let wOff = pu(0u); let rowBytes = pu(1u); let xOff = pu(2u); let outOff = pu(3u);
  let nIn = pu(4u); let nRows = pu(5u); let nTok = pu(6u); let stride = pu(7u); let row0 = pu(8u);
  let nChunks = (nIn + 31u) / 32u;
  let t0 = wid.y * TT;
  for (var r = wid.x; r < nRows; r += nwg.x) {
    var acc: array<f32, 8>;
    for (var t = 0u; t < TT; t++) { acc[t] = 0.0; }
    for (var c = lid; c < nChunks; c += 64u) {
      load32(wOff + r * rowBytes, c, nIn);
      let m = min(32u, nIn - c * 32u);
      for (var t = 0u; t < TT; t++) {
        if (t0 + t < nTok) {
          let xb = xOff + (t0 + t) * nIn + c * 32u;
          var s = 0.0;
          for (var j = 0u; j < m; j++) { s += v[j] * af(xb + j); }
          acc[t] += s;
        }
      }
    }
    let rb = (r & 1u) * 512u;
    for (var t = 0u; t < TT; t++) { red[rb + t * 64u + lid] = acc[t]; }
    workgroupBarrier();
    for (var st = 32u; st > 0u; st >>= 1u) {
      if (lid < st) { for (var t = 0u; t < TT; t++) { red[rb + t * 64u + lid] += red[rb + t * 64u + lid + st]; } }
      workgroupBarrier();
    }
    if (lid < TT && t0 + lid < nTok) { aset(outOff + (t0 + lid) * stride + row0 + r, red[rb + lid * 64u]); }
    workgroupBarrier();
  }
}`;
}

/**
 * MATMUL, one thread per (row, tile of 4 tokens), no shared memory and no barriers: the variant for CPU drivers
 * (llvmpipe/lavapipe run a workgroup's invocations as fibers, and each barrier switches all of them), where the
 * workgroup-per-row kernel spent ~0.2 ms per row. Same params and the same f32 arithmetic per chunk.
 */
export function matmulThreadShader(caps: ShaderCaps, type: GgmlType): string {
  const u = unrolled(type);
  const J = Array.from({ length: 32 }, (_, j) => j);
  // x reads of a row's last partial chunk (F32/F16/BF16 rows not a multiple of 32) are masked too
  const x = (t: number, j: number) => (u.tail ? `select(0.0, af(xb + ${t === 0 ? '' : `${t}u * nIn + `}${j}u), ${j}u < lim)` : `af(xb + ${t === 0 ? '' : `${t}u * nIn + `}${j}u)`);
  const dots = J.map((j) => `      let w${j} = ${u.val(j)};
      s0 += w${j} * ${x(0, j)};
      if (t1) { s1 += w${j} * ${x(1, j)}; }
      if (t2) { s2 += w${j} * ${x(2, j)}; }
      if (t3) { s3 += w${j} * ${x(3, j)}; }`).join('\n');
  return `${header(caps, 'read')}${byteReaders('W')}${load32(type)}
fn chunk(rowOff: u32, c: u32, n: u32, xb: u32, nIn: u32, t1: bool, t2: bool, t3: bool) -> vec4<f32> {
      ${u.pre}
      var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
${dots}
      return vec4<f32>(s0, s1, s2, s3);
}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wOff = pu(0u); let rowBytes = pu(1u); let xOff = pu(2u); let outOff = pu(3u);
  let nIn = pu(4u); let nRows = pu(5u); let nTok = pu(6u); let stride = pu(7u); let row0 = pu(8u);
  let nChunks = (nIn + 31u) / 32u;
  let t0 = wid.y * 4u;
  let t1 = t0 + 1u < nTok; let t2 = t0 + 2u < nTok; let t3 = t0 + 3u < nTok;
  for (var r = wid.x * 64u + lid3.x; r < nRows; r += nwg.x * 64u) {
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < nChunks; c++) {
      acc += chunk(wOff + r * rowBytes, c, nIn, xOff + t0 * nIn + c * 32u, nIn, t1, t2, t3);
    }
    let o = outOff + t0 * stride + row0 + r;
    aset(o, acc.x);
    if (t1) { aset(o + stride, acc.y); }
    if (t2) { aset(o + 2u * stride, acc.z); }
    if (t3) { aset(o + 3u * stride, acc.w); }
  }
}`;
}

export function getRowsShader(caps: ShaderCaps, type: GgmlType): string {
  return `${header(caps, 'read')}${byteReaders('W')}${load32(type)}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lid = lid3.x;
  let tOff = pu(0u); let rowBytes = pu(1u); let idsOff = pu(2u); let outOff = pu(3u);
  let nCols = pu(4u); let n = pu(5u); let row0 = pu(6u); let rows = pu(7u);
  let nChunks = (nCols + 31u) / 32u;
  for (var i = wid.x; i < n; i += nwg.x) {
    let id = bitcast<i32>(A[idsOff + i]) - i32(row0);
    if (id < 0 || id >= i32(rows)) { continue; }
    for (var c = lid; c < nChunks; c += 64u) {
      load32(tOff + u32(id) * rowBytes, c, nCols);
      let m = min(32u, nCols - c * 32u);
      for (var j = 0u; j < m; j++) { aset(outOff + i * nCols + c * 32u + j, v[j]); }
    }
  }
}`;
}
