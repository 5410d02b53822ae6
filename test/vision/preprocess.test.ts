/**
 * IMAGE_RESAMPLE (src/vision/preprocess.ts) against a float64 TypeScript reference of Pillow's
 * resampling written here from its definition, on every core variant, SIMD and scalar twin, 1 and
 * 2 threads. Tolerance: 2e-5·(1 + |want|) on the normalised outputs (f32 accumulation of ≤ 45
 * taps per axis of values ≤ 255, then ×1/(255·std)); SIMD vs twin: 1e-5·(1 + |twin|).
 * Anchors independent of the formula: same-size bilinear is the identity, and a 2× bilinear
 * reduction is Pillow's [1, 3, 3, 1]/8 kernel.
 */
import { describe, expect, it } from 'vitest';
import { CoreImage, type ResampleFilter, type ResampleSpec } from '../../src/vision/preprocess.ts';
import { availableVariants, loadCore, poolFor } from '../helpers/core.ts';
import { pattern } from './images.ts';

function axisWeights(nIn: number, nOut: number, o: number, filter: ResampleFilter): [number, number][] {
  const k = (x: number) => {
    x = Math.abs(x);
    if (filter === 'bilinear') return x < 1 ? 1 - x : 0;
    const a = -0.5;
    return x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * a : 0;
  };
  const scale = nIn / nOut, fs = Math.max(scale, 1), sup = (filter === 'bilinear' ? 1 : 2) * fs;
  const center = (o + 0.5) * scale;
  const lo = Math.max(0, Math.trunc(center - sup + 0.5)), hi = Math.min(nIn, Math.trunc(center + sup + 0.5));
  const ws: [number, number][] = [];
  for (let i = lo; i < hi; i++) ws.push([i, k((i - center + 0.5) / fs)]);
  const s = ws.reduce((t, w) => t + w[1], 0);
  return ws.map(([i, w]) => [i, w / s]);
}

function reference(rgb: Uint8Array, w: number, spec: ResampleSpec): Float64Array {
  const box = spec.box!;
  const { outWidth: ow, outHeight: oh } = spec;
  const mean = spec.mean ?? [0, 0, 0], std = spec.std ?? [1, 1, 1];
  const out = new Float64Array(3 * ow * oh);
  for (let y = 0; y < oh; y++) {
    const wy = axisWeights(box.height, oh, y, spec.filter);
    for (let x = 0; x < ow; x++) {
      const wx = axisWeights(box.width, ow, x, spec.filter);
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [j, a] of wy) for (const [i, b] of wx) s += a * b * rgb[3 * ((box.y + j) * w + box.x + i) + c]!;
        out[(c * oh + y) * ow + x] = (s / 255 - mean[c]!) / std[c]!;
      }
    }
  }
  return out;
}

const [W, H] = [61, 47];
const RGB = pattern(W, H).map((v, i) => (v + i * 13) & 255);
const CASES: ResampleSpec[] = [
  { box: { x: 0, y: 0, width: W, height: H }, outWidth: 24, outHeight: 20, filter: 'bicubic', mean: [0.481, 0.458, 0.408], std: [0.269, 0.261, 0.276] },
  { box: { x: 0, y: 0, width: W, height: H }, outWidth: 24, outHeight: 20, filter: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  { box: { x: 5, y: 9, width: 20, height: 13 }, outWidth: 57, outHeight: 31, filter: 'bicubic' },
  { box: { x: 5, y: 9, width: 20, height: 13 }, outWidth: 57, outHeight: 31, filter: 'bilinear' },
  { box: { x: 3, y: 1, width: 58, height: 46 }, outWidth: 7, outHeight: 5, filter: 'bicubic' }, // strong downscale: wide antialias kernel
];

describe('IMAGE_RESAMPLE vs float64 reference', () => {
  // CoreImage drives a WasmCore and its ThreadPool (src/vision): the WASM variants only.
  for (const variant of availableVariants().filter((v) => v !== 'native')) {
    it(`${variant}: SIMD and scalar twin, 1 and 2 threads`, async () => {
      const core = await loadCore(variant);
      const pool = await poolFor(core, 2);
      for (const spec of CASES) {
        const want = reference(RGB, W, spec);
        using one = CoreImage.place(core, { width: W, height: H, data: RGB });
        const simd = one.resample(spec);
        core.setScalar(true);
        const twin = one.resample(spec);
        core.setScalar(false);
        one.dispose();
        using two = CoreImage.place(core, { width: W, height: H, data: RGB }, pool);
        const threaded = two.resample(spec);
        for (let i = 0; i < want.length; i++) {
          const tol = 2e-5 * (1 + Math.abs(want[i]!));
          if (Math.abs(simd[i]! - want[i]!) > tol || Math.abs(twin[i]! - want[i]!) > tol) {
            throw new Error(`${JSON.stringify(spec)} i=${i}: simd ${simd[i]} twin ${twin[i]} want ${want[i]}`);
          }
          expect(Math.abs(simd[i]! - twin[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(twin[i]!)));
        }
        expect(threaded).toEqual(simd); // rows are split between threads; each row computed the same way
      }
    });
  }

  it('anchors: same-size bilinear is the identity; 2× bilinear reduction is [1,3,3,1]/8', async () => {
    const core = await loadCore();
    using img = CoreImage.place(core, { width: W, height: H, data: RGB });
    const id = img.resample({ outWidth: W, outHeight: H, filter: 'bilinear' });
    for (let c = 0; c < 3; c++) for (let p = 0; p < W * H; p++) expect(id[c * W * H + p]! * 255).toBeCloseTo(RGB[3 * p + c]!, 3);
    // rows 0..7 of a 1-row-high box: x-only reduction 8 → 4
    const row = { x: 0, y: 10, width: 8, height: 1 };
    const half = img.resample({ box: row, outWidth: 4, outHeight: 1, filter: 'bilinear' });
    const px = (i: number) => RGB[3 * (10 * W + i)]!; // channel 0
    const k = [1, 3, 3, 1];
    for (let o = 0; o < 4; o++) {
      let s = 0, ws = 0;
      for (let t = 0; t < 4; t++) {
        const i = 2 * o - 1 + t;
        if (i >= 0 && i < 8) { s += k[t]! * px(i); ws += k[t]!; } // edges: renormalised over the inputs that exist
      }
      expect(half[o]! * 255).toBeCloseTo(s / ws, 3);
    }
  });

  it('bad arguments are named errors', async () => {
    const core = await loadCore();
    using img = CoreImage.place(core, { width: W, height: H, data: RGB });
    expect(() => img.resample({ box: { x: 50, y: 0, width: 20, height: 5 }, outWidth: 4, outHeight: 4, filter: 'bilinear' })).toThrow(/outside/);
    expect(() => img.resample({ outWidth: 0, outHeight: 4, filter: 'bilinear' })).toThrow(/positive integers/);
    expect(() => img.resample({ outWidth: 4, outHeight: 4, filter: 'lanczos' as never })).toThrow(/unknown filter/);
    expect(() => img.resample({ outWidth: 4, outHeight: 4, filter: 'bilinear', std: [1, 0, 1] })).toThrow(/std/);
  });
});
