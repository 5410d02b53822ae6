/**
 * Synthetic BERT encoders (`bert`, `nomic-bert`; llama.cpp's tensor names) for embedding tests:
 * random weights from a fixed seed, the vocabulary passed in (a WordPiece `tokenizer.*` set).
 *   token_embd, position_embd, token_types  N(0, 0.5²)       (summed, then LayerNorm)
 *   attn_q/k/v, attn_output, ffn_up         N(0, 1/n_in)     biases N(0, 0.1²)
 *   ffn_down                                N(0, 1/n_ff)
 *   *_norm weight N(1, 0.1²), bias N(0, 0.1²)               (F32, as llama.cpp keeps norms)
 */
import { ValidationError } from '../errors.ts';
import { GgmlType, type GgufValue, gv } from '../gguf/types.ts';
import { type GgufTensorSpec, writeGguf } from '../gguf/writer.ts';
import { generateWeight, type WeightPlan } from './llama.ts';

export interface SynthBertSpec {
  /** 'bert' (default) or 'nomic-bert' (RoPE instead of position embeddings, fused qkv, SwiGLU, no biases). */
  arch?: 'bert' | 'nomic-bert';
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nFf: number;
  /** Trained context (position embeddings), default 512. */
  nCtx?: number;
  /** Weight type of the 2-D matrices: F32 or F16 (default F32). */
  type?: 'F32' | 'F16';
  /** llama_pooling_type: 1 mean (default), 2 cls. */
  pooling?: 1 | 2;
  seed: number;
  /** tokenizer.* keys of a WordPiece vocabulary (tokenizer.ggml.model = bert). */
  tokenizer: Record<string, GgufValue>;
}

/** Writes a synthetic BERT GGUF to `path`. */
export async function writeSyntheticBert(path: string, spec: SynthBertSpec): Promise<void> {
  const tokens = spec.tokenizer['tokenizer.ggml.tokens'];
  const nVocab = tokens && tokens.type === 9 ? (tokens.value as ArrayLike<unknown>).length : 0;
  if (!nVocab) throw new ValidationError('writeSyntheticBert: the tokenizer has no tokens');
  if (spec.nEmbd % spec.nHead !== 0) throw new ValidationError('writeSyntheticBert: nEmbd must be a multiple of nHead');
  const nCtx = spec.nCtx ?? 512;
  const wt = spec.type === 'F16' ? GgmlType.F16 : GgmlType.F32;
  const { nEmbd, nFf } = spec;
  const mat = (name: string, nIn: number, nOut: number, std: number): WeightPlan => ({ name, dims: [nIn, nOut], type: wt, mean: 0, std });
  const vec = (name: string, n: number, mean: number, std: number): WeightPlan => ({ name, dims: [n], type: GgmlType.F32, mean, std });
  const a = spec.arch ?? 'bert';
  const nomic = a === 'nomic-bert';
  const norm = (name: string) => [vec(`${name}.weight`, nEmbd, 1, 0.1), vec(`${name}.bias`, nEmbd, 0, 0.1)];
  const affine = (name: string, nIn: number, nOut: number) => [
    mat(`${name}.weight`, nIn, nOut, 1 / Math.sqrt(nIn)),
    ...(nomic ? [] : [vec(`${name}.bias`, nOut, 0, 0.1)]),
  ];
  const plan: WeightPlan[] = [
    mat('token_embd.weight', nEmbd, nVocab, 0.5),
    { name: 'token_types.weight', dims: [nEmbd, 2], type: GgmlType.F32, mean: 0, std: 0.5 },
    ...(nomic ? [] : [{ name: 'position_embd.weight', dims: [nEmbd, nCtx], type: GgmlType.F32, mean: 0, std: 0.5 }]),
    ...norm('token_embd_norm'),
  ];
  for (let l = 0; l < spec.nLayer; l++) {
    const b = `blk.${l}.`;
    plan.push(
      ...(nomic ? affine(`${b}attn_qkv`, nEmbd, 3 * nEmbd) : [...affine(`${b}attn_q`, nEmbd, nEmbd), ...affine(`${b}attn_k`, nEmbd, nEmbd), ...affine(`${b}attn_v`, nEmbd, nEmbd)]),
      ...affine(`${b}attn_output`, nEmbd, nEmbd), ...norm(`${b}attn_output_norm`),
      ...affine(`${b}ffn_up`, nEmbd, nFf), ...(nomic ? affine(`${b}ffn_gate`, nEmbd, nFf) : []),
      ...affine(`${b}ffn_down`, nFf, nEmbd), ...norm(`${b}layer_output_norm`),
    );
  }
  const metadata: Record<string, GgufValue> = {
    'general.architecture': gv.str(a),
    'general.name': gv.str(`synthetic-${a}`),
    'general.file_type': gv.u32(wt === GgmlType.F16 ? 1 : 0),
    [`${a}.context_length`]: gv.u32(nCtx),
    [`${a}.embedding_length`]: gv.u32(nEmbd),
    [`${a}.feed_forward_length`]: gv.u32(nFf),
    [`${a}.block_count`]: gv.u32(spec.nLayer),
    [`${a}.attention.head_count`]: gv.u32(spec.nHead),
    [`${a}.attention.layer_norm_epsilon`]: gv.f32(1e-12),
    [`${a}.attention.causal`]: gv.bool(false),
    [`${a}.pooling_type`]: gv.u32(spec.pooling ?? 1),
    ...(nomic ? { [`${a}.rope.freq_base`]: gv.f32(1000) } : {}),
    ...spec.tokenizer,
  };
  const scratch = new Float32Array(1 << 22);
  const tensors: GgufTensorSpec[] = plan.map((w) => ({ name: w.name, type: w.type, dims: w.dims, data: () => generateWeight(w, spec.seed, scratch) }));
  await writeGguf(path, { metadata, tensors });
}
