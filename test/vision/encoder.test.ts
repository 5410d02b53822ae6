/**
 * Vision encoders (llava 'mlp', Gemma 3) on the WASM backend against the float64 reference
 * (reference/clip-f64.ts), on synthetic mmproj files.
 *
 * Tolerances, per output token (cosine) and over the whole output (max |Δ| / max |ref|):
 *   F32 weights   cosine ≥ 0.99999, rel max ≤ 1e-3   (f32 accumulation vs f64; measured 1.0000000 / 2.6e-4)
 *   F16 weights   cosine ≥ 0.99999, rel max ≤ 2e-3   (the reference reads the same f16 values; measured 0.9999998 / 4.1e-4)
 *   Q8_0 weights  cosine ≥ 0.999,   rel max ≤ 3e-2   (activations quantized to Q8 for the dot products; measured 0.99988 / 1.0e-2)
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { gv, type GgufValue } from '../../src/gguf/types.ts';
import { writeGguf } from '../../src/gguf/writer.ts';
import { generateWeight } from '../../src/synth/llama.ts';
import { planSynthMmproj, synthMmprojMetadata, type SynthMmprojSpec, writeSyntheticMmproj } from '../../src/synth/mmproj.ts';
import { decodeImage } from '../../src/vision/decode.ts';
import { VisionEncoder } from '../../src/vision/encoder/index.ts';
import { CoreImage } from '../../src/vision/preprocess.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { buildPng, pattern } from './images.ts';
import { referenceEncode } from './reference/clip-f64.ts';

const DIR = join(tmpdir(), `tessera-vision-enc-${process.pid}`);
mkdirSync(DIR, { recursive: true });

const LLAVA: SynthMmprojSpec = { projector: 'mlp', imageSize: 32, patchSize: 8, nEmbd: 64, nFf: 128, nLayer: 3, nHead: 4, nOut: 96, seed: 11 };
const GEMMA3: SynthMmprojSpec = { projector: 'gemma3', imageSize: 64, patchSize: 8, nEmbd: 64, nFf: 128, nLayer: 2, nHead: 4, nOut: 96, seed: 12 };
const TOL = { F32: { cos: 0.99999, rel: 1e-3 }, F16: { cos: 0.99999, rel: 2e-3 }, Q8_0: { cos: 0.999, rel: 3e-2 } } as const;

function randomTile(size: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: 3 * size * size }, () => 3 * r() - 1.5);
}

function compare(got: Float32Array, ref: Float64Array, nTok: number, nOut: number): { minCos: number; rel: number } {
  let minCos = 1;
  let maxRef = 0;
  let maxErr = 0;
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
  ['llava mlp', LLAVA],
  ['gemma3', GEMMA3],
] as const)('%s encoder vs float64 reference', (label, base) => {
  it.each(['F32', 'F16', 'Q8_0'] as const)('%s weights', async (type) => {
    const path = join(DIR, `${base.projector}-${type}.gguf`);
    await writeSyntheticMmproj(path, { ...base, type });
    const file = await openGguf(path);
    const enc = await VisionEncoder.load(file, be);
    const tile = randomTile(base.imageSize, 5);
    const got = await enc.encode([tile]);
    const ref = await referenceEncode(file, tile);
    expect([ref.nTok, ref.nOut]).toEqual([enc.hp.nTokens, enc.hp.nOut]);
    const { minCos, rel } = compare(got, ref.out, ref.nTok, ref.nOut);
    console.log(`${label} ${type}: min cosine ${minCos.toFixed(7)}, max |Δ|/max|ref| ${rel.toExponential(2)}`);
    expect(minCos).toBeGreaterThanOrEqual(TOL[type].cos);
    expect(rel).toBeLessThanOrEqual(TOL[type].rel);
  });
});

describe('batching and shapes', () => {
  it('tiles encoded in one batch equal tiles encoded alone (gemma3 and llava)', async () => {
    for (const base of [LLAVA, GEMMA3]) {
      const path = join(DIR, `${base.projector}-batch.gguf`);
      await writeSyntheticMmproj(path, base);
      const file = await openGguf(path);
      const enc = await VisionEncoder.load(file, be, { maxTiles: 3 });
      const tiles = [randomTile(base.imageSize, 1), randomTile(base.imageSize, 2), randomTile(base.imageSize, 3)];
      const batch = Float32Array.from(await enc.encode(tiles));
      const per = enc.hp.nTokens * enc.hp.nOut;
      expect(batch.length).toBe(3 * per);
      for (let t = 0; t < 3; t++) {
        const alone = await enc.encode([tiles[t]!]);
        let maxErr = 0;
        for (let i = 0; i < per; i++) maxErr = Math.max(maxErr, Math.abs(alone[i]! - batch[t * per + i]!));
        expect(maxErr, `${base.projector} tile ${t}`).toBeLessThanOrEqual(1e-5);
      }
      // different tiles give different embeddings (the batch is not one tile repeated)
      expect(Math.abs(batch[0]! - batch[per]!)).toBeGreaterThan(1e-6);
    }
  });

  it('a decoded PNG, resampled with the model mean/std, encodes like the reference on the same tensor', async () => {
    const path = join(DIR, 'gemma3-png.gguf');
    await writeSyntheticMmproj(path, GEMMA3);
    const file = await openGguf(path);
    const enc = await VisionEncoder.load(file, be);
    const png = buildPng(90, 70, 2, pattern(90, 70));
    using img = CoreImage.place(be.core, await decodeImage(png));
    const chw = Float32Array.from(img.resample({ outWidth: 64, outHeight: 64, filter: 'bicubic', mean: enc.hp.imageMean, std: enc.hp.imageStd }));
    const got = await enc.encode([chw]);
    const ref = await referenceEncode(file, chw);
    const { minCos } = compare(got, ref.out, ref.nTok, ref.nOut);
    expect(minCos).toBeGreaterThanOrEqual(TOL.F32.cos);
  });

  it('digest: same file → same digest; another seed → another digest', async () => {
    const a = join(DIR, 'dig-a.gguf');
    const b = join(DIR, 'dig-b.gguf');
    await writeSyntheticMmproj(a, LLAVA);
    await writeSyntheticMmproj(b, { ...LLAVA, seed: 99 });
    const d1 = (await VisionEncoder.load(await openGguf(a), be)).digest;
    const d2 = (await VisionEncoder.load(await openGguf(a), be)).digest;
    const d3 = (await VisionEncoder.load(await openGguf(b), be)).digest;
    expect(d1).toBe(d2);
    expect(d1).not.toBe(d3);
    expect(d1).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses what it does not run: another projector, a missing tensor (ModelFormatError naming it)', async () => {
    const scratch = new Float32Array(1 << 16);
    const build = async (name: string, meta: Record<string, GgufValue>, drop?: string) => {
      const tensors = planSynthMmproj(LLAVA).filter((w) => w.name !== drop).map((w) => ({ name: w.name, type: w.type, dims: w.dims, data: () => generateWeight(w, 1, scratch) }));
      const path = join(DIR, name);
      await writeGguf(path, { metadata: { ...synthMmprojMetadata(LLAVA), ...meta }, tensors });
      return openGguf(path);
    };
    await expect(VisionEncoder.load(await build('qwen.gguf', { 'clip.projector_type': gv.str('qwen2vl_merger') }), be)).rejects.toThrow(/qwen2vl_merger' is not supported/);
    await expect(VisionEncoder.load(await build('nok.gguf', {}, 'v.blk.0.attn_k.weight'), be)).rejects.toThrow(/missing tensor 'v\.blk\.0\.attn_k\.weight'/);
  });

  it('rejects a tile of the wrong size and too many tiles', async () => {
    const path = join(DIR, 'llava-bad.gguf');
    await writeSyntheticMmproj(path, LLAVA);
    const enc = await VisionEncoder.load(await openGguf(path), be);
    await expect(enc.encode([new Float32Array(10)])).rejects.toThrow(/\[3\]\[32\]\[32\]/);
    await expect(enc.encode([randomTile(32, 1), randomTile(32, 2)])).rejects.toThrow(/expected 1\.\.1/);
  });
});
