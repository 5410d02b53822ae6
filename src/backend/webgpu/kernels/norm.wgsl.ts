/**
 * Row reductions, one 64-thread workgroup per row (a stride loop over rows), sums in f32 by a tree in shared memory:
 * - RMSNORM params: 0 x, 1 w byte offset in W (0xffffffff: none), 2 out, 3 n, 4 n_rows, 5 eps (f32 bits).
 *   out = x · (1/sqrt(Σx²/n + eps)) · w.
 * - NORM (LayerNorm) params: 0 x, 1 w, 2 b (byte offsets in W, 0xffffffff: none; w and b share one buffer or
 *   are bound by two dispatches, see backend.ts), 3 out, 4 n, 5 n_rows, 6 eps. Mean, then variance of x − mean.
 * - SOFTMAX params: 0 x, 1 out, 2 n, 3 n_rows, 4 scale: out = exp(s·x − max) / Σ.
 * Offsets of x/out are words of A; x and out may be the same (each thread writes only what it read).
 */
import { byteReaders, header, type ShaderCaps } from './common.wgsl.ts';

/**
 * Reduction statements, inlined: `var <name>` = Σ or max over the workgroup of <x>. Two reductions in a row use two
 * shared arrays: on Dawn's GL path over llvmpipe, lanes 8-63 read red[0] of the first one only after lanes 0-7 had
 * passed the closing barrier and written the second one's partial sums into it (layerNorm's mean came out wrong).
 */
function reduce(name: string, x: string, op: 'sum' | 'max', red = 'red'): string {
  const comb = op === 'sum' ? 'red[lid] + red[lid + st]' : 'max(red[lid], red[lid + st])';
  return `
    red[lid] = ${x};
    workgroupBarrier();
    for (var st = 32u; st > 0u; st >>= 1u) {
      if (lid < st) { red[lid] = ${comb}; }
      workgroupBarrier();
    }
    var ${name} = red[0];
    workgroupBarrier();`.replaceAll('red[', `${red}[`);
}
const REDUCE = 'var<workgroup> red: array<f32, 64>;\nvar<workgroup> red2: array<f32, 64>;';
const MAIN = '@compute @workgroup_size(64)\nfn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {\n  let lid = lid3.x;';
const wf = `fn wf(b: u32) -> f32 { return bitcast<f32>(W[b >> 2u]); }`;

export function rmsNormShader(caps: ShaderCaps): string {
  return `${header(caps, 'read')}${REDUCE}
${wf}
${MAIN}
  let x0 = pu(0u); let wOff = pu(1u); let o0 = pu(2u); let n = pu(3u); let nRows = pu(4u); let eps = pf(5u);
  for (var r = wid.x; r < nRows; r += nwg.x) {
    var s = 0.0;
    for (var i = lid; i < n; i += 64u) { let x = af(x0 + r * n + i); s += x * x; }
    ${reduce('ss', 's', 'sum')}
    let sc = 1.0 / sqrt(ss / f32(n) + eps);
    for (var i = lid; i < n; i += 64u) {
      var y = af(x0 + r * n + i) * sc;
      if (wOff != 0xffffffffu) { y *= wf(wOff + 4u * i); }
      aset(o0 + r * n + i, y);
    }
  }
}`;
}

export function layerNormShader(caps: ShaderCaps): string {
  return `${header(caps, 'read')}${REDUCE}
${wf}
${MAIN}
  let x0 = pu(0u); let wOff = pu(1u); let bOff = pu(2u); let o0 = pu(3u); let n = pu(4u); let nRows = pu(5u); let eps = pf(6u);
  for (var r = wid.x; r < nRows; r += nwg.x) {
    var s = 0.0;
    for (var i = lid; i < n; i += 64u) { s += af(x0 + r * n + i); }
    ${reduce('sm', 's', 'sum')}
    let mean = sm / f32(n);
    var s2 = 0.0;
    for (var i = lid; i < n; i += 64u) { let d = af(x0 + r * n + i) - mean; s2 += d * d; }
    ${reduce('sv', 's2', 'sum', 'red2')}
    let sc = 1.0 / sqrt(sv / f32(n) + eps);
    for (var i = lid; i < n; i += 64u) {
      var y = (af(x0 + r * n + i) - mean) * sc;
      if (wOff != 0xffffffffu) { y *= wf(wOff + 4u * i); }
      if (bOff != 0xffffffffu) { y += wf(bOff + 4u * i); }
      aset(o0 + r * n + i, y);
    }
  }
}`;
}

export function softmaxShader(caps: ShaderCaps): string {
  return `${header(caps, 'none')}${REDUCE}
${MAIN}
  let x0 = pu(0u); let o0 = pu(1u); let n = pu(2u); let nRows = pu(3u); let scale = pf(4u);
  for (var r = wid.x; r < nRows; r += nwg.x) {
    var m = -3.0e38;
    for (var i = lid; i < n; i += 64u) { m = max(m, scale * af(x0 + r * n + i)); }
    ${reduce('mx', 'm', 'max')}
    var s = 0.0;
    for (var i = lid; i < n; i += 64u) { let e = exp(scale * af(x0 + r * n + i) - mx); aset(o0 + r * n + i, e); s += e; }
    ${reduce('ssum', 's', 'sum', 'red2')}
    let inv = 1.0 / ssum;
    for (var i = lid; i < n; i += 64u) { aset(o0 + r * n + i, af(o0 + r * n + i) * inv); }
  }
}`;
}

export { byteReaders };
