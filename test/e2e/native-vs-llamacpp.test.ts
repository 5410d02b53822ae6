/**
 * The native backend (the Rust core as a shared library over FFI, src/backend/native) against
 * llama.cpp: the golden check of llama-vs-llamacpp.test.ts (same synthetic llama files, prompt,
 * tolerances and reasoning) on the weight types a 1B-class model ships in: Q4_0, Q4_K_M's mix, Q8_0,
 * F16, GQA and MHA. Skipped where no native library exists for the platform.
 */
import { describe } from 'vitest';
import { nativeLibraryPresent } from '../../src/backend/native/core.ts';
import type { SynthWeightType } from '../../src/synth/llama.ts';
import { describeGolden, type GoldenModel } from '../helpers/golden.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const SHAPES = [
  { name: 'gqa', nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5 },
  { name: 'mha', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 640, residualScale: 0.15, qkScale: 0.5 },
] as const;
const TYPES: { name?: string; type: SynthWeightType; tol: number; typeOverrides?: Record<string, SynthWeightType> }[] = [
  { type: 'F16', tol: 2e-3 },
  { type: 'Q8_0', tol: 4e-2 },
  { type: 'Q4_0', tol: 4e-2 },
  { name: 'Q4_K_M', type: 'Q4_K', tol: 4e-2, typeOverrides: { 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' } },
];

const tokenizer = llama2VocabMetadata();
const models: GoldenModel[] = SHAPES.flatMap(({ name, ...shape }) =>
  TYPES.filter((t) => t.type !== 'Q4_K' || shape.nFf % 256 === 0).map((t) => ({
    label: `native-${name}-${t.name ?? t.type}`,
    spec: { ...shape, type: t.type, typeOverrides: t.typeOverrides, seed: 42, tokenizer },
    tol: t.tol,
  })),
);

if (nativeLibraryPresent()) {
  describeGolden('native backend: llama vs llama.cpp', 'tessera-e2e-native', models, {
    backend: 'native',
  });
} else {
  describe.skip('native backend: no native library for this platform', () => {});
}
