/**
 * Vision input on one runtime: build a PNG, JPEG, GIF and WebP (test/vision/images.ts), decode each,
 * place the PNG in the WASM core and resample its tiles. Prints one JSON line; run by
 * test/vision/runtimes.test.ts under Bun and Deno and compared with the same summary computed in Node.
 */
import { WasmCore } from '../../src/backend/wasm/core.ts';
import { decodeImage } from '../../src/vision/decode.ts';
import { CoreImage } from '../../src/vision/preprocess.ts';
import { planTiles, tileTensors } from '../../src/vision/tiles.ts';
import { buildGif, buildJpeg, buildPng, buildWebp, pattern } from '../vision/images.ts';

/** FNV-1a of the bytes, hex. */
const fnv = (b: Uint8Array) => {
  let h = 0x811c9dc5;
  for (const v of b) h = Math.imul(h ^ v, 0x01000193) >>> 0;
  return h.toString(16);
};

export interface VisionSummary {
  decoded: Record<string, string>;
  rows: number;
  cols: number;
  tiles: { row: number; col: number; kind: string; box: unknown; sum: number }[];
}

export async function visionSummary(): Promise<VisionSummary> {
  const [w, h] = [50, 30];
  const rgb = pattern(w, h);
  const files = {
    png: buildPng(w, h, 2, rgb),
    jpeg: buildJpeg(w, h, rgb, 90),
    gif: buildGif(w, h, [0, 0xff8000, 0x00ff00, 0x0000ff], [new Uint8Array(w * h).map((_, i) => i % 4)]),
    webp: await buildWebp(w, h, rgb, { lossless: false, quality: 80 }),
  };
  const decoded: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(files)) {
    const img = await decodeImage(bytes);
    decoded[name] = `${img.format} ${img.width}x${img.height} ${fnv(img.data)}`;
  }
  const core = await WasmCore.load({ variant: 'simd' });
  const img = CoreImage.place(core, await decodeImage(files.png));
  const grid = planTiles(w, h, { tileWidth: 16, tileHeight: 16, maxTiles: 6, overview: true });
  const tiles = [...tileTensors(img, grid, { filter: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] })].map(({ tile, data }) => ({
    row: tile.row, col: tile.col, kind: tile.kind, box: tile.box, sum: data.reduce((s, v) => s + v, 0),
  }));
  img.dispose();
  return { decoded, rows: grid.rows, cols: grid.cols, tiles };
}

if ((import.meta as { main?: boolean }).main) console.log(JSON.stringify(await visionSummary()));
