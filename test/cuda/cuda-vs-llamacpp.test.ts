/**
 * The golden end-to-end check (test/helpers/golden.ts) on the CUDA backend: our logits at every position of a
 * 64-token prompt and a 32-token greedy continuation against llama.cpp (CPU) on the same synthetic llama files,
 * F16 KV cache. Needs a GPU: skipped with the reason otherwise.
 *
 * On the lent GPU machine node-llama-cpp is not installed, so test/cuda/run-on-gpu.sh sets TESSERA_ORACLE_DIR to
 * test/fixtures/oracle-cuda: llama.cpp's answers for these exact files (keyed by the files' bytes), recorded on a
 * machine that has it by `TESSERA_ORACLE_DIR=test/fixtures/oracle-cuda TESSERA_ORACLE_RECORD=1 npx vitest run
 * test/cuda/cuda-vs-llamacpp.test.ts` (without a GPU that run checks the same models on the WASM backend while
 * recording, so the recording itself is checked against our reference path).
 *
 * Bounds (max |Δ log-prob| over llama.cpp's top 10), as webgpu-vs-llamacpp.test.ts: 2e-3 for F16 weights, 4e-2 for
 * the block types; Q4_K_M bounded by llama.cpp's own flash-attention spread. The kernels round the activations as
 * llama.cpp's CPU matmul does (Q8_0 blocks for Q8_0/Q4_0, Q8_K for the K-quants, f16 for F16) and round q and the
 * softmax weights to f16 for the F16 cache, as its non-flash attention does.
 */
import { describe, vi } from 'vitest';
import type { SynthWeightType } from '../../src/synth/llama.ts';
import { describeGolden, type GoldenModel } from '../helpers/golden.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';
import { cudaGpu } from './gpu.ts';

vi.setConfig({ testTimeout: 300_000 });

const SHAPE = { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5 };
const TYPES: { name?: string; type: SynthWeightType; tol: number; spreadBound?: boolean; typeOverrides?: Record<string, SynthWeightType> }[] = [
  { type: 'F16', tol: 2e-3 },
  { type: 'Q8_0', tol: 4e-2 },
  { type: 'Q4_0', tol: 4e-2 },
  { name: 'Q4_K_M', type: 'Q4_K', tol: 4e-2, spreadBound: true, typeOverrides: { 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' } },
];
const tokenizer = llama2VocabMetadata();
const models: GoldenModel[] = TYPES.map((t) => ({
  label: `cuda-gqa-${t.name ?? t.type}`,
  spec: { ...SHAPE, type: t.type, typeOverrides: t.typeOverrides, seed: 42, tokenizer },
  tol: t.tol,
  spreadBound: t.spreadBound,
}));

const probe = await cudaGpu();
if (probe.gpu) {
  describeGolden(`llama on CUDA (${probe.reason}) vs llama.cpp`, 'tessera-e2e-cuda', models, { backend: 'cuda' });
} else if (process.env.TESSERA_ORACLE_RECORD === '1') {
  console.log(`no CUDA device: ${probe.reason}; recording llama.cpp's answers, checked against the WASM backend`);
  describeGolden('recording llama.cpp for the CUDA run (checked on the WASM backend)', 'tessera-e2e-cuda', models, { backend: 'wasm' });
} else {
  console.log(`test/cuda/cuda-vs-llamacpp: skipped: no CUDA device: ${probe.reason}`);
  describe.skip(`llama on CUDA vs llama.cpp: no CUDA device: ${probe.reason}`, () => {});
}
