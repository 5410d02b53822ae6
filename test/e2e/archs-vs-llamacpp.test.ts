/**
 * Llama-family architectures beyond llama against llama.cpp (node-llama-cpp 3.21.1), with the golden
 * suite of test/helpers/golden.ts that test/e2e/llama-vs-llamacpp.test.ts uses for llama:
 * - mistral3 (Mistral Small 3.x text): the llama graph under its own name;
 * - qwen2: biases on q/k/v, NeoX RoPE;
 * - qwen3: per-head RMSNorm of q and k before RoPE, head size independent of n_embd (here 64 with
 *   n_embd 256 and 8 heads, so q is 512 wide), NeoX RoPE;
 * - phi3: q/k/v in one attn_qkv matrix, gate and up in one ffn_up, NeoX RoPE; and a file with a sliding
 *   window, which llama.cpp ignores for phi3 (so must we);
 * - gemma2: GEGLU, post-norms, √n_embd embeddings, tied output, a 24-position window on even layers,
 *   attention and final soft caps small enough (1.5, 4) to matter;
 * - gemma3: q/k norms, windows on 5 of 6 layers with their own RoPE base.
 */

import { describeGolden, type GoldenModel } from '../helpers/golden.ts';
import { llama2VocabMetadata, phi3VocabMetadata } from '../fixtures/vocab.ts';

const MODELS = [
  { arch: 'mistral3', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768 },
  { arch: 'qwen2', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768 },
  { arch: 'qwen3', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 4, nFf: 768, headDim: 64 },
  { arch: 'phi3', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 640 },
  { arch: 'phi3', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 640, window: 24, name: 'phi3-window' },
  { arch: 'gemma2', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 4, nFf: 768, headDim: 64, window: 24, attnSoftcap: 1.5, finalSoftcap: 4, tieEmbeddings: true },
  { arch: 'gemma3', nEmbd: 256, nLayer: 6, nHead: 8, nHeadKv: 4, nFf: 768, headDim: 64, window: 24, tieEmbeddings: true },
] as const;
// Float weights only: the architectures' graphs are what is checked here, at the tight tolerance; the
// quantized kernels (and why their tolerance is looser) are test/e2e/llama-vs-llamacpp.test.ts's subject.
// Gemma's GELU goes through ggml's f16 table, whose roundings flip like the 8-bit ones there (less
// often, by less): on gemma3-F16 llama.cpp with flash attention differs from llama.cpp without it by
// 7.9e-3. The bound is therefore max(tol, 1.25 × that spread), measured on each file.
const TYPES = [
  { type: 'F32', tol: 2e-3 },
  { type: 'F16', tol: 2e-3 },
] as const;

const models: GoldenModel[] = MODELS.flatMap((m) =>
  TYPES.map(({ type, tol }) => {
    const label = `${'name' in m ? m.name : m.arch}-${type}`;
    const tokenizer = m.arch === 'phi3' ? phi3VocabMetadata() : llama2VocabMetadata();
    return { label, spec: { ...m, residualScale: 0.15, qkScale: 0.5, type, seed: 42, tokenizer }, tol, spreadBound: true };
  }),
);
describeGolden('llama-family architectures vs llama.cpp', 'tessera-e2e-archs', models);
