/**
 * Hyperparameters of the 2D-RoPE vision towers of llama.cpp mmproj files (`clip.*` keys, tools/mtmd/clip-impl.h):
 * - 'pixtral' (Mistral 3 / Pixtral): RMSNorm, SiLU-gated FFN, 2D RoPE (θ 10000, llama.cpp's build_rope_2d),
 *   optional k×k patch merger (clip.vision.spatial_merge_size, Mistral Small 3.1), mm.1 → GELU → mm.2,
 *   [IMG_BREAK] rows (v.token_embd.img_break).
 * - 'qwen2.5vl_merger' (Qwen2.5-VL): two temporal conv slices, RMSNorm, SiLU-gated FFN with biases, vision
 *   RoPE (ggml VISION mode), window attention (clip.vision.window_size pixels; block il attends the whole
 *   image when (il + 1) mod clip.vision.n_wa_pattern = 0, or when il is in clip.vision.wa_layer_indexes),
 *   post-RMSNorm, 2×2 merge: mm.0 → GELU → mm.2.
 * Images are dynamic: any width and height that are multiples of `unit` pixels, up to `maxPatches` patches.
 */
import type { GgufFile } from '../../gguf/reader.ts';
import { ModelFormatError } from '../../model/hparams.ts';

export type RopeVisionProjector = 'pixtral' | 'qwen2.5vl_merger';

export interface RopeVisionHParams {
  projector: RopeVisionProjector;
  /** Largest image side (clip.vision.image_size). */
  imageSize: number;
  patchSize: number;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  headDim: number;
  eps: number;
  ropeTheta: number;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Patches per merged token side (pixtral: spatial_merge_size, 1 = none; qwen: 2). */
  merge: number;
  /** Image sides must be multiples of this many pixels (patch · merge). */
  unit: number;
  /** qwen: window side in merge units (0: no window attention), and which blocks attend the whole image. */
  windowGrid: number;
  fullAttn: boolean[];
  nOut: number;
}

export const ROPE_PROJECTORS: readonly RopeVisionProjector[] = ['pixtral', 'qwen2.5vl_merger'];

export function isRopeVisionFile(file: GgufFile): boolean {
  const p = file.getStr('clip.vision.projector_type', file.getStr('clip.projector_type', ''));
  return (ROPE_PROJECTORS as readonly string[]).includes(p);
}

export function readRopeVisionHParams(file: GgufFile): RopeVisionHParams {
  const bad = (m: string) => new ModelFormatError(file.path, m);
  const projector = file.getStr('clip.vision.projector_type', file.getStr('clip.projector_type', '')) as RopeVisionProjector;
  if (!ROPE_PROJECTORS.includes(projector)) throw bad(`clip.projector_type '${projector}' is not a 2D-RoPE tower (${ROPE_PROJECTORS.join(', ')})`);
  if (!file.getBool('clip.has_vision_encoder', true)) throw bad('the file has no vision encoder (clip.has_vision_encoder is false)');
  // The towers use a SiLU-gated FFN (clip.use_silu; files that lack the key still carry ffn_gate).
  if (!file.getBool('clip.use_silu', false) && !file.tensorByName.has('v.blk.0.ffn_gate.weight')) {
    throw bad(`${projector}: only the SiLU-gated FFN (clip.use_silu, v.blk.N.ffn_gate) is supported`);
  }
  const u = (k: string) => file.getU32(`clip.vision.${k}`);
  const patchSize = u('patch_size');
  const nEmbd = u('embedding_length');
  const nHead = u('attention.head_count');
  const nLayer = u('block_count');
  if (!nHead || nEmbd % nHead) throw bad(`clip.vision.embedding_length ${nEmbd} is not a multiple of head_count ${nHead}`);
  const headDim = nEmbd / nHead;
  const qwen = projector === 'qwen2.5vl_merger';
  if (headDim % 4) throw bad(`head size ${headDim} is not a multiple of 4 (2D RoPE)`);
  const triple = (k: string): [number, number, number] => {
    const a = file.getArr(`clip.vision.${k}`).map(Number);
    if (a.length !== 3 || a.some((v) => !Number.isFinite(v))) throw bad(`clip.vision.${k} must hold 3 numbers`);
    return [a[0]!, a[1]!, a[2]!];
  };
  const merge = qwen ? 2 : Math.max(1, file.getU32('clip.vision.spatial_merge_size', 1));
  const fullAttn = Array.from({ length: nLayer }, () => true);
  let windowGrid = 0;
  if (qwen) {
    const pattern = file.getU32('clip.vision.n_wa_pattern', 0);
    const indexes = file.metadata.has('clip.vision.wa_layer_indexes') ? file.getArr('clip.vision.wa_layer_indexes').map(Number) : null;
    if (pattern > 0 || indexes) {
      const win = file.getU32('clip.vision.window_size', 112);
      windowGrid = Math.floor(win / patchSize / 2);
      if (windowGrid < 1) throw bad(`clip.vision.window_size ${win} is smaller than one merge unit`);
      for (let il = 0; il < nLayer; il++) fullAttn[il] = indexes ? indexes.includes(il) : (il + 1) % pattern === 0;
    }
  }
  const out = file.tensorByName.get('mm.2.weight');
  if (!out) throw bad("missing tensor 'mm.2.weight'");
  return {
    projector, imageSize: u('image_size'), patchSize, nEmbd, nFf: u('feed_forward_length'), nLayer, nHead, headDim,
    eps: file.getF32('clip.vision.attention.layer_norm_epsilon', qwen ? 1e-6 : 1e-5),
    ropeTheta: 10000,
    imageMean: triple('image_mean'), imageStd: triple('image_std'),
    merge, unit: patchSize * merge, windowGrid, fullAttn,
    nOut: out.dims[1]!,
  };
}
