/**
 * Which type each tensor gets: a port of llama.cpp's `llama_tensor_get_type` (llama-quant.cpp) for the
 * targets in ftypes.ts, without an importance matrix, for dense (non-MoE) models. Tensors are visited in
 * file order, as llama.cpp does, because some choices depend on a tensor's index among its kind
 * (`use_more_bits`: the first and last eighth of the layers and every third one between).
 *
 * Example, Q4_K_M on a 16-layer llama: output.weight → Q6_K; attn_v and ffn_down of layers 0, 1, 4, 7,
 * 10, 13, 14, 15 → Q6_K; every other 2-D weight → Q4_K; norms stay F32.
 */
import { ggmlTypeTraits } from '../gguf/ggml-types.ts';
import { GgmlType } from '../gguf/types.ts';
import type { QuantTarget } from './ftypes.ts';

export interface PlanTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: readonly number[];
  type: GgmlType;
}

export interface PlanModel {
  arch: string;
  /** n_head / n_head_kv (1 when unknown). */
  nGqa: number;
}

/** llama.cpp's `use_more_bits(i, n)`. */
export function useMoreBits(i: number, n: number): boolean {
  return i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
}

/** Whether llama.cpp quantizes this tensor at all (2-D+ weights, not norms, position or type embeddings). */
export function isQuantizable(t: PlanTensor): boolean {
  if (!t.name.endsWith('weight') || t.dims.length < 2) return false;
  const skip = ['_norm.weight', 'ffn_gate_inp.weight', 'pos_embd', 'token_types', 'altup', 'laurel', 'per_layer_model_proj', 'rope_freqs'];
  return !skip.some((s) => t.name.includes(s));
}

/** A type whose block does not divide the row length falls back as llama.cpp's quantizer does. */
function fallback(type: GgmlType, rowLen: number): GgmlType {
  const block = ggmlTypeTraits(type)?.blockSize ?? 1;
  if (rowLen % block === 0) return type;
  switch (type) {
    case GgmlType.IQ4_XS:
      return rowLen % 32 === 0 ? GgmlType.IQ4_NL : GgmlType.F16;
    case GgmlType.Q2_K:
    case GgmlType.Q3_K:
      return rowLen % 32 === 0 ? GgmlType.Q4_0 : GgmlType.F16; // llama-quant.cpp tensor_type_fallback
    case GgmlType.Q4_K:
      return rowLen % 32 === 0 ? GgmlType.Q5_0 : GgmlType.F16;
    case GgmlType.Q5_K:
      return rowLen % 32 === 0 ? GgmlType.Q5_1 : GgmlType.F16;
    case GgmlType.Q6_K:
      return rowLen % 32 === 0 ? GgmlType.Q8_0 : GgmlType.F16;
    default:
      return GgmlType.F16;
  }
}

/** The type of every tensor for `target`, in the order given (file order). */
export function planTypes(tensors: readonly PlanTensor[], model: PlanModel, target: QuantTarget): Map<string, GgmlType> {
  const f = target.name;
  const hasOutput = tensors.some((t) => t.name === 'output.weight');
  const nAttnV = tensors.filter((t) => t.name.includes('attn_v.weight')).length;
  const nFfnDown = tensors.filter((t) => t.name.includes('ffn_down')).length;
  let iAttnV = 0;
  let iFfnDown = 0;
  const out = new Map<string, GgmlType>();
  const plain = f === 'F32' || f === 'F16' || f === 'BF16';

  for (const t of tensors) {
    if (!isQuantizable(t)) {
      out.set(t.name, t.type);
      continue;
    }
    let ty = target.base;
    const name = t.name;
    if (plain) {
      out.set(name, ty);
      continue;
    }
    if (name === 'output.weight' || (!hasOutput && name === 'token_embd.weight')) {
      const block = ggmlTypeTraits(ty)?.blockSize ?? 1;
      if (model.arch === 'falcon' || t.dims[0] % block !== 0) ty = GgmlType.Q8_0;
      else if (ty !== GgmlType.Q8_0) ty = GgmlType.Q6_K;
    } else if (name === 'token_embd.weight') {
      // unchanged for these targets
    } else if (name.includes('attn_v.weight')) {
      if (f === 'Q2_K') ty = model.nGqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (f === 'Q3_K_M') ty = iAttnV < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
      else if (f === 'Q3_K_L') ty = GgmlType.Q5_K;
      else if ((f === 'IQ4_NL' || f === 'IQ4_XS') && model.nGqa >= 4) ty = GgmlType.Q5_K;
      else if ((f === 'Q4_K_M' || f === 'Q5_K_M') && useMoreBits(iAttnV, nAttnV)) ty = GgmlType.Q6_K;
      else if (f === 'Q4_K_S' && iAttnV < 4) ty = GgmlType.Q5_K;
      iAttnV++;
    } else if (name.includes('ffn_down')) {
      const [i, n] = [iFfnDown, nFfnDown];
      const falcon = model.arch === 'falcon';
      if (f === 'Q2_K') ty = GgmlType.Q3_K;
      else if (f === 'Q3_K_M') ty = i < Math.trunc(n / 16) ? GgmlType.Q5_K : !falcon || useMoreBits(i, n) ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (f === 'Q3_K_L') ty = falcon ? GgmlType.Q4_K : GgmlType.Q5_K;
      else if (f === 'Q4_K_M') {
        if (falcon) ty = i < Math.trunc(n / 16) ? GgmlType.Q6_K : useMoreBits(i, n) ? GgmlType.Q5_K : GgmlType.Q4_K;
        else if (useMoreBits(i, n)) ty = GgmlType.Q6_K;
      } else if (i < Math.trunc(n / 8) && (f === 'IQ4_NL' || f === 'IQ4_XS')) ty = GgmlType.Q5_K;
      else if (f === 'Q5_K_M' && useMoreBits(i, n)) ty = GgmlType.Q6_K;
      else if (f === 'Q4_K_S' && !falcon && i < Math.trunc(n / 8)) ty = GgmlType.Q5_K;
      iFfnDown++;
    } else if (name.includes('attn_output.weight')) {
      if (model.arch !== 'falcon') {
        if (f === 'Q2_K') ty = GgmlType.Q3_K;
        else if (f === 'Q3_K_M') ty = GgmlType.Q4_K;
        else if (f === 'Q3_K_L') ty = GgmlType.Q5_K;
      } else if (f === 'Q3_K_L') ty = GgmlType.Q4_K;
    } else if (name.includes('attn_qkv.weight')) {
      if (f === 'Q3_K_M' || f === 'Q3_K_L') ty = GgmlType.Q4_K;
      else if (f === 'Q4_K_M') ty = GgmlType.Q5_K;
      else if (f === 'Q5_K_M') ty = GgmlType.Q6_K;
    }
    out.set(name, fallback(ty, t.dims[0]));
  }
  return out;
}
