/** Each format decodes to the pixels we generated (lossless exactly, lossy within a PSNR bound). */
import { describe, expect, it } from 'vitest';
import { decodeImage, sniffImageFormat } from '../../src/vision/decode.ts';
import { buildGif, buildJpeg, buildPng, buildWebp, pattern } from './images.ts';

/** Peak signal-to-noise ratio in dB of two u8 arrays of equal length. */
function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / Math.max(se / a.length, 1e-12));
}

describe('decodeImage: PNG (hand-built files)', () => {
  const [w, h] = [13, 7];
  const rgb = pattern(w, h);
  it('RGB 8-bit', async () => {
    const img = await decodeImage(buildPng(w, h, 2, rgb));
    expect([img.format, img.width, img.height]).toEqual(['png', w, h]);
    expect(img.data).toEqual(rgb);
  });
  it('RGBA 8-bit: alpha dropped', async () => {
    const rgba = new Uint8Array(w * h * 4);
    for (let p = 0; p < w * h; p++) { rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p); rgba[4 * p + 3] = (p * 17) & 255; }
    expect((await decodeImage(buildPng(w, h, 6, rgba))).data).toEqual(rgb);
  });
  it('grey 8-bit and grey+alpha: grey replicated to R, G, B', async () => {
    const grey = rgb.filter((_, i) => i % 3 === 0);
    const want = new Uint8Array([...grey].flatMap((v) => [v, v, v]));
    expect((await decodeImage(buildPng(w, h, 0, grey))).data).toEqual(want);
    const ga = new Uint8Array([...grey].flatMap((v) => [v, 99]));
    expect((await decodeImage(buildPng(w, h, 4, ga))).data).toEqual(want);
  });
  it('RGB 16-bit: the high byte (stb_image)', async () => {
    const s16 = Array.from(rgb, (v, i) => v * 256 + ((i * 31) & 255));
    expect((await decodeImage(buildPng(w, h, 2, s16, { depth: 16 }))).data).toEqual(rgb);
  });
  it('palette', async () => {
    const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]];
    const idx = Array.from({ length: w * h }, (_, p) => (p * 7) % 4);
    const want = new Uint8Array(idx.flatMap((i) => palette[i]!));
    expect((await decodeImage(buildPng(w, h, 3, idx, { palette }))).data).toEqual(want);
  });
});

describe('decodeImage: JPEG (jpeg-js encoder)', () => {
  it('quality 95 decodes within PSNR ≥ 30 dB of the source pixels', async () => {
    const [w, h] = [64, 48];
    const rgb = pattern(w, h);
    const img = await decodeImage(buildJpeg(w, h, rgb, 95));
    expect([img.format, img.width, img.height]).toEqual(['jpeg', w, h]);
    expect(psnr(img.data, rgb)).toBeGreaterThan(30);
  });
  it('a flat colour decodes to that colour within 2 levels', async () => {
    const rgb = new Uint8Array(16 * 16 * 3).map((_, i) => [200, 100, 50][i % 3]!);
    const img = await decodeImage(buildJpeg(16, 16, rgb, 100));
    for (let i = 0; i < rgb.length; i++) expect(Math.abs(img.data[i]! - rgb[i]!)).toBeLessThanOrEqual(2);
  });
});

describe('decodeImage: GIF (omggif writer)', () => {
  it('first frame of two, exactly', async () => {
    const [w, h] = [10, 6];
    const palette = [0x000000, 0xff0000, 0x00ff00, 0x0000ff];
    const f0 = new Uint8Array(w * h).map((_, p) => p % 4);
    const f1 = new Uint8Array(w * h).fill(3);
    const img = await decodeImage(buildGif(w, h, palette, [f0, f1]));
    expect([img.format, img.width, img.height]).toEqual(['gif', w, h]);
    const want = new Uint8Array([...f0].flatMap((i) => [(palette[i]! >> 16) & 255, (palette[i]! >> 8) & 255, palette[i]! & 255]));
    expect(img.data).toEqual(want);
  });
});

describe('decodeImage: WebP (libwebp encoder)', () => {
  const [w, h] = [31, 17];
  const rgb = pattern(w, h);
  it('lossless, exactly', async () => {
    const bytes = await buildWebp(w, h, rgb, { lossless: true });
    expect(sniffImageFormat(bytes)).toBe('webp');
    const img = await decodeImage(bytes);
    expect([img.format, img.width, img.height]).toEqual(['webp', w, h]);
    expect(img.data).toEqual(rgb);
  });
  it('lossy quality 95 of a smooth gradient within PSNR ≥ 30 dB (4:2:0 chroma: no sharp colour edges)', async () => {
    const smooth = rgb.map((v, i) => (i % 3 === 2 ? 128 : v));
    const img = await decodeImage(await buildWebp(w, h, smooth, { lossless: false, quality: 95 }));
    expect([img.width, img.height]).toEqual([w, h]);
    expect(psnr(img.data, smooth)).toBeGreaterThan(30);
  });
});
