/**
 * Engine.bench's `outRows` (bench/parallel.ts times an N-row forward with N logit rows, the work of a batched
 * decode step of N sequences): the prefill forward leaves the logits of its last `outRows` rows, the same as
 * `evaluate` gives for those positions (its own forward of the prompt with every row's logits; exact: a matmul
 * row does not depend on the others), and out-of-range values fail with ValidationError.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/index.ts';
import { ValidationError } from '../../src/errors.ts';
import type { Model } from '../../src/model/model.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-bench-out-rows');
const PATH = join(DIR, 'llama-q8.gguf');
let e: Engine;

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(PATH, { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5, type: 'Q8_0', tokenizer: tinyLlamaVocab(), seed: 31 });
  e = await createEngine({ model: PATH, threads: 1, numCtx: 128, numParallel: 4, logitRows: 8 });
});
afterAll(async () => {
  await e?.close();
});

describe('Engine.bench outRows', () => {
  it('leaves the logits of the last outRows prompt rows, as evaluate gives them', async () => {
    const V = e.info.nVocab;
    const prompt = Array.from({ length: 8 }, (_, i) => 3 + ((i * 37 + 11) % (V - 3)));
    const r = await e.bench({ promptTokens: prompt, nPredict: 0, outRows: 4 });
    expect(r.nPrompt).toBe(8);
    const logits = (e as unknown as { model: Model }).model.logits.slice(0, 4 * V);
    const ref = await e.evaluate(prompt);
    for (let j = 0; j < 4; j++) expect(Array.from(logits.subarray(j * V, (j + 1) * V))).toEqual(Array.from(ref[4 + j]));
    // Not the same rows as the first four positions (the check above can tell rows apart).
    expect(Array.from(logits.subarray(0, V))).not.toEqual(Array.from(ref[0]));
  });

  it('rejects outRows outside 1..min(last forward rows, max(logitRows, numParallel))', async () => {
    const prompt = [5, 6, 7];
    await expect(e.bench({ promptTokens: prompt, nPredict: 1, outRows: 4 })).rejects.toBeInstanceOf(ValidationError);
    await expect(e.bench({ promptTokens: prompt, nPredict: 1, outRows: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(e.bench({ promptTokens: [...prompt, ...prompt, ...prompt], nPredict: 1, outRows: 9 })).rejects.toBeInstanceOf(ValidationError);
    await expect(e.bench({ promptTokens: prompt, nPredict: 1, outRows: 3 })).resolves.toMatchObject({ nPrompt: 3, nDecode: 1 });
  });
});
