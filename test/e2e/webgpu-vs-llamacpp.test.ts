/**
 * The golden end-to-end check (test/helpers/golden.ts) on the WebGPU backend (Node: Dawn in OpenGL mode over Mesa's
 * llvmpipe, as in CI): our logits at every position of a 64-token prompt and a 32-token greedy continuation
 * against llama.cpp (node-llama-cpp, CPU) on the same synthetic llama files, F16 KV cache.
 *
 * Bounds (max |Δ log-prob| over llama.cpp's top 10), as llama-vs-llamacpp.test.ts: 2e-3 for F32/F16 weights, 4e-2
 * for the block types (see there). The GPU dequantizes the weights and dots in f32, after rounding the activations
 * as llama.cpp's CPU matmul does for the weight type (f16 for F16, 8-bit Q8_0 blocks for the 32-blocks, Q8_K for
 * the K-quants: WebGpuBackendOptions.llamaCppActivations); q and the softmax weights are rounded to f16 for the F16
 * cache as in llama.cpp's non-flash attention. Without the activation rounding the differences were 2.6e-3 (F16),
 * 6.6e-2 (Q8_0, Q4_0) and 1.1e-1 (Q4_K_M), the size of the rounding itself. Q4_0 and the other weight types are
 * checked op by op (test/webgpu/ops.test.ts); this file keeps to four models for CI time (llvmpipe is slow).
 */
import { vi } from 'vitest';
import type { SynthWeightType } from '../../src/synth/llama.ts';
import { describeGolden, type GoldenModel } from '../helpers/golden.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

vi.setConfig({ testTimeout: 300_000 }); // llvmpipe: a 32-token greedy run took 16-120 s on this shared machine

const SHAPE = { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5 };
const TYPES: { name?: string; type: SynthWeightType; tol: number; spreadBound?: boolean; typeOverrides?: Record<string, SynthWeightType> }[] = [
  { type: 'F32', tol: 2e-3 },
  { type: 'F16', tol: 2e-3 },
  { type: 'Q8_0', tol: 4e-2 },
  // K-quants: ggml sums each super-block's integer products exactly and scales them in f32 (ABI.md K-quants); the GPU
  // sums f32 products of the same values, so roundings flip now and then and the flips propagate, as with BF16 in
  // llama-vs-llamacpp.test.ts: bounded by llama.cpp's own flash-attention spread (measured 5.9e-2 vs a spread of 8.3e-2).
  { name: 'Q4_K_M', type: 'Q4_K', tol: 4e-2, spreadBound: true, typeOverrides: { 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' } },
];
const tokenizer = llama2VocabMetadata();
const models: GoldenModel[] = TYPES.map((t) => ({
  label: `gqa-${t.name ?? t.type}`,
  spec: { ...SHAPE, type: t.type, typeOverrides: t.typeOverrides, seed: 42, tokenizer },
  tol: t.tol,
  spreadBound: t.spreadBound,
}));
describeGolden('llama on WebGPU vs llama.cpp', 'tessera-e2e-webgpu', models, { backend: 'webgpu' });
