/**
 * What distinguishes the members of the llama family that share src/model/llama.ts's graph, read from a
 * GGUF's metadata the way llama.cpp's llama-model.cpp does for each architecture:
 *
 * | arch          | RoPE | FFN    | extra                                                                |
 * |---------------|------|--------|----------------------------------------------------------------------|
 * | llama/mistral | norm | SwiGLU |                                                                      |
 * | qwen2         | NeoX | SwiGLU | q/k/v biases (tensors)                                               |
 * | qwen2vl       | M-RoPE | SwiGLU | qwen2 with M-RoPE: rope.dimension_sections over (t, h, w) positions |
 * | qwen3         | NeoX | SwiGLU | q/k RMSNorm (tensors)                                                |
 * | phi3          | NeoX | SwiGLU | fused qkv and gate/up (tensors); its sliding window ignored, as llama.cpp does |
 * | gemma2        | NeoX | GEGLU  | ×√n_embd embeddings, post-norms, window on even layers, soft caps    |
 * | gemma3        | NeoX | GEGLU  | ×√n_embd, post-norms, q/k norm, window on 5 of 6 layers (base 10000) |
 */
import type { GgufFile } from '../gguf/reader.ts';
import { type HParams, ModelFormatError } from './hparams.ts';

export interface LayerFeatures {
  /** Sliding window of this layer's attention (0: none). */
  window: number;
  ropeBase: number;
  ropeScale: number;
}

export interface FamilyFeatures {
  neoxRope: boolean;
  ffn: 'swiglu' | 'geglu';
  /** Multiplier of the token embeddings (Gemma: √n_embd, rounded to f32 as ggml's sqrtf). */
  embedScale: number;
  /** attention scale of q·k. */
  attnScale: number;
  /** Soft cap of attention scores (0: none). */
  attnSoftcap: number;
  /** Soft cap of the output logits (0: none). */
  finalSoftcap: number;
  layers: LayerFeatures[];
  /** M-RoPE sections (t, h, w, e) in rotated pairs (qwen2vl's rope.dimension_sections), or null: 1D RoPE. */
  ropeSections: [number, number, number, number] | null;
}

const NEOX = new Set(['qwen2', 'qwen2vl', 'qwen3', 'phi3', 'gemma2', 'gemma3']);

export function familyFeatures(file: GgufFile, hp: HParams): FamilyFeatures {
  const a = hp.arch;
  const k = (s: string) => `${a}.${s}`;
  const gemma = a === 'gemma2' || a === 'gemma3';
  // llama.cpp: the 27B Gemmas scale q by 1/√(n_embd/n_head), the others by 1/√head_dim.
  const is27b = (a === 'gemma2' && hp.nLayer === 46) || (a === 'gemma3' && hp.nLayer === 62);
  const attnScale = 1 / Math.sqrt(is27b ? hp.nEmbd / hp.nHead : hp.headDim);
  let window = 0;
  let swa = (_il: number) => false;
  if (a === 'gemma2') {
    window = file.getU32(k('attention.sliding_window'), 4096);
    swa = (il) => il % 2 === 0;
  } else if (a === 'gemma3') {
    window = file.getU32(k('attention.sliding_window'), 0);
    swa = (il) => il % 6 < 5;
  }
  // phi3: llama.cpp reads phi3.attention.sliding_window but disables Phi SWA ("results might be
  // suboptimal", llama.cpp PR 13676); we follow it, so logits match llama.cpp's.
  const layers: LayerFeatures[] = [];
  for (let il = 0; il < hp.nLayer; il++) {
    const local = window > 0 && swa(il);
    // Gemma 3's local layers use their own RoPE base, unscaled (llama.cpp rope_freq_base_train_swa).
    const localRope = a === 'gemma3' && local;
    layers.push({
      window: local ? window : 0,
      ropeBase: localRope ? file.getF32(k('rope.freq_base_swa'), 10000) : hp.ropeBase,
      ropeScale: localRope ? 1 : hp.ropeScale,
    });
  }
  return {
    neoxRope: NEOX.has(a),
    ffn: gemma ? 'geglu' : 'swiglu',
    embedScale: gemma ? Math.fround(Math.sqrt(hp.nEmbd)) : 1,
    attnScale,
    attnSoftcap: a === 'gemma2' ? file.getF32(k('attn_logit_softcapping'), 50) : 0,
    finalSoftcap: a === 'gemma2' ? file.getF32(k('final_logit_softcapping'), 30) : 0,
    layers,
    ropeSections: a === 'qwen2vl' ? readSections(file, k('rope.dimension_sections'), hp.nRot) : null,
  };
}

function readSections(file: GgufFile, key: string, nRot: number): [number, number, number, number] {
  const s = file.getArr(key).map(Number);
  while (s.length < 4) s.push(0);
  const sum = s.slice(0, 4).reduce((a, b) => a + b, 0);
  if (s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffff) || sum < 1 || sum > nRot / 2) throw new ModelFormatError(file.path, `${key} [${s.join(', ')}] must be 4 counts of rotated pairs summing to 1..${nRot / 2}`);
  return [s[0]!, s[1]!, s[2]!, s[3]!];
}
