/**
 * The CUDA backend end to end on the host emulation (CPU, no GPU): a tiny synthetic llama through createEngine with
 * backend 'cuda' (the registry's cuda entry pointed at libtessera-cuda-emu.so), against the same file on the WASM
 * backend. This exercises what the op suite does not: weights uploaded at load, the host-visible ranges (token ids,
 * positions, page tables in; logits out) synchronised per forward, KV pages that never leave the device (no host
 * tier), prefix reuse across requests. The vocabulary is cut to 1024 tokens to keep the emulated output matmul short.
 *
 * Bounds, max |Δ logit| over every position and token (logits of magnitude ~5), and the greedy continuations
 * identical: F32 weights 1e-3 (measured 1.4e-4: f32 sums in other orders, attention dots in f32 here, f64 there);
 * Q4_0 and Q4_K_M 1e-1 (measured 3.6e-2 and 4.7e-2): both backends quantize the activations with ggml's Q8_0/Q8_K
 * numerics, so an f32 difference in the 6th digit now and then flips one 8-bit step (1/127 of a block's largest
 * value), and the flips propagate through the layers (the effect test/helpers/golden.ts's bounds allow for too).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/index.ts';
import { createCudaBackend } from '../../src/backend/cuda/index.ts';
import { registerBackend } from '../../src/hardware/select.ts';
import { GgufValueType, type GgufArrayValue, type GgufValue } from '../../src/gguf/types.ts';
import { writeSyntheticLlama, type SynthWeightType } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const DIR = join(tmpdir(), 'tessera-cuda-emu');
const N_VOCAB = 1024;

function smallVocab(): Record<string, GgufValue> {
  const meta = llama2VocabMetadata();
  for (const k of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
    const a = meta[k] as GgufArrayValue;
    meta[k] = { ...a, value: Array.prototype.slice.call(a.value, 0, N_VOCAB) } as GgufArrayValue;
  }
  void GgufValueType;
  return meta;
}

const PROMPT = [1, ...Array.from({ length: 23 }, (_, i) => 300 + ((i * 37) % 700))];
const TYPES: { type: SynthWeightType; tol: number; typeOverrides?: Record<string, SynthWeightType> }[] = [
  { type: 'F32', tol: 1e-3 },
  { type: 'Q4_0', tol: 1e-1 },
  { type: 'Q4_K', tol: 1e-1, typeOverrides: { 'output.weight': 'Q6_K', 'ffn_down.weight': 'Q6_K' } },
];

let restore: () => void;
beforeAll(() => {
  mkdirSync(DIR, { recursive: true });
  restore = registerBackend({
    kind: 'cuda',
    probe: () => ({ usable: true, reason: 'CUDA host emulation (test)' }),
    create: () => createCudaBackend({ library: 'emu', reserveMiB: 512 }),
  });
});
afterAll(() => restore?.());

describe.each(TYPES)('CUDA backend on the host emulation vs the WASM backend: $type', ({ type, tol, typeOverrides }) => {
  const path = join(DIR, `tiny-${type}.gguf`);
  let cuda: Engine;
  let wasm: Engine;
  beforeAll(async () => {
    await writeSyntheticLlama(path, { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 512, type, typeOverrides, seed: 5, tokenizer: smallVocab(), residualScale: 0.15, qkScale: 0.5 });
    const opts = { model: path, threads: 1, logitRows: PROMPT.length, numCtx: 128, tune: false } as const;
    cuda = await createEngine({ ...opts, backend: 'cuda' });
    wasm = await createEngine({ ...opts, backend: 'wasm' });
  }, 120_000);
  afterAll(async () => {
    await cuda?.close();
    await wasm?.close();
  });

  it('runs on the cuda backend', () => {
    expect(cuda.info.backend).toBe('cuda');
    expect(cuda.backendInfo.reason).toContain('CUDA host emulation');
  });

  it('logits at every prompt position match the WASM backend', async () => {
    const [a, b] = [await cuda.evaluate(PROMPT), await wasm.evaluate(PROMPT)];
    let max = 0;
    for (let i = 0; i < PROMPT.length; i++) for (let j = 0; j < N_VOCAB; j++) max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
    console.log(`cuda-emu ${type}: max |Δ logit| ${max.toExponential(2)}`);
    expect(max).toBeLessThanOrEqual(tol);
  }, 120_000);

  it('greedy continuations are identical, also when the second request reuses the cached prefix', async () => {
    const gen = async (e: Engine, prompt: number[]) => {
      const out: number[] = [];
      for await (const c of e.generate({ prompt, options: { temperature: 0, num_predict: 8, seed: 1 } })) if (c.token >= 0) out.push(c.token);
      return out;
    };
    const first = await gen(cuda, PROMPT);
    expect(first).toEqual(await gen(wasm, PROMPT));
    const longer = [...PROMPT, ...first.slice(0, 4)];
    expect(await gen(cuda, longer)).toEqual(await gen(wasm, longer));
  }, 120_000);
});
