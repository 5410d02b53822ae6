/**
 * Synthetic vision models for engine and server tests: a Gemma 3 text model (F32, n_embd 64) whose vocabulary has
 * `<start_of_image>`/`<end_of_image>`, with a Gemma 3 projector (SigLIP, 32 px tiles, 16 soft tokens), and a llama
 * text model with an llava ('mlp') projector (16 soft tokens). Written once per process into `dir`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { writeSyntheticMmproj } from '../../src/synth/mmproj.ts';

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
