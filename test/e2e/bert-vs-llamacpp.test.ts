/**
 * BERT and nomic-bert embeddings against llama.cpp (node-llama-cpp 3.21.1): synthetic encoders with llama.cpp's
 * own bert-bge WordPiece vocabulary (from the llama.cpp source node-llama-cpp ships), mean and [CLS]
 * pooling, F32 and F16 weights. For each text: the same token ids, and cosine(ours, llama.cpp's) ≥ 0.999
 * (the bound; measured values are printed).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { metadataValues } from '../../src/gguf/values.ts';
import { writeSyntheticBert } from '../../src/synth/index.ts';
import { openLlamaSrc, llamaSrcAvailable } from '../helpers/llama-src.ts';
import { runLlamaCppEmbed } from '../helpers/llamacpp.ts';

const DIR = join(tmpdir(), 'tessera-e2e-bert');
const TEXTS = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  'Äpfel und Birnen, naïve café résumé',
  'what is the capital of France?',
  '東京は日本の首都です',
  'def f(x): return x ** 2  # squares',
  'a',
  'Embeddings map text to vectors; similar texts land close together. ' .repeat(6),
];

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

const reports: Record<string, unknown>[] = [];
afterAll(() => console.table(reports));

describe.skipIf(!llamaSrcAvailable)('BERT embeddings vs llama.cpp (skipped without git or the llama.cpp bundle)', () => {
  let vocab: Awaited<ReturnType<typeof metadataValues>>;
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    const src = openLlamaSrc();
    try {
      const file = await openGguf(src.extract('models/ggml-vocab-bert-bge.gguf'));
      vocab = metadataValues(file, (k) => k.startsWith('tokenizer.'));
    } finally {
      src.close();
    }
  }, 60_000);

  for (const [arch, type, pooling] of [['bert', 'F32', 1], ['bert', 'F16', 1], ['bert', 'F32', 2], ['nomic-bert', 'F32', 1], ['nomic-bert', 'F16', 1]] as const) {
    it(`${arch} ${type}, ${pooling === 1 ? 'mean' : 'CLS'} pooling: same tokens, cosine ≥ 0.999`, async () => {
      const path = join(DIR, `${arch}-${type}-${pooling}.gguf`);
      await writeSyntheticBert(path, { arch, nEmbd: 256, nLayer: 3, nHead: 4, nFf: 1024, type, pooling, seed: 11, tokenizer: vocab });
      const [engine, ref] = await Promise.all([createEngine({ model: path, threads: 2 }), runLlamaCppEmbed({ model: path, texts: TEXTS, threads: 2 })]);
      try {
        const ours = await engine.embed(TEXTS);
        let worst = 1;
        for (let i = 0; i < TEXTS.length; i++) {
          expect(engine.tokenizer.encode(TEXTS[i], { addSpecial: false })).toEqual(ref.tokens[i]);
          worst = Math.min(worst, cosine(ours[i], ref.embeddings[i]));
        }
        reports.push({ model: `${arch}-${type}-${pooling === 1 ? 'mean' : 'cls'}`, worstCosine: worst, texts: TEXTS.length });
        expect(worst).toBeGreaterThanOrEqual(0.999);
        // Different texts give different vectors (the test could not pass with a constant output).
        expect(cosine(ours[0], ours[1])).toBeLessThan(0.99);
      } finally {
        await engine.close();
      }
    }, 120_000);
  }
});
