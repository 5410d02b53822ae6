/**
 * Elementwise ops, one thread per value (grid-stride). Params: 0 op, 1 a, 2 b, 3 out (word offsets in A;
 * b is a byte offset in W when 6 = 1), 4 n, 5 n_b (0: n), 6 b in W, 7 s (f32 bits).
 * Ops: 0 SILU x/(1+e^−x); 1 SWIGLU silu(a)·b; 2 GELU and 3 GEGLU (·b) in ggml's f16-table numerics
 * (GGML_GELU_FP16: 0 for x ≤ −10, x for x ≥ 10, else f16(gelu(f16(x))), tanh form); 4 ADD a + b[i mod n_b];
 * 5 MUL; 6 SCALE s·a; 7 SOFTCAP tanh(a·(1/s))·s.
 */
import { GRID, header, type ShaderCaps } from './common.wgsl.ts';

export const EwOp = { SILU: 0, SWIGLU: 1, GELU: 2, GEGLU: 3, ADD: 4, MUL: 5, SCALE: 6, SOFTCAP: 7 } as const;

export function elementwiseShader(caps: ShaderCaps): string {
  return `${header(caps, 'read')}${GRID}
fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu16(x: f32) -> f32 {
  if (x <= -10.0) { return 0.0; }
  if (x >= 10.0) { return x; }
  let h = f16r(x);
  return f16r(0.5 * h * (1.0 + tanh_s(0.7978845608028654 * h * (1.0 + 0.044715 * h * h))));
}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let op = pu(0u); let a0 = pu(1u); let b0 = pu(2u); let o0 = pu(3u); let n = pu(4u);
  var nb = pu(5u); if (nb == 0u) { nb = n; }
  let bw = pu(6u) == 1u; let s = pf(7u);
  for (var i = gidx(wid, nwg, lid3.x); i < n; i += gsize(nwg)) {
    let a = af(a0 + i);
    var b = 0.0;
    if (op == 1u || op == 3u || op == 4u || op == 5u) {
      let k = i % nb;
      if (bw) { b = bitcast<f32>(W[(b0 >> 2u) + k]); } else { b = af(b0 + k); }
    }
    var y = 0.0;
    switch op {
      case 0u: { y = silu(a); }
      case 1u: { y = silu(a) * b; }
      case 2u: { y = gelu16(a); }
      case 3u: { y = gelu16(a) * b; }
      case 4u: { y = a + b; }
      case 5u: { y = a * b; }
      case 6u: { y = s * a; }
      default: { y = tanh_s(a * (1.0 / s)) * s; }
    }
    aset(o0 + i, y);
  }
}`;
}
