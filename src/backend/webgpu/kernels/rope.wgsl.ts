/**
 * ROPE in place over x `[n_tok][n_head][head_dim]`, one thread per rotated pair (grid-stride).
 * Params: 0 x, 1 pos (i32), 2 n_tok, 3 n_head, 4 head_dim, 5 n_rot, 6 mode (0 NORMAL: pairs (2i, 2i+1); 2 NEOX:
 * (i, i + n_rot/2)), 7 theta_scale = f32 powf(base, −2/n_rot) (computed on the host), 8 freq_scale,
 * 9 freq factors byte offset in W (0xffffffff: none).
 * θ_i as ggml's rope cache: θ = pos, then θ ·= theta_scale once per pair (f32), angle = freq_scale · θ_i / ff_i.
 */
import { GRID, header, type ShaderCaps } from './common.wgsl.ts';

export function ropeShader(caps: ShaderCaps): string {
  return `${header(caps, 'read')}${GRID}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let x0 = pu(0u); let p0 = pu(1u); let nTok = pu(2u); let nHead = pu(3u); let hd = pu(4u); let nRot = pu(5u);
  let neox = pu(6u) == 2u; let ts = pf(7u); let fs = pf(8u); let ff = pu(9u);
  let half = nRot / 2u;
  let total = nTok * nHead * half;
  for (var k = gidx(wid, nwg, lid3.x); k < total; k += gsize(nwg)) {
    let i = k % half; let th = k / half; let t = th / nHead;
    var theta = f32(bitcast<i32>(A[p0 + t]));
    for (var j = 0u; j < i; j++) { theta *= ts; }
    if (ff != 0xffffffffu) { theta /= bitcast<f32>(W[(ff >> 2u) + i]); }
    let ang = fs * theta;
    let c = cos(ang); let s = sin(ang);
    let base = x0 + th * hd;
    var i0 = base + 2u * i; var i1 = i0 + 1u;
    if (neox) { i0 = base + i; i1 = base + i + half; }
    let a = af(i0); let b = af(i1);
    aset(i0, a * c - b * s);
    aset(i1, a * s + b * c);
  }
}`;
}
