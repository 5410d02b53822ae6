/**
 * Fuzz: 1,200 mutations of valid PNG, JPEG, GIF and WebP files (seeded, so deterministic). Every
 * outcome must be a decoded image of consistent size or a named ImageError; never another
 * exception, a crash or a hang (the test's timeout bounds the whole run).
 */
import { describe, expect, it } from 'vitest';
import { decodeImage, ImageError } from '../../src/vision/decode.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { mutate } from './fuzz-mutate.ts';
import { buildGif, buildJpeg, buildPng, buildWebp, pattern } from './images.ts';

describe('image decode fuzz', () => {
  it('1,200 mutated images: a decoded image or a named ImageError, nothing else', async () => {
    const [w, h] = [40, 24];
    const rgb = pattern(w, h);
    const seeds = [
      buildPng(w, h, 2, rgb),
      buildPng(w, h, 3, Array.from({ length: w * h }, (_, i) => i % 3), { palette: [[1, 2, 3], [4, 5, 6], [7, 8, 9]] }),
      buildJpeg(w, h, rgb, 80),
      buildGif(w, h, [0, 0xff0000, 0x00ff00, 0x0000ff], [new Uint8Array(w * h).map((_, i) => (i * 5) % 4)]),
      await buildWebp(w, h, rgb, { lossless: true }),
      await buildWebp(w, h, rgb, { lossless: false, quality: 70 }),
    ];
    const rnd = mulberry32(0x5eed);
    const counts: Record<string, number> = { decoded: 0 };
    for (let n = 0; n < 1200; n++) {
      const bytes = mutate(seeds[n % seeds.length]!, rnd);
      try {
        const img = await decodeImage(bytes, { maxPixels: 4_000_000 });
        expect(img.data.length).toBe(img.width * img.height * 3);
        counts.decoded!++;
      } catch (e) {
        if (!(e instanceof ImageError)) throw new Error(`mutation ${n} threw a non-ImageError: ${String(e)}`, { cause: e });
        counts[e.reason] = (counts[e.reason] ?? 0) + 1;
      }
    }
    console.log('fuzz outcomes', counts);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1200);
    expect(counts.corrupt).toBeGreaterThan(100); // the mutations do reach the decoders
  }, 240_000);
});
