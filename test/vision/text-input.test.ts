/**
 * Image embeddings into a Gemma 3 text model (synthetic, F32):
 * - embedding rows equal to the scaled token embeddings reproduce the token path's logits (the copy and the
 *   "no √n_embd scale on embedding input" rule), causal;
 * - bidirectional image rows: an earlier image row sees a later one, text before the image does not;
 * - end to end: a Gemma 3 encoder's soft tokens between <start_of_image> and <end_of_image> change the logits
 *   with the image.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { openGguf, readTensor } from '../../src/gguf/reader.ts';
import { dequantize } from '../../src/gguf/quant.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { writeSyntheticMmproj } from '../../src/synth/mmproj.ts';
import { VisionEncoder } from '../../src/vision/encoder/index.ts';
import { gemma3ImageTokens, prefillWithImage } from '../../src/vision/text-input.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';

const DIR = join(tmpdir(), `tessera-vision-text-${process.pid}`);
mkdirSync(DIR, { recursive: true });
const N_EMBD = 64;
const N_TOK = 12;

let be: WasmBackend;
let model: LlamaModel;
let tokEmbd: Float32Array; // [n_vocab][n_embd]
beforeAll(async () => {
  be = await WasmBackend.create({ threads: 1 });
  const path = join(DIR, 'gemma3.gguf');
  await writeSyntheticLlama(path, { arch: 'gemma3', nEmbd: N_EMBD, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 21, tokenizer: tinyLlamaVocab() });
  const file = await openGguf(path);
  model = await LlamaModel.load(file, be, { nCtx: 64, maxTokens: 16, logitRows: 16 });
  model.enableEmbeddingInput();
  const info = file.tensorByName.get('token_embd.weight')!;
  tokEmbd = dequantize(info.type, await readTensor(file, info), info.dims[0]! * info.dims[1]!);
});
afterAll(async () => {
  await be?.close();
});

const ids = () => Int32Array.from({ length: N_TOK }, (_, i) => 3 + ((i * 7) % 20));

async function run(tokens: Int32Array, emb: { start: number; rows: Float32Array; bidirectional: boolean } | null): Promise<Float32Array> {
  model.inputTokens.set(tokens);
  for (let i = 0; i < tokens.length; i++) model.inputPositions[i] = i;
  if (emb) {
    model.enableEmbeddingInput().set(emb.rows, emb.start * N_EMBD);
    model.embeddingRows = { start: emb.start, n: emb.rows.length / N_EMBD, bidirectional: emb.bidirectional };
  }
  await model.forward(tokens.length, tokens.length, tokens.length);
  model.embeddingRows = null;
  return Float32Array.from(model.logits.subarray(0, tokens.length * model.hp.nVocab));
}

const maxDiff = (a: Float32Array, b: Float32Array, r0: number, r1: number, n: number) => {
  let m = 0;
  for (let i = r0 * n; i < r1 * n; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('a vision encoder sharing the text model\'s backend', () => {
  it('reserve only grows the scratch (the encoder loaded second must not shrink the text model\'s)', async () => {
    const b = await WasmBackend.create({ threads: 1 });
    b.reserve({ maxTokens: 64, maxRowLen: 256, maxKv: 4096 });
    const big = b.bytesAllocated();
    b.reserve({ maxTokens: 8, maxRowLen: 32, maxKv: 16 });
    expect(b.bytesAllocated()).toBe(big);
    b.reserve({ maxTokens: 128, maxRowLen: 256, maxKv: 16 });
    expect(b.bytesAllocated()).toBe(big + 128 * 256 * 4);
    await b.close();
  });
});

describe('embedding input (LlamaModel.embeddingRows)', () => {
  it('rows = √n_embd · token embeddings reproduce the token path (causal)', async () => {
    const t = ids();
    const base = await run(t, null);
    const start = 4, n = 5;
    const rows = new Float32Array(n * N_EMBD);
    for (let r = 0; r < n; r++) for (let e = 0; e < N_EMBD; e++) rows[r * N_EMBD + e] = Math.fround(Math.sqrt(N_EMBD)) * tokEmbd[t[start + r]! * N_EMBD + e]!;
    const viaEmb = await run(t, { start, rows, bidirectional: false });
    expect(maxDiff(base, viaEmb, 0, N_TOK, model.hp.nVocab)).toBeLessThanOrEqual(1e-4);
    // rows left unscaled would differ (the scale is skipped for embedding input)
    const unscaled = rows.map((v) => v / Math.sqrt(N_EMBD));
    expect(maxDiff(base, await run(t, { start, rows: unscaled, bidirectional: false }), start, N_TOK, model.hp.nVocab)).toBeGreaterThan(1e-3);
  });

  it('bidirectional image rows see later image rows; text before the image sees none', async () => {
    const t = ids();
    const start = 3, n = 6, V = model.hp.nVocab;
    const r = mulberry32(9);
    const rows = Float32Array.from({ length: n * N_EMBD }, () => 4 * r() - 2);
    const changed = rows.slice();
    for (let e = 0; e < N_EMBD; e++) changed[(n - 1) * N_EMBD + e]! += 1; // perturb the last image row
    const a = await run(t, { start, rows, bidirectional: true });
    const b = await run(t, { start, rows: changed, bidirectional: true });
    expect(maxDiff(a, b, 0, start, V)).toBe(0); // text before the image: unaffected
    expect(maxDiff(a, b, start, start + 1, V)).toBeGreaterThan(1e-4); // first image row sees the last
    const c = await run(t, { start, rows, bidirectional: false });
    const d = await run(t, { start, rows: changed, bidirectional: false });
    expect(maxDiff(c, d, 0, start + n - 1, V)).toBe(0); // causal: nothing before the changed row moves
    expect(maxDiff(a, c, 0, start, V)).toBe(0); // text before the image: the same with either mask
    expect(maxDiff(a, c, start, start + 1, V)).toBeGreaterThan(1e-4); // the mask matters for image rows
  });

  it('a Gemma 3 encoder image between <start_of_image> and <end_of_image>: logits follow the image', async () => {
    const mm = join(DIR, 'gemma3-mmproj.gguf');
    await writeSyntheticMmproj(mm, { projector: 'gemma3', imageSize: 32, patchSize: 4, nEmbd: 32, nFf: 64, nLayer: 1, nHead: 2, nOut: N_EMBD, seed: 4 });
    const enc = await VisionEncoder.load(await openGguf(mm), be);
    expect(enc.hp.nTokens).toBe(4);
    const tile = (seed: number) => {
      const r = mulberry32(seed);
      return Float32Array.from({ length: 3 * 32 * 32 }, () => 2 * r() - 1);
    };
    const img = gemma3ImageTokens(1, 2, enc.hp.nTokens);
    const tokens = Int32Array.from([5, 6, ...img, 7, 8]);
    const last = async (seed: number) => {
      const embeddings = Float32Array.from(await enc.encode([tile(seed)]));
      await prefillWithImage(model, { tokens, softStart: 3, embeddings, pos0: 0 });
      return Float32Array.from(model.logits.subarray(0, model.hp.nVocab));
    };
    const a = await last(1), a2 = await last(1), b = await last(2);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(a2)).toEqual(Array.from(a));
    expect(maxDiff(a, b, 0, 1, model.hp.nVocab)).toBeGreaterThan(1e-4);
    expect(model.embeddingRows).toBeNull();
  });
});
