/**
 * Synthetic llama GGUF files: real llama.cpp tensor names, shapes and metadata, random weights from a fixed seed.
 *
 * Weight distributions (chosen so that the random model is "alive": RMS-normed inputs of every matmul give
 * outputs of RMS ≈ 1, the residual stream grows slowly, and the logits have a spread):
 *   token_embd   N(0, 1)                      (tied: N(0, (s/√n_embd)²), since it is also the output matrix)
 *   attn_q/k     N(0, (1.2/√n_embd)²)         → attention scores q·k/√d with std ≈ 1.2² ≈ 1.4
 *   attn_v       N(0, 1/n_embd), attn_output N(0, 1/n_embd)
 *   ffn_gate/up  N(0, 1/n_embd), ffn_down    N(0, 1/n_ff)
 *   *_norm       N(1, 0.1²)                   (F32, as llama.cpp keeps norms)
 *   output       N(0, (s/√n_embd)²), s = 0.7·√(2 ln n_vocab) → logit std across the vocab ≈ s
 *                (≈ 3.2 for 32000 tokens: top-1 probability typically 0.05–0.5)
 * Every 2-D weight, token_embd and output included, is stored in the requested type (llama.cpp's quantizer
 * would put output.weight in Q6_K for Q4_0; we keep one type so a test exercises exactly one format).
 * Each tensor's stream is seeded from (seed, tensor name), so tensors don't depend on each other's order.
 */
import { ValidationError } from '../errors.ts';
import { ggmlByteSize, ggmlTypeTraits } from '../gguf/ggml-types.ts';
import { quantizeInto } from '../gguf/quant.ts';
import { GgmlType, GgufValueType, type GgufValue, gv } from '../gguf/types.ts';
import { type GgufTensorSpec, writeGguf } from '../gguf/writer.ts';
import { Xoshiro128, fnv1a } from './prng.ts';

export type SynthWeightType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'IQ4_NL' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q3_K' | 'Q2_K' | 'IQ4_XS';

/**
 * Architectures the synthetic writer knows: llama, and the llama-like Qwen2 (q/k/v biases), Qwen3 (q/k RMSNorm)
 * Phi-3 (fused attn_qkv, and ffn_up holding gate then up; every part drawn with the q/k std), Gemma 2 and 3
 * (post-attention and post-FFN norms; Gemma 3 also q/k norms).
 */
export type SynthArch = 'llama' | 'mistral3' | 'qwen2' | 'qwen2vl' | 'qwen3' | 'phi3' | 'gemma2' | 'gemma3';

export interface SynthLlamaSpec {
  /** Default 'llama'. qwen2 adds attn_{q,k,v}.bias (F32), qwen3 attn_{q,k}_norm.weight (F32 [head_dim]). */
  arch?: SynthArch;
  /** Per-head size of q/k/v, default nEmbd / nHead (Qwen3 models set it independently). */
  headDim?: number;
  /** `<arch>.attention.sliding_window` (phi3, gemma2, gemma3); omitted when 0 (default). */
  window?: number;
  /** Gemma 2's `attn_logit_softcapping` and `final_logit_softcapping` (default 50 and 30). */
  attnSoftcap?: number;
  finalSoftcap?: number;
  /** Default: the number of tokens in `tokenizer['tokenizer.ggml.tokens']`. */
  nVocab?: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  /** Default 2048. */
  nCtx?: number;
  /** Default 10000. */
  ropeBase?: number;
  /** Default 1e-5. */
  rmsEps?: number;
  type: SynthWeightType;
  /**
   * Per-tensor types that replace `type`, keyed by the end of the tensor name (`'output.weight'`,
   * `'ffn_down.weight'`, …). `{ 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' }` with type Q4_K gives the
   * mix of llama.cpp's Q4_K_M files (which put only some layers' ffn_down in Q6_K).
   */
  typeOverrides?: Record<string, SynthWeightType>;
  seed: number;
  /** No output.weight: llama.cpp then uses token_embd as the output matrix. */
  tieEmbeddings?: boolean;
  /**
   * Scale of each residual branch's output projection (attn_output, ffn_down), default 1. Trained models add
   * small updates to a large residual stream; a value below 1 gives a random model that sensitivity, so that
   * tiny numeric differences (a value rounding the other way in an 8-bit activation block) stay small at the
   * output instead of being amplified through every layer.
   */
  residualScale?: number;
  /** Std of attn_q/attn_k entries × √n_embd (default 1.2: attention scores with std ≈ 1.4). Lower is flatter attention. */
  qkScale?: number;
  /** general.name, default "synthetic-llama". */
  name?: string;
  /** tokenizer.ggml.* keys (and tokenizer.chat_template). */
  tokenizer: Record<string, GgufValue>;
}

const GGML_TYPE: Record<SynthWeightType, GgmlType> = {
  F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16, Q8_0: GgmlType.Q8_0, Q4_0: GgmlType.Q4_0,
  Q4_1: GgmlType.Q4_1, Q5_0: GgmlType.Q5_0, Q5_1: GgmlType.Q5_1, IQ4_NL: GgmlType.IQ4_NL,
  Q4_K: GgmlType.Q4_K, Q5_K: GgmlType.Q5_K, Q6_K: GgmlType.Q6_K, Q3_K: GgmlType.Q3_K, Q2_K: GgmlType.Q2_K, IQ4_XS: GgmlType.IQ4_XS,
};
/** llama_ftype values written as general.file_type (K types: the _S variants, Q6_K). */
const FILE_TYPE: Record<SynthWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32, Q4_1: 3, Q5_0: 8, Q5_1: 9, IQ4_NL: 25, Q4_K: 14, Q5_K: 16, Q6_K: 18, Q3_K: 11, Q2_K: 10, IQ4_XS: 30 };

/** Values generated and quantized per step (4 Mi floats = 16 MiB scratch). */
const CHUNK = 1 << 22;

/** One weight to generate: shape in ggml order and the normal distribution it is drawn from. */
export interface WeightPlan {
  name: string;
  dims: number[];
  type: GgmlType;
  mean: number;
  std: number;
}

function tokenCount(tokenizer: Record<string, GgufValue>): number | undefined {
  const t = tokenizer['tokenizer.ggml.tokens'];
  return t && t.type === 9 ? (t.value as ArrayLike<unknown>).length : undefined;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new ValidationError(`synthetic llama: ${msg}`);
}

/** Resolves defaults and validates the shape. */
export function resolveSynthLlama(spec: SynthLlamaSpec): Required<Omit<SynthLlamaSpec, 'tokenizer'>> & { headDim: number } {
  const fromTok = tokenCount(spec.tokenizer);
  const nVocab = spec.nVocab ?? fromTok;
  check(nVocab !== undefined && Number.isInteger(nVocab) && nVocab > 0, 'nVocab is required when the tokenizer has no tokens');
  check(fromTok === undefined || fromTok === nVocab, `nVocab ${nVocab} differs from the tokenizer's ${fromTok} tokens`);
  check(spec.type in GGML_TYPE, `unknown type ${spec.type}`);
  for (const t of Object.values(spec.typeOverrides ?? {})) check(t in GGML_TYPE, `unknown type ${t}`);
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf'] as const) check(Number.isInteger(spec[k]) && spec[k] > 0, `${k} must be a positive integer`);
  check(spec.residualScale === undefined || (Number.isFinite(spec.residualScale) && spec.residualScale > 0), 'residualScale must be > 0');
  check(spec.headDim !== undefined || spec.nEmbd % spec.nHead === 0, 'nEmbd must be a multiple of nHead');
  check(spec.nHead % spec.nHeadKv === 0, 'nHead must be a multiple of nHeadKv');
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  check(Number.isInteger(headDim) && headDim > 0, 'headDim must be a positive integer');
  const arch = spec.arch ?? 'llama';
  check(['llama', 'mistral3', 'qwen2', 'qwen2vl', 'qwen3', 'phi3', 'gemma2', 'gemma3'].includes(arch), `unknown arch ${arch}`);
  check(headDim % 2 === 0, 'head dim must be even (RoPE)');
  for (const t of [spec.type, ...Object.values(spec.typeOverrides ?? {})]) {
    const block = ggmlTypeTraits(GGML_TYPE[t])?.blockSize ?? 1;
    check(spec.nEmbd % block === 0 && spec.nFf % block === 0, `nEmbd and nFf must be multiples of ${block} for ${t}`);
  }
  return {
    nVocab: nVocab!, nEmbd: spec.nEmbd, nLayer: spec.nLayer, nHead: spec.nHead, nHeadKv: spec.nHeadKv, nFf: spec.nFf,
    nCtx: spec.nCtx ?? 2048, ropeBase: spec.ropeBase ?? 10000, rmsEps: spec.rmsEps ?? 1e-5, type: spec.type,
    seed: spec.seed, tieEmbeddings: spec.tieEmbeddings ?? false, name: spec.name ?? `synthetic-${arch}`, headDim, arch,
    window: spec.window ?? 0, attnSoftcap: spec.attnSoftcap ?? 50, finalSoftcap: spec.finalSoftcap ?? 30,
    residualScale: spec.residualScale ?? 1,
    qkScale: spec.qkScale ?? 1.2,
    typeOverrides: spec.typeOverrides ?? {},
  };
}

/** The weights of a synthetic llama, in file order, with their distributions (see the file comment). */
export function planSynthLlama(spec: SynthLlamaSpec): WeightPlan[] {
  const p = resolveSynthLlama(spec);
  const wt = GGML_TYPE[p.type];
  const nKv = p.nHeadKv * p.headDim;
  const nQ = p.nHead * p.headDim;
  const vec = (name: string, n: number, mean: number, std: number): WeightPlan => ({ name, dims: [n], type: GgmlType.F32, mean, std });
  const logitStd = 0.7 * Math.sqrt(2 * Math.log(Math.max(p.nVocab, 2)));
  const outStd = logitStd / Math.sqrt(p.nEmbd);
  const inv = 1 / Math.sqrt(p.nEmbd);
  const norm = (name: string): WeightPlan => ({ name, dims: [p.nEmbd], type: GgmlType.F32, mean: 1, std: 0.1 });
  const typeOf = (name: string): GgmlType => {
    const o = Object.entries(p.typeOverrides).find(([suffix]) => name.endsWith(suffix));
    return o ? GGML_TYPE[o[1]] : wt;
  };
  const mat = (name: string, nIn: number, nOut: number, std: number): WeightPlan => ({ name, dims: [nIn, nOut], type: typeOf(name), mean: 0, std });
  const plan: WeightPlan[] = [mat('token_embd.weight', p.nEmbd, p.nVocab, p.tieEmbeddings ? outStd : 1)];
  for (let l = 0; l < p.nLayer; l++) {
    const b = `blk.${l}.`;
    plan.push(
      norm(`${b}attn_norm.weight`),
    );
    if (p.arch === 'phi3') plan.push(mat(`${b}attn_qkv.weight`, p.nEmbd, nQ + 2 * nKv, p.qkScale * inv));
    else plan.push(mat(`${b}attn_q.weight`, p.nEmbd, nQ, p.qkScale * inv), mat(`${b}attn_k.weight`, p.nEmbd, nKv, p.qkScale * inv), mat(`${b}attn_v.weight`, p.nEmbd, nKv, inv));
    if (p.arch === 'qwen2' || p.arch === 'qwen2vl') {
      plan.push(vec(`${b}attn_q.bias`, nQ, 0, 0.3 * p.qkScale), vec(`${b}attn_k.bias`, nKv, 0, 0.3 * p.qkScale), vec(`${b}attn_v.bias`, nKv, 0, 0.1));
    }
    if (p.arch === 'qwen3' || p.arch === 'gemma3') {
      // q/k are RMS-normed per head, so their scale comes from the norm weights: keep scores' std ≈ qkScale².
      const g = p.qkScale;
      plan.push(vec(`${b}attn_q_norm.weight`, p.headDim, g, 0.1 * g), vec(`${b}attn_k_norm.weight`, p.headDim, g, 0.1 * g));
    }
    const gemma = p.arch === 'gemma2' || p.arch === 'gemma3';
    plan.push(
      mat(`${b}attn_output.weight`, nQ, p.nEmbd, p.residualScale / Math.sqrt(nQ)),
      ...(gemma ? [norm(`${b}post_attention_norm.weight`)] : []),
      norm(`${b}ffn_norm.weight`),
      ...(p.arch === 'phi3'
        ? [mat(`${b}ffn_up.weight`, p.nEmbd, 2 * p.nFf, inv)]
        : [mat(`${b}ffn_gate.weight`, p.nEmbd, p.nFf, inv), mat(`${b}ffn_up.weight`, p.nEmbd, p.nFf, inv)]),
      mat(`${b}ffn_down.weight`, p.nFf, p.nEmbd, p.residualScale / Math.sqrt(p.nFf)),
      ...(gemma ? [norm(`${b}post_ffw_norm.weight`)] : []),
    );
  }
  plan.push(norm('output_norm.weight'));
  if (!p.tieEmbeddings) plan.push(mat('output.weight', p.nEmbd, p.nVocab, outStd));
  return plan;
}

/**
 * Generates one weight's bytes: Gaussian values from its own seeded stream, generated and quantized in chunks
 * of whole rows into `scratch` (so peak memory is the output plus 16 MiB).
 */
export function generateWeight(w: WeightPlan, seed: number, scratch: Float32Array = new Float32Array(CHUNK)): Uint8Array {
  const rng = new Xoshiro128((seed ^ fnv1a(w.name)) | 0);
  const nPerRow = w.dims[0];
  const nRows = w.dims.slice(1).reduce((a, b) => a * b, 1);
  const out = new Uint8Array(ggmlByteSize(w.type, nPerRow * nRows));
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK / nPerRow));
  const rowBytes = ggmlByteSize(w.type, nPerRow);
  for (let r = 0; r < nRows; r += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, nRows - r);
    const f32 = rows * nPerRow <= scratch.length ? scratch.subarray(0, rows * nPerRow) : new Float32Array(rows * nPerRow);
    rng.fillGaussian(f32, w.std, w.mean);
    quantizeInto(w.type, f32, out.subarray(r * rowBytes, (r + rows) * rowBytes));
  }
  return out;
}

/** Qwen2-VL's M-RoPE sections [16, 24, 24, 0] (head 128) scaled to a head of `headDim`: t gets the rest. */
export function mropeSections(headDim: number): [number, number, number, number] {
  const hw = Math.floor((headDim / 2) * (24 / 64));
  return [headDim / 2 - 2 * hw, hw, hw, 0];
}

/** The general.* and llama.* metadata of a synthetic llama, followed by the tokenizer keys. */
export function synthLlamaMetadata(spec: SynthLlamaSpec): Record<string, GgufValue> {
  const p = resolveSynthLlama(spec);
  const a = p.arch;
  return {
    'general.architecture': gv.str(a),
    'general.name': gv.str(p.name),
    'general.file_type': gv.u32(FILE_TYPE[p.type]),
    [`${a}.vocab_size`]: gv.u32(p.nVocab),
    [`${a}.context_length`]: gv.u32(p.nCtx),
    [`${a}.embedding_length`]: gv.u32(p.nEmbd),
    [`${a}.block_count`]: gv.u32(p.nLayer),
    [`${a}.feed_forward_length`]: gv.u32(p.nFf),
    [`${a}.attention.head_count`]: gv.u32(p.nHead),
    [`${a}.attention.head_count_kv`]: gv.u32(p.nHeadKv),
    ...(p.headDim * p.nHead !== p.nEmbd ? { [`${a}.attention.key_length`]: gv.u32(p.headDim), [`${a}.attention.value_length`]: gv.u32(p.headDim) } : {}),
    [`${a}.rope.freq_base`]: gv.f32(p.ropeBase),
    [`${a}.attention.layer_norm_rms_epsilon`]: gv.f32(p.rmsEps),
    [`${a}.rope.dimension_count`]: gv.u32(p.headDim),
    ...(p.window > 0 ? { [`${a}.attention.sliding_window`]: gv.u32(p.window) } : {}),
    // qwen2vl: M-RoPE sections (t, h, w, e) in rotated pairs, Qwen2-VL's [16, 24, 24, 0] scaled to head_dim/2.
    ...(a === 'qwen2vl' ? { [`${a}.rope.dimension_sections`]: gv.arr(GgufValueType.INT32, Int32Array.from(mropeSections(p.headDim))) } : {}),
    ...(a === 'gemma2' ? { [`${a}.attn_logit_softcapping`]: gv.f32(p.attnSoftcap), [`${a}.final_logit_softcapping`]: gv.f32(p.finalSoftcap) } : {}),
    ...spec.tokenizer,
  };
}

/**
 * Writes a synthetic llama GGUF to `path`, streaming: one tensor is generated, quantized and written at a time.
 * Deterministic: the same spec gives the same bytes on every runtime.
 */
export async function writeSyntheticLlama(path: string, spec: SynthLlamaSpec): Promise<void> {
  const plan = planSynthLlama(spec);
  const scratch = new Float32Array(CHUNK);
  const tensors: GgufTensorSpec[] = plan.map((w) => ({
    name: w.name, type: w.type, dims: w.dims, data: () => generateWeight(w, spec.seed, scratch),
  }));
  await writeGguf(path, { metadata: synthLlamaMetadata(spec), tensors });
}
