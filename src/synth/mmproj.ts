/**
 * Synthetic llama.cpp mmproj GGUFs (vision encoder + projector, `clip.*` keys and tensor names of
 * tools/mtmd/clip-impl.h) for vision tests: random weights from a fixed seed.
 *
 *   projector 'mlp' (llava 1.5: CLIP ViT)         projector 'gemma3' (SigLIP)
 *     v.patch_embd.weight [p, p, 3, n_embd]         same, plus v.patch_embd.bias [n_embd]
 *     v.class_embd [n_embd]                         (no class token)
 *     v.position_embd.weight [n_embd, n_pos]        n_pos = n_patches (+1 with a class token)
 *     v.pre_ln.{weight,bias}                        (no pre-LN)
 *     v.blk.N.{ln1,attn_q,attn_k,attn_v,attn_out,ln2,ffn_up,ffn_down}.{weight,bias}
 *     (no post-LN)                                  v.post_ln.{weight,bias}
 *     mm.0 [n_embd, n_out], mm.2 [n_out, n_out]     mm.soft_emb_norm.weight [n_embd],
 *       (weight + bias each)                        mm.input_projection.weight [n_out, n_embd] (stored transposed, as llama.cpp)
 *
 * Distributions: matrices N(0, 1/n_in); biases N(0, 0.1²); norm weights N(1, 0.1²), biases N(0, 0.1²);
 * class and position embeddings N(0, 0.5²). Vectors and norms are F32 (as the converters keep them); the
 * 2-D matrices take `type`; the patch embedding (rows of p·p values, rarely a multiple of 32) is F16 when
 * `type` is a block type.
 */
import { ValidationError } from '../errors.ts';
import { GgmlType, GgufValueType, type GgufValue, gv } from '../gguf/types.ts';
import { type GgufTensorSpec, writeGguf } from '../gguf/writer.ts';
import { generateWeight, type WeightPlan } from './llama.ts';

export type SynthProjector = 'mlp' | 'gemma3';

export interface SynthMmprojSpec {
  projector: SynthProjector;
  imageSize: number;
  patchSize: number;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  /** Width of the projected embeddings (the text model's n_embd). */
  nOut: number;
  /** Weight type of the 2-D matrices (default F32). */
  type?: 'F32' | 'F16' | 'Q8_0';
  /** clip.use_gelu (default: false for 'mlp' → quick GELU, as CLIP; true for 'gemma3'). */
  useGelu?: boolean;
  /** Gemma 3 pooling kernel, written as clip.vision.projector.scale_factor (default 4). */
  mergeSize?: number;
  eps?: number;
  imageMean?: [number, number, number];
  imageStd?: [number, number, number];
  seed: number;
}

const TYPES = { F32: GgmlType.F32, F16: GgmlType.F16, Q8_0: GgmlType.Q8_0 } as const;

/** The weights of a synthetic mmproj (names, ggml dims, types, distributions). */
export function planSynthMmproj(spec: SynthMmprojSpec): WeightPlan[] {
  const { nEmbd, nFf, nOut, patchSize: p } = spec;
  const check = (c: boolean, m: string) => {
    if (!c) throw new ValidationError(`synthetic mmproj: ${m}`);
  };
  check(spec.imageSize % p === 0, 'imageSize must be a multiple of patchSize');
  check(nEmbd % spec.nHead === 0, 'nEmbd must be a multiple of nHead');
  const side = spec.imageSize / p;
  const gemma = spec.projector === 'gemma3';
  if (gemma) check(side % (spec.mergeSize ?? 4) === 0, 'patches per side must be a multiple of mergeSize');
  const wt = TYPES[spec.type ?? 'F32'];
  const patchType = wt === GgmlType.Q8_0 ? GgmlType.F16 : wt;
  const mat = (name: string, nIn: number, o: number): WeightPlan => ({ name, dims: [nIn, o], type: wt, mean: 0, std: 1 / Math.sqrt(nIn) });
  const vec = (name: string, n: number, mean: number, std: number): WeightPlan => ({ name, dims: [n], type: GgmlType.F32, mean, std });
  const affine = (name: string, nIn: number, o: number) => [mat(`${name}.weight`, nIn, o), vec(`${name}.bias`, o, 0, 0.1)];
  const norm = (name: string) => [vec(`${name}.weight`, nEmbd, 1, 0.1), vec(`${name}.bias`, nEmbd, 0, 0.1)];
  const nPos = side * side + (gemma ? 0 : 1);
  const plan: WeightPlan[] = [
    { name: 'v.patch_embd.weight', dims: [p, p, 3, nEmbd], type: patchType, mean: 0, std: 1 / Math.sqrt(3 * p * p) },
    ...(gemma ? [vec('v.patch_embd.bias', nEmbd, 0, 0.1)] : [vec('v.class_embd', nEmbd, 0, 0.5)]),
    { name: 'v.position_embd.weight', dims: [nEmbd, nPos], type: GgmlType.F32, mean: 0, std: 0.5 },
    ...(gemma ? [] : norm('v.pre_ln')),
  ];
  for (let l = 0; l < spec.nLayer; l++) {
    const b = `v.blk.${l}.`;
    plan.push(
      ...norm(`${b}ln1`),
      ...affine(`${b}attn_q`, nEmbd, nEmbd), ...affine(`${b}attn_k`, nEmbd, nEmbd), ...affine(`${b}attn_v`, nEmbd, nEmbd),
      ...affine(`${b}attn_out`, nEmbd, nEmbd),
      ...norm(`${b}ln2`),
      ...affine(`${b}ffn_up`, nEmbd, nFf), ...affine(`${b}ffn_down`, nFf, nEmbd),
    );
  }
  if (gemma) {
    plan.push(...norm('v.post_ln'), vec('mm.soft_emb_norm.weight', nEmbd, 1, 0.1));
    plan.push({ name: 'mm.input_projection.weight', dims: [nOut, nEmbd], type: wt === GgmlType.Q8_0 ? GgmlType.F16 : wt, mean: 0, std: 1 / Math.sqrt(nEmbd) });
  } else {
    plan.push(...affine('mm.0', nEmbd, nOut), ...affine('mm.2', nOut, nOut));
  }
  return plan;
}

/** The clip.* metadata of a synthetic mmproj. */
export function synthMmprojMetadata(spec: SynthMmprojSpec): Record<string, GgufValue> {
  const gemma = spec.projector === 'gemma3';
  const f32s = (v: readonly number[]) => gv.arr(GgufValueType.FLOAT32, Float32Array.from(v));
  return {
    'general.architecture': gv.str('clip'),
    'general.name': gv.str(`synthetic-mmproj-${spec.projector}`),
    'general.file_type': gv.u32(spec.type === 'F16' ? 1 : spec.type === 'Q8_0' ? 7 : 0),
    'clip.projector_type': gv.str(spec.projector),
    'clip.has_vision_encoder': gv.bool(true),
    'clip.use_gelu': gv.bool(spec.useGelu ?? gemma),
    'clip.vision.image_size': gv.u32(spec.imageSize),
    'clip.vision.patch_size': gv.u32(spec.patchSize),
    'clip.vision.embedding_length': gv.u32(spec.nEmbd),
    'clip.vision.feed_forward_length': gv.u32(spec.nFf),
    'clip.vision.block_count': gv.u32(spec.nLayer),
    'clip.vision.projection_dim': gv.u32(spec.nOut),
    'clip.vision.attention.head_count': gv.u32(spec.nHead),
    'clip.vision.attention.layer_norm_epsilon': gv.f32(spec.eps ?? (gemma ? 1e-6 : 1e-5)),
    'clip.vision.image_mean': f32s(spec.imageMean ?? (gemma ? [0.5, 0.5, 0.5] : [0.48145466, 0.4578275, 0.40821073])),
    'clip.vision.image_std': f32s(spec.imageStd ?? (gemma ? [0.5, 0.5, 0.5] : [0.26862954, 0.26130258, 0.27577711])),
    ...(gemma ? { 'clip.vision.projector.scale_factor': gv.u32(spec.mergeSize ?? 4) } : {}),
  };
}

/** Writes a synthetic mmproj GGUF to `path`. */
export async function writeSyntheticMmproj(path: string, spec: SynthMmprojSpec): Promise<void> {
  const scratch = new Float32Array(1 << 22);
  const tensors: GgufTensorSpec[] = planSynthMmproj(spec).map((w) => ({ name: w.name, type: w.type, dims: w.dims, data: () => generateWeight(w, spec.seed, scratch) }));
  await writeGguf(path, { metadata: synthMmprojMetadata(spec), tensors });
}
