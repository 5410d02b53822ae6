/**
 * Synthetic vision models for engine and server tests: a Gemma 3 text model (F32, n_embd 64) whose vocabulary has
 * `<start_of_image>`/`<end_of_image>`, with a Gemma 3 projector (SigLIP, 32 px tiles, 16 soft tokens), a llama
 * text model with an llava ('mlp') projector (16 soft tokens), a qwen2vl text model with a Qwen2.5-VL projector and
 * a mistral3 text model with a Mistral 3 (pixtral) projector. Written once per process into `dir`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { writeSyntheticMmproj } from '../../src/synth/mmproj.ts';
import { writeSyntheticRopeMmproj } from '../../src/synth/mmproj-rope.ts';

export const N_EMBD = 64;
/** Soft tokens per image block (both projectors). */
export const N_SOFT = 16;

export interface VisionFiles {
  model: string;
  projector: string;
}

export async function writeGemma3Vision(dir: string, name = 'gemma3v'): Promise<VisionFiles> {
  const model = join(dir, `${name}.gguf`);
  const projector = join(dir, `${name}.mmproj.gguf`);
  if (!existsSync(model)) {
    const vocab = tinyLlamaVocab(['▁', '▁the', '▁a', 'e', 't', '▁hello', '▁world', 'he', 'll', 'o', '<start_of_image>', '<end_of_image>']);
    await writeSyntheticLlama(model, { arch: 'gemma3', nEmbd: N_EMBD, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 31, tokenizer: vocab });
    // 32 px / patch 4 = 8×8 patches, pooled 2×2 → 16 soft tokens.
    await writeSyntheticMmproj(projector, { projector: 'gemma3', imageSize: 32, patchSize: 4, nEmbd: 32, nFf: 64, nLayer: 1, nHead: 2, nOut: N_EMBD, mergeSize: 2, seed: 5 });
  }
  return { model, projector };
}

export async function writeLlavaVision(dir: string, name = 'llavav'): Promise<VisionFiles> {
  const model = join(dir, `${name}.gguf`);
  const projector = join(dir, `${name}.mmproj.gguf`);
  if (!existsSync(model)) {
    await writeSyntheticLlama(model, { arch: 'llama', nEmbd: N_EMBD, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 32, tokenizer: tinyLlamaVocab() });
    // 16 px / patch 4 = 4×4 patches (+ class token, dropped) → 16 soft tokens.
    await writeSyntheticMmproj(projector, { projector: 'mlp', imageSize: 16, patchSize: 4, nEmbd: 32, nFf: 64, nLayer: 2, nHead: 2, nOut: N_EMBD, seed: 6 });
  }
  return { model, projector };
}

/**
 * A qwen2vl text model (M-RoPE) whose vocabulary has `<|vision_start|>`, `<|vision_end|>`, `<|image_pad|>`, with a
 * Qwen2.5-VL projector (patch 4, 2×2 merge: unit 8 px; at most 32×32 px per block; 2 blocks, block 1 windowed in
 * 2×2 merge units). A 24×16 image is 3×2 tokens.
 */
export async function writeQwenVision(dir: string, name = 'qwenv'): Promise<VisionFiles> {
  const model = join(dir, `${name}.gguf`);
  const projector = join(dir, `${name}.mmproj.gguf`);
  if (!existsSync(model)) {
    const vocab = tinyLlamaVocab(['▁', '▁the', '▁a', 'e', 't', '▁hello', '▁world', 'he', 'll', 'o', '<|vision_start|>', '<|vision_end|>', '<|image_pad|>']);
    await writeSyntheticLlama(model, { arch: 'qwen2vl', nEmbd: N_EMBD, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 33, tokenizer: vocab });
    await writeSyntheticRopeMmproj(projector, { projector: 'qwen2.5vl_merger', imageSize: 32, patchSize: 4, nEmbd: 32, nFf: 64, nLayer: 2, nHead: 2, nOut: N_EMBD, waPattern: 2, windowSize: 16, seed: 7 });
  }
  return { model, projector };
}

/**
 * A mistral3 text model whose vocabulary has `[IMG]`, `[IMG_BREAK]`, `[IMG_END]`, with a Mistral 3 (pixtral, 2×2
 * patch merger) projector (patch 4: unit 8 px, longest side 32 px). A 24×16 image is 2 rows of 3 tokens + 1 break row.
 */
export async function writePixtralVision(dir: string, name = 'pixtralv'): Promise<VisionFiles> {
  const model = join(dir, `${name}.gguf`);
  const projector = join(dir, `${name}.mmproj.gguf`);
  if (!existsSync(model)) {
    const vocab = tinyLlamaVocab(['▁', '▁the', '▁a', 'e', 't', '▁hello', '▁world', 'he', 'll', 'o', '[IMG]', '[IMG_BREAK]', '[IMG_END]']);
    await writeSyntheticLlama(model, { arch: 'mistral3', nEmbd: N_EMBD, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 34, tokenizer: vocab });
    await writeSyntheticRopeMmproj(projector, { projector: 'pixtral', imageSize: 32, patchSize: 4, nEmbd: 32, nFf: 64, nLayer: 2, nHead: 2, nOut: N_EMBD, merge: 2, seed: 8 });
  }
  return { model, projector };
}
