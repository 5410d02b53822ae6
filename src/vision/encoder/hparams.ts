/**
 * Hyperparameters of a llama.cpp mmproj vision tower (`clip.*` keys, tools/mtmd/clip-impl.h).
 *
 * Supported projectors:
 * - 'mlp' (llava 1.5 and friends): CLIP ViT with a class token and pre-LN; llama.cpp runs the first
 *   n_layer − 1 blocks (the llava feature layer is the second to last), then post-LN if present, drops the
 *   class token and applies mm.0 → GELU → mm.2.
 * - 'gemma3': SigLIP without class token, all blocks, post-LN, then a k×k average pool of the patch grid
 *   (k = clip.vision.projector.scale_factor, default 4), RMSNorm (mm.soft_emb_norm) and mm.input_projection.
 */
import type { GgufFile } from '../../gguf/reader.ts';
import { ModelFormatError } from '../../model/hparams.ts';

export type VisionProjector = 'mlp' | 'gemma3';
export type VisionFfnAct = 'gelu' | 'gelu_quick';

export interface VisionHParams {
  projector: VisionProjector;
  imageSize: number; // pixels per side of one tile
  patchSize: number;
  nEmbd: number;
  nFf: number;
  /** Blocks in the file. */
  nLayer: number;
  /** Blocks run (mlp: nLayer − 1, as llama.cpp). */
  nLayerRun: number;
  nHead: number;
  headDim: number;
  eps: number;
  ffnAct: VisionFfnAct;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  patchesPerSide: number;
  nPatches: number;
  /** Rows per tile in the trunk: patches (+1 with a class token, which comes first). */
  nPos: number;
  hasClassToken: boolean;
  /** gemma3: pooling kernel per side (1 for mlp). */
  merge: number;
  /** Output embeddings per tile. */
  nTokens: number;
  /** Width of one output embedding (the text model's n_embd). */
  nOut: number;
}

const SUPPORTED: readonly VisionProjector[] = ['mlp', 'gemma3'];

export function readVisionHParams(file: GgufFile): VisionHParams {
  const bad = (m: string) => new ModelFormatError(file.path, m);
  const projector = file.getStr('clip.vision.projector_type', file.getStr('clip.projector_type', '')) as VisionProjector;
  if (!SUPPORTED.includes(projector)) throw bad(`clip.projector_type '${projector}' is not supported (supported: ${SUPPORTED.join(', ')})`);
  if (!file.getBool('clip.has_vision_encoder', true)) throw bad('the file has no vision encoder (clip.has_vision_encoder is false)');
  const u = (k: string) => file.getU32(`clip.vision.${k}`);
  const imageSize = u('image_size');
  const patchSize = u('patch_size');
  const nEmbd = u('embedding_length');
  const nHead = u('attention.head_count');
  const nLayer = u('block_count');
  if (!patchSize || imageSize % patchSize) throw bad(`clip.vision.image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  if (!nHead || nEmbd % nHead) throw bad(`clip.vision.embedding_length ${nEmbd} is not a multiple of head_count ${nHead}`);
  const triple = (k: string): [number, number, number] => {
    const a = file.getArr(`clip.vision.${k}`).map(Number);
    if (a.length !== 3 || a.some((v) => !Number.isFinite(v))) throw bad(`clip.vision.${k} must hold 3 numbers`);
    return [a[0]!, a[1]!, a[2]!];
  };
  const useGelu = file.getBool('clip.use_gelu', false);
  if (file.getBool('clip.use_silu', false)) throw bad('clip.use_silu (SiLU FFN) is not supported');
  const side = imageSize / patchSize;
  const gemma = projector === 'gemma3';
  const merge = gemma ? file.getU32('clip.vision.projector.scale_factor', 4) : 1;
  if (!merge || side % merge) throw bad(`patches per side ${side} is not a multiple of the pooling kernel ${merge}`);
  const nLayerRun = gemma ? nLayer : nLayer - 1;
  if (nLayerRun < 1) throw bad(`clip.vision.block_count ${nLayer} is too small`);
  const nPatches = side * side;
  const hasClassToken = file.tensorByName.has('v.class_embd');
  const mmOut = gemma ? 'mm.input_projection.weight' : 'mm.2.weight';
  const out = file.tensorByName.get(mmOut) ?? (gemma ? undefined : file.tensorByName.get('mm.0.weight'));
  if (!out) throw bad(`missing tensor '${mmOut}'`);
  return {
    projector, imageSize, patchSize, nEmbd, nFf: u('feed_forward_length'), nLayer, nLayerRun, nHead, headDim: nEmbd / nHead,
    eps: file.getF32('clip.vision.attention.layer_norm_epsilon', 1e-6),
    ffnAct: useGelu ? 'gelu' : 'gelu_quick',
    imageMean: triple('image_mean'), imageStd: triple('image_std'),
    patchesPerSide: side, nPatches, nPos: nPatches + (hasClassToken ? 1 : 0), hasClassToken, merge,
    nTokens: nPatches / (merge * merge),
    nOut: gemma ? out.dims[0]! : out.dims[1]!,
  };
}
