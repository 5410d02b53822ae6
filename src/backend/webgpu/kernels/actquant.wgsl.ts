/**
 * The rounding llama.cpp's CPU matmul applies to the activations (ggml's vec_dot_type of the weight), so that the GPU's
 * f32 dot of dequantized weights sees the values ggml's integer dot products see: x f32 `[n_tok][n]` → dst f32, the
 * values the quantized x stands for. Params: 0 x, 1 dst (word offsets in A), 2 n (per token), 3 n_tok, 4 mode:
 * 1 Q8_0/Q8_1 blocks of 32 (x86 quantize_row_q8_0: amax, d = f16(amax/127), q = round_half_even(x·127/amax));
 * 2 Q8_K blocks of 256 (quantize_row_q8_K_ref: max = first value of largest |x|, iscale = −127/max,
 *   q = min(127, round_half_even(iscale·x)), d = 1/iscale); 3 f16 (round to nearest even); 4 bf16 (ggml's rounding).
 * One thread per block (modes 1, 2) or per value (3, 4). WGSL's f32 division need not be correctly rounded, so
 * 127/amax may differ from the CPU's by an ulp and flip a rare rounding tie.
 */
import { GRID, header, type ShaderCaps } from './common.wgsl.ts';

export const ActQuant = { NONE: 0, Q8_0: 1, Q8_K: 2, F16: 3, BF16: 4 } as const;

export function actQuantShader(caps: ShaderCaps): string {
  return `${header(caps, 'none')}${GRID}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let x0 = pu(0u); let d0 = pu(1u); let n = pu(2u); let nTok = pu(3u); let mode = pu(4u);
  var bs = 1u;
  if (mode == 1u) { bs = 32u; } else if (mode == 2u) { bs = 256u; }
  let total = nTok * n / bs;
  for (var k = gidx(wid, nwg, lid3.x); k < total; k += gsize(nwg)) {
    let b = k * bs;
    if (mode == 3u) { aset(d0 + b, f16r(af(x0 + b))); continue; }
    if (mode == 4u) {
      let u = A[x0 + b];
      A[d0 + b] = ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) << 16u;
      continue;
    }
    var amax = 0.0; var mx = 0.0;
    for (var j = 0u; j < bs; j++) { let v = af(x0 + b + j); if (abs(v) > amax) { amax = abs(v); mx = v; } }
    if (mode == 1u) {
      let d = f16r(amax / 127.0);
      var id = 0.0; if (amax != 0.0) { id = 127.0 / amax; }
      for (var j = 0u; j < 32u; j++) { aset(d0 + b + j, round(af(x0 + b + j) * id) * d); }
    } else {
      var is = 0.0; var d = 0.0;
      if (amax != 0.0) { is = -127.0 / mx; d = 1.0 / is; }
      for (var j = 0u; j < 256u; j++) { aset(d0 + b + j, min(127.0, round(is * af(x0 + b + j))) * d); }
    }
  }
}`;
}
