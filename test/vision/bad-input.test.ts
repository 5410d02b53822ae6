/** The bad-input list of issue 6: each case is a named ImageError (code invalid_argument → HTTP 400). */
import { describe, expect, it } from 'vitest';
import { decodeImage, ImageError, type ImageErrorReason } from '../../src/vision/decode.ts';
import { buildGif, buildJpeg, buildPng, buildWebp, pattern } from './images.ts';

async function reasonOf(bytes: Uint8Array, limits?: Parameters<typeof decodeImage>[1]): Promise<ImageErrorReason> {
  try {
    await decodeImage(bytes, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    expect((e as ImageError).code).toBe('invalid_argument');
    expect((e as ImageError).message.length).toBeGreaterThan(10);
    return (e as ImageError).reason;
  }
  throw new Error('decoded without an error');
}

const [w, h] = [24, 16];
const rgb = pattern(w, h);
const samples = async () => ({
  png: buildPng(w, h, 2, rgb),
  jpeg: buildJpeg(w, h, rgb),
  gif: buildGif(w, h, [0, 0xffffff], [new Uint8Array(w * h).map((_, i) => i & 1)]),
  webp: await buildWebp(w, h, rgb, { lossless: true }),
  webpLossy: await buildWebp(w, h, rgb, { lossless: false }),
});

describe('bad image input', () => {
  it('empty input', async () => {
    expect(await reasonOf(new Uint8Array(0))).toBe('empty');
  });

  it('unsupported formats (BMP, TIFF, text, a file name does not matter)', async () => {
    expect(await reasonOf(new Uint8Array([0x42, 0x4d, 1, 2, 3, 4, 5, 6, 7, 8]))).toBe('unsupported');
    expect(await reasonOf(new Uint8Array([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0]))).toBe('unsupported');
    expect(await reasonOf(new TextEncoder().encode('hello.png'))).toBe('unsupported');
  });

  it('truncated files of every format', async () => {
    for (const [name, bytes] of Object.entries(await samples())) {
      for (const keep of [4, 20, Math.floor(bytes.length / 2), bytes.length - 3]) {
        const r = await reasonOf(bytes.slice(0, keep));
        expect(['corrupt', 'unsupported'], `${name} cut at ${keep}`).toContain(r);
      }
    }
  });

  it('corrupt data (header intact, body overwritten)', async () => {
    for (const [name, bytes] of Object.entries(await samples())) {
      const bad = bytes.slice();
      bad.fill(0xff, Math.floor(bad.length / 3), bad.length - 2);
      expect(await reasonOf(bad), name).toBe('corrupt');
    }
  });

  it('zero-size images (PNG width 0, GIF height 0)', async () => {
    const png = buildPng(w, h, 2, rgb);
    new DataView(png.buffer).setUint32(16, 0); // IHDR width
    expect(await reasonOf(png)).toBe('empty');
    const gif = buildGif(w, h, [0, 0xffffff], [new Uint8Array(w * h)]);
    gif[8] = gif[9] = 0; // logical screen height
    expect(await reasonOf(gif)).toBe('empty');
  });

  it('decompression bombs: a huge declared size is refused from the header, before decoding', async () => {
    const png = buildPng(w, h, 2, rgb);
    new DataView(png.buffer).setUint32(16, 100_000);
    new DataView(png.buffer).setUint32(20, 100_000);
    expect(await reasonOf(png)).toBe('too_many_pixels');
    const jpg = buildJpeg(w, h, rgb);
    const sof = jpg.findIndex((v, i) => v === 0xff && jpg[i + 1] === 0xc0);
    jpg.set([0xff, 0xff, 0xff, 0xff], sof + 5); // 65535 × 65535
    expect(await reasonOf(jpg)).toBe('too_many_pixels');
    const gif = buildGif(w, h, [0, 0xffffff], [new Uint8Array(w * h)]);
    gif.set([0xff, 0xff, 0xff, 0xff], 6);
    expect(await reasonOf(gif)).toBe('too_many_pixels');
    const webp = (await samples()).webp; // VP8L: 14-bit width−1 and height−1 after the 0x2f signature
    webp.set([0xff, 0xff, 0xff, 0x0f], 21);
    expect(await reasonOf(webp)).toBe('too_many_pixels');
    // the limit is configurable, and the boundary is inclusive
    expect(await reasonOf(buildPng(w, h, 2, rgb), { maxPixels: w * h - 1 })).toBe('too_many_pixels');
    expect((await decodeImage(buildPng(w, h, 2, rgb), { maxPixels: w * h })).width).toBe(w);
  });

  it('too many input bytes', async () => {
    expect(await reasonOf(buildPng(w, h, 2, rgb), { maxBytes: 100 })).toBe('too_many_bytes');
  });

  it('a 5000×5000 (25 MP) image is accepted by the default limit', async () => {
    const big = buildPng(5000, 5000, 0, new Uint8Array(5000 * 5000).fill(77));
    const img = await decodeImage(big);
    expect([img.width, img.height, img.data.length]).toEqual([5000, 5000, 75_000_000]);
    expect(img.data[12_345_678]).toBe(77);
  }, 60_000);
});
