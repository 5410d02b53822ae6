/**
 * The golden end-to-end check (test/helpers/golden.ts) of test/e2e/llama-vs-llamacpp.test.ts for the other 32-value block
 * types: Q5_0 and IQ4_NL (Q8_0 activations in both engines), Q4_1 and Q5_1 (Q8_1 activations),
 * on synthetic llama GGUF files (written with our quantizers, which are byte-exact with ggml's)
 * with the real Llama 2 vocabulary, against llama.cpp (node-llama-cpp 3.21.1). Same criteria and
 * the same 4e-2 log-prob tolerance as Q8_0/Q4_0 there (see that file for why 8-bit activation
 * rounding sets it): argmax equal at every prompt position except near-ties, max |Δ log-prob| over
 * llama.cpp's top 10 ≤ 4e-2, and a 32-token greedy continuation identical up to a near-tie.
 */

import { describeGolden, type GoldenModel } from '../helpers/golden.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const SHAPES = [
  { name: 'gqa', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5 },
  { name: 'mha', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 640, residualScale: 0.15, qkScale: 0.5 },
] as const;
const TYPES = ['Q5_0', 'IQ4_NL', 'Q4_1', 'Q5_1'] as const;

const tokenizer = llama2VocabMetadata();
const models: GoldenModel[] = SHAPES.flatMap(({ name, ...shape }) =>
  TYPES.map((type) => ({ label: `${name}-${type}`, spec: { ...shape, type, seed: 42, tokenizer }, tol: 4e-2 })),
);
describeGolden('llama, 32-value block types, vs llama.cpp', 'tessera-e2e-q32', models);
