/**
 * Synthetic llama.cpp mmproj GGUFs for the 2D-RoPE vision towers (no learned position embeddings; tensor
 * and key names of tools/mtmd/clip-impl.h), random weights from a fixed seed:
 *
 *   'pixtral' (Mistral 3 / Pixtral)                  'qwen2.5vl_merger' (Qwen2.5-VL)
 *     v.patch_embd.weight [p, p, 3, n_embd]            v.patch_embd.weight, v.patch_embd.weight.1 (the two
 *                                                        temporal slices of the 3D conv) [p, p, 3, n_embd]
 *     v.pre_ln.weight [n_embd] (RMSNorm)               (no pre-norm)
 *     v.blk.N.{ln1,ln2}.weight (RMSNorm)               same
 *     v.blk.N.attn_{q,k,v,out}.weight (no biases)      same, with .bias
 *     v.blk.N.ffn_{gate,up,down}.weight (no biases)    same, with .bias
 *                                                      v.post_ln.weight (RMSNorm)
 *     mm.input_norm.weight [n_embd]                    mm.0 [4·n_embd, 4·n_embd] (+bias)
 *     mm.patch_merger.weight [m²·n_embd, n_embd]       mm.2 [4·n_embd, n_out] (+bias)
 *       (when merge > 1, Mistral Small 3.1)
 *     mm.1 [n_embd, n_out], mm.2 [n_out, n_out] (+bias)
 *     v.token_embd.img_break [n_out]
 *
 * Metadata: clip.use_silu (SiLU-gated FFN), clip.vision.spatial_merge_size (pixtral),
 * clip.vision.n_wa_pattern and clip.vision.window_size (qwen2.5vl: every n-th block attends to the whole
 * image, the others within windows of window_size pixels).
 * Distributions as src/synth/mmproj.ts: matrices N(0, 1/n_in), biases N(0, 0.1²), norms N(1, 0.1²), the
 * [IMG_BREAK] embedding N(0, 0.5²).
 */
import { ValidationError } from '../errors.ts';
import { GgmlType, GgufValueType, type GgufValue, gv } from '../gguf/types.ts';
import { type GgufTensorSpec, writeGguf } from '../gguf/writer.ts';
import { generateWeight, type WeightPlan } from './llama.ts';

export type SynthRopeProjector = 'pixtral' | 'qwen2.5vl_merger';

export interface SynthRopeMmprojSpec {
  projector: SynthRopeProjector;
  /** Largest image side in pixels (clip.vision.image_size). */
  imageSize: number;
  patchSize: number;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  nOut: number;
  /** pixtral: spatial merge (1 = none, Pixtral 12B; 2 = Mistral Small 3.1). qwen: always 2. */
  merge?: number;
  /** qwen2.5vl: n_wa_pattern (default 2) and window_size in pixels (default 4·patch·2). */
  waPattern?: number;
  windowSize?: number;
  type?: 'F32' | 'F16' | 'Q8_0';
  eps?: number;
  seed: number;
}

const TYPES = { F32: GgmlType.F32, F16: GgmlType.F16, Q8_0: GgmlType.Q8_0 } as const;

export function planSynthRopeMmproj(spec: SynthRopeMmprojSpec): WeightPlan[] {
  const { nEmbd: E, nFf: F, nOut, patchSize: p } = spec;
  if (E % spec.nHead) throw new ValidationError('synthetic mmproj: nEmbd must be a multiple of nHead');
  const qwen = spec.projector === 'qwen2.5vl_merger';
  const wt = TYPES[spec.type ?? 'F32'];
  const patchType = wt === GgmlType.Q8_0 ? GgmlType.F16 : wt;
  const mat = (name: string, nIn: number, o: number): WeightPlan => ({ name, dims: [nIn, o], type: wt, mean: 0, std: 1 / Math.sqrt(nIn) });
  const vec = (name: string, n: number, mean: number, std: number): WeightPlan => ({ name, dims: [n], type: GgmlType.F32, mean, std });
  const lin = (name: string, nIn: number, o: number, bias: boolean) => [mat(`${name}.weight`, nIn, o), ...(bias ? [vec(`${name}.bias`, o, 0, 0.1)] : [])];
  const patch = (name: string): WeightPlan => ({ name, dims: [p, p, 3, E], type: patchType, mean: 0, std: 1 / Math.sqrt(3 * p * p * (qwen ? 2 : 1)) });
  const plan: WeightPlan[] = qwen ? [patch('v.patch_embd.weight'), patch('v.patch_embd.weight.1')] : [patch('v.patch_embd.weight'), vec('v.pre_ln.weight', E, 1, 0.1)];
  for (let l = 0; l < spec.nLayer; l++) {
    const b = `v.blk.${l}.`;
    plan.push(
      vec(`${b}ln1.weight`, E, 1, 0.1),
      ...lin(`${b}attn_q`, E, E, qwen), ...lin(`${b}attn_k`, E, E, qwen), ...lin(`${b}attn_v`, E, E, qwen), ...lin(`${b}attn_out`, E, E, qwen),
      vec(`${b}ln2.weight`, E, 1, 0.1),
      ...lin(`${b}ffn_gate`, E, F, qwen), ...lin(`${b}ffn_up`, E, F, qwen), ...lin(`${b}ffn_down`, F, E, qwen),
    );
  }
  if (qwen) {
    plan.push(vec('v.post_ln.weight', E, 1, 0.1), ...lin('mm.0', 4 * E, 4 * E, true), ...lin('mm.2', 4 * E, nOut, true));
  } else {
    const m = spec.merge ?? 1;
    if (m > 1) plan.push(vec('mm.input_norm.weight', E, 1, 0.1), mat('mm.patch_merger.weight', m * m * E, E));
    plan.push(...lin('mm.1', E, nOut, true), ...lin('mm.2', nOut, nOut, true), vec('v.token_embd.img_break', nOut, 0, 0.5));
  }
  return plan;
}

export function synthRopeMmprojMetadata(spec: SynthRopeMmprojSpec): Record<string, GgufValue> {
  const qwen = spec.projector === 'qwen2.5vl_merger';
  const f32s = (v: readonly number[]) => gv.arr(GgufValueType.FLOAT32, Float32Array.from(v));
  return {
    'general.architecture': gv.str('clip'),
    'general.name': gv.str(`synthetic-mmproj-${spec.projector}`),
    'general.file_type': gv.u32(spec.type === 'F16' ? 1 : spec.type === 'Q8_0' ? 7 : 0),
    'clip.projector_type': gv.str(spec.projector),
    'clip.has_vision_encoder': gv.bool(true),
    'clip.use_silu': gv.bool(true),
    'clip.vision.image_size': gv.u32(spec.imageSize),
    'clip.vision.patch_size': gv.u32(spec.patchSize),
    'clip.vision.embedding_length': gv.u32(spec.nEmbd),
    'clip.vision.feed_forward_length': gv.u32(spec.nFf),
    'clip.vision.block_count': gv.u32(spec.nLayer),
    'clip.vision.projection_dim': gv.u32(spec.nOut),
    'clip.vision.attention.head_count': gv.u32(spec.nHead),
    'clip.vision.attention.layer_norm_epsilon': gv.f32(spec.eps ?? (qwen ? 1e-6 : 1e-5)),
    'clip.vision.image_mean': f32s(qwen ? [0.48145466, 0.4578275, 0.40821073] : [0.48145466, 0.4578275, 0.40821073]),
    'clip.vision.image_std': f32s([0.26862954, 0.26130258, 0.27577711]),
    ...(qwen
      ? { 'clip.vision.n_wa_pattern': gv.u32(spec.waPattern ?? 2), 'clip.vision.window_size': gv.u32(spec.windowSize ?? 8 * spec.patchSize) }
      : { 'clip.vision.spatial_merge_size': gv.u32(spec.merge ?? 1) }),
  };
}

export async function writeSyntheticRopeMmproj(path: string, spec: SynthRopeMmprojSpec): Promise<void> {
  const scratch = new Float32Array(1 << 22);
  const tensors: GgufTensorSpec[] = planSynthRopeMmproj(spec).map((w) => ({ name: w.name, type: w.type, dims: w.dims, data: () => generateWeight(w, spec.seed, scratch) }));
  await writeGguf(path, { metadata: synthRopeMmprojMetadata(spec), tensors });
}
