/**
 * 2D-RoPE vision encoders (Pixtral / Mistral 3, Qwen2.5-VL) on the WASM backend against the float64
 * reference (reference/rope-vit-f64.ts), on synthetic mmproj files, with non-square images.
 *
 * Tolerances, per output row (cosine) and over the whole output (max |Δ| / max |ref|), as the CLIP/SigLIP
 * encoders (encoder.test.ts):
 *   F32 weights   cosine ≥ 0.99999, rel max ≤ 1e-3
 *   F16 weights   cosine ≥ 0.99999, rel max ≤ 2e-3   (the reference reads the same f16 values)
 *   Q8_0 weights  cosine ≥ 0.999,   rel max ≤ 3e-2   (activations quantized to Q8 for the dot products)
 * Measured figures are printed by the test.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { type SynthRopeMmprojSpec, writeSyntheticRopeMmproj } from '../../src/synth/mmproj-rope.ts';
import { pixtralTokenLayout, RopeVisionEncoder } from '../../src/vision/encoder/index.ts';
import { mropeOfPrompt, qwenWindows } from '../../src/vision/encoder/rope-layout.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { referenceRopeEncode } from './reference/rope-vit-f64.ts';

const DIR = join(tmpdir(), `tessera-vision-rope-${process.pid}`);
mkdirSync(DIR, { recursive: true });

// Mistral Small 3.1-like (2×2 patch merger) and Pixtral 12B-like (no merger).
const MISTRAL3: SynthRopeMmprojSpec = { projector: 'pixtral', imageSize: 48, patchSize: 4, nEmbd: 64, nFf: 96, nLayer: 2, nHead: 2, nOut: 64, merge: 2, seed: 21 };
const PIXTRAL: SynthRopeMmprojSpec = { ...MISTRAL3, merge: 1, seed: 22 };
// Qwen2.5-VL-like: windows of 2×2 merge units (16 px), blocks 0 and 2 windowed, block 1 full.
const QWEN: SynthRopeMmprojSpec = { projector: 'qwen2.5vl_merger', imageSize: 48, patchSize: 4, nEmbd: 64, nFf: 96, nLayer: 3, nHead: 4, nOut: 48, waPattern: 2, windowSize: 16, seed: 23 };
const TOL = { F32: { cos: 0.99999, rel: 1e-3 }, F16: { cos: 0.99999, rel: 2e-3 }, Q8_0: { cos: 0.999, rel: 3e-2 } } as const;

function randomImage(w: number, h: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: 3 * w * h }, () => 3 * r() - 1.5);
}

function compare(got: Float32Array, ref: Float64Array, nTok: number, nOut: number): { minCos: number; rel: number } {
  let minCos = 1, maxRef = 0, maxErr = 0;
  for (let t = 0; t < nTok; t++) {
    let dot = 0, ga = 0, ra = 0;
    for (let o = 0; o < nOut; o++) {
      const g = got[t * nOut + o]!, r = ref[t * nOut + o]!;
      dot += g * r; ga += g * g; ra += r * r;
      maxRef = Math.max(maxRef, Math.abs(r));
      maxErr = Math.max(maxErr, Math.abs(g - r));
    }
    minCos = Math.min(minCos, dot / Math.sqrt(ga * ra));
  }
  return { minCos, rel: maxErr / maxRef };
}

let be: WasmBackend;
beforeAll(async () => {
  be = await WasmBackend.create({ threads: 2 });
});
afterAll(async () => {
  await be?.close();
});

describe.each([
  ['mistral3 (pixtral, 2×2 merger)', MISTRAL3, 40, 24],
  ['pixtral (no merger)', PIXTRAL, 20, 12],
  ['qwen2.5-vl (windows)', QWEN, 40, 24],
] as const)('%s encoder vs float64 reference', (label, base, width, height) => {
  it.each(['F32', 'F16', 'Q8_0'] as const)('%s weights', async (type) => {
    const path = join(DIR, `${base.projector}-${base.merge ?? 2}-${type}.gguf`);
    await writeSyntheticRopeMmproj(path, { ...base, type });
    const file = await openGguf(path);
    const enc = await RopeVisionEncoder.load(file, be);
    const img = randomImage(width, height, 5);
    const got = await enc.encode(img, width, height);
    const ref = await referenceRopeEncode(file, img, width, height);
    expect([got.nTokens, enc.hp.nOut]).toEqual([ref.nTok, ref.nOut]);
    const { minCos, rel } = compare(got.embd, ref.out, ref.nTok, ref.nOut);
    console.log(`${label} ${type} ${width}×${height}: ${got.nTokens} rows, min cosine ${minCos.toFixed(7)}, max |Δ|/max|ref| ${rel.toExponential(2)}`);
    expect(minCos).toBeGreaterThanOrEqual(TOL[type].cos);
    expect(rel).toBeLessThanOrEqual(TOL[type].rel);
  });
});

describe('2D-RoPE encoders: shapes and layout', () => {
  it('several image sizes on one encoder match the reference (buffers sized once for the largest)', async () => {
    for (const base of [MISTRAL3, QWEN]) {
      const path = join(DIR, `${base.projector}-sizes.gguf`);
      await writeSyntheticRopeMmproj(path, base);
      const file = await openGguf(path);
      const enc = await RopeVisionEncoder.load(file, be);
      for (const [w, h] of [[16, 16], [48, 8], [8, 40], [48, 48]] as const) {
        const img = randomImage(w, h, w + h);
        const got = await enc.encode(img, w, h);
        const ref = await referenceRopeEncode(file, img, w, h);
        expect(got.nTokens).toBe(ref.nTok);
        expect(compare(got.embd, ref.out, ref.nTok, ref.nOut).minCos, `${base.projector} ${w}×${h}`).toBeGreaterThanOrEqual(TOL.F32.cos);
      }
    }
  });

  it('pixtral: [IMG_BREAK] rows after every row but the last; the layout ends with [IMG_END]', async () => {
    const path = join(DIR, 'pixtral-layout.gguf');
    await writeSyntheticRopeMmproj(path, MISTRAL3);
    const file = await openGguf(path);
    const enc = await RopeVisionEncoder.load(file, be);
    const out = await enc.encode(randomImage(24, 16, 3), 24, 16);
    expect([out.rows, out.cols, out.nTokens]).toEqual([2, 3, 2 * 3 + 1]);
    const layout = pixtralTokenLayout(out.rows, out.cols);
    expect(layout).toEqual(['image', 'image', 'image', '[IMG_BREAK]', 'image', 'image', 'image', '[IMG_END]']);
    const brk = await referenceRopeEncode(file, randomImage(24, 16, 3), 24, 16);
    // row 3 is the break embedding itself
    for (let o = 0; o < enc.hp.nOut; o++) expect(out.embd[3 * enc.hp.nOut + o]).toBeCloseTo(brk.out[3 * enc.hp.nOut + o]!, 6);
  });

  it('qwen: M-RoPE positions of a prompt with two image blocks (by hand)', () => {
    // text ×2, a 2×3 block at rows [2, 8), text ×1, a 1×1 block at row 9, text ×1 → 11 tokens
    const { mrope, ropeDelta } = mropeOfPrompt(11, [{ start: 2, end: 8, grid: { rows: 2, cols: 3 } }, { start: 9, end: 10, grid: { rows: 1, cols: 1 } }]);
    const n = 11;
    const at = (i: number) => [mrope[i], mrope[n + i], mrope[2 * n + i], mrope[3 * n + i]];
    expect([0, 1].map(at)).toEqual([[0, 0, 0, 0], [1, 1, 1, 0]]);
    expect([2, 4, 5, 7].map(at)).toEqual([[2, 2, 2, 0], [2, 2, 4, 0], [2, 3, 2, 0], [2, 3, 4, 0]]); // (t, h, w) = (2, 2 + y, 2 + x)
    expect(at(8)).toEqual([5, 5, 5, 0]); // 2 + max(2, 3)
    expect(at(9)).toEqual([6, 6, 6, 0]);
    expect(at(10)).toEqual([7, 7, 7, 0]);
    expect(ropeDelta).toBe(8 - 11); // the next token at position 8, KV slot 11
    expect(() => mropeOfPrompt(4, [{ start: 1, end: 3, grid: null }])).toThrow(/token grid/);
  });

  it('qwen: window order covers every merge unit once; windows tile the grid', () => {
    const w = qwenWindows(10, 6, 2); // 5×3 merge units, windows of 2×2
    expect([...w.idx].sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(w.windows.map(([, len]) => len / 4)).toEqual([4, 4, 2, 2, 2, 1]);
  });

  it('rejects sizes that are not multiples of the unit, too many patches, and a wrong tensor length', async () => {
    const path = join(DIR, 'qwen-bad.gguf');
    await writeSyntheticRopeMmproj(path, QWEN);
    const enc = await RopeVisionEncoder.load(await openGguf(path), be);
    await expect(enc.encode(randomImage(12, 8, 1), 12, 8)).rejects.toThrow(/multiples of 8/);
    await expect(enc.encode(randomImage(56, 48, 1), 56, 48)).rejects.toThrow(/more than maxPatches 144/);
    await expect(enc.encode(new Float32Array(5), 16, 16)).rejects.toThrow(/\[3\]\[16\]\[16\]/);
  });
});
