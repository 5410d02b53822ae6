/**
 * The image cache over the memory and fs drivers: a second encode of the same image decodes and encodes
 * nothing (calls counted), returns the same embeddings, and the fs entry is readable by the independent
 * python safetensors reader of test/storage; sessions tag, list and drop entries.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import type { Storage } from '../../src/storage/types.ts';
import { writeSyntheticMmproj } from '../../src/synth/mmproj.ts';
import { ImageCache, type TileEncoder } from '../../src/vision/cache.ts';
import { decodeImage } from '../../src/vision/decode.ts';
import { VisionEncoder } from '../../src/vision/encoder/index.ts';
import { buildPng, pattern } from './images.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-imgcache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const script = fileURLToPath(new URL('../storage/safetensors_read.py', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find((p) => {
  try {
    execFileSync(p, ['-c', 'import json, struct, hashlib'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

let be: WasmBackend;
let enc: VisionEncoder;
beforeAll(async () => {
  be = await WasmBackend.create({ threads: 1 });
  const path = join(dir, 'llava.gguf');
  await writeSyntheticMmproj(path, { projector: 'mlp', imageSize: 32, patchSize: 8, nEmbd: 64, nFf: 128, nLayer: 3, nHead: 4, nOut: 96, seed: 3 });
  enc = await VisionEncoder.load(await openGguf(path), be, { maxTiles: 2 });
});
afterAll(async () => {
  await be?.close();
});

/** The encoder and decoder wrapped to count calls. */
function counted() {
  const calls = { decode: 0, encode: 0, tiles: 0 };
  const encoder: TileEncoder = {
    digest: enc.digest, maxTiles: enc.maxTiles, hp: enc.hp,
    encode: (tiles) => {
      calls.encode++;
      calls.tiles += tiles.length;
      return enc.encode(tiles);
    },
  };
  const decode = (b: Uint8Array) => {
    calls.decode++;
    return decodeImage(b);
  };
  return { calls, encoder, decode };
}

const png = (w: number, h: number) => buildPng(w, h, 2, pattern(w, h));

describe.each([
  ['memory', async () => new MemoryStorage() as Storage],
  ['fs', async () => (await FsStorage.open(join(dir, `fs-${Math.random().toString(36).slice(2)}`))) as Storage],
] as const)('image cache on %s storage', (_name, open) => {
  it('second encode of the same image: no decode, no encode, same embeddings', async () => {
    const storage = await open();
    const { calls, encoder, decode } = counted();
    const cache = new ImageCache({ encoder, storage, core: be.core, decode, maxTiles: 3, overview: true });
    const bytes = png(70, 40);
    const first = await cache.encode(bytes, 's1');
    expect(first.cached).toBe(false);
    expect(first.nTiles).toBe(first.grid.tiles.length);
    expect(first.nTiles).toBeGreaterThan(2); // overview + grid: more tiles than one batch holds
    expect(calls).toEqual({ decode: 1, encode: Math.ceil(first.nTiles / 2), tiles: first.nTiles });
    const firstEmb = Float32Array.from(first.embeddings);
    expect(firstEmb.length).toBe(first.nTiles * enc.hp.nTokens * enc.hp.nOut);

    const again = await cache.encode(bytes, 's1');
    expect(again.cached).toBe(true);
    expect(calls).toEqual({ decode: 1, encode: Math.ceil(first.nTiles / 2), tiles: first.nTiles });
    expect(Array.from(again.embeddings)).toEqual(Array.from(firstEmb));
    expect(again.grid).toEqual(first.grid);

    // the stored embeddings are the encoder's output on the stored pixels
    const tileLen = 3 * 32 * 32;
    const direct = await enc.encode([again.pixels.subarray(tileLen, 2 * tileLen)]);
    const per = enc.hp.nTokens * enc.hp.nOut;
    expect(Array.from(direct.subarray(0, per))).toEqual(Array.from(firstEmb.subarray(per, 2 * per)));

    // other preprocessing settings or another image: a miss
    const other = new ImageCache({ encoder, storage, core: be.core, decode, maxTiles: 1 });
    expect((await other.encode(bytes, 's1')).cached).toBe(false);
    expect((await cache.encode(png(40, 70), 's1')).cached).toBe(false);
    expect(calls.decode).toBe(3);
    await storage.close();
  });

  it('sessions: list by session, drop keeps entries another session still uses', async () => {
    const storage = await open();
    const { encoder, decode } = counted();
    const cache = new ImageCache({ encoder, storage, core: be.core, decode });
    const a = await cache.encode(png(33, 33), 'alice');
    const b = await cache.encode(png(50, 20), 'bob');
    await cache.encode(png(33, 33), 'bob'); // a hit, tagged for bob too
    expect(await cache.listSession('alice')).toEqual([a.key]);
    expect(await cache.listSession('bob')).toEqual([a.key, b.key].sort());
    expect(await cache.dropSession('alice')).toBe(0); // bob still uses a
    expect(await storage.has(a.key)).toBe(true);
    expect(await cache.listSession('alice')).toEqual([]);
    expect(await cache.dropSession('bob')).toBe(2);
    expect(await storage.has(a.key)).toBe(false);
    expect(await storage.has(b.key)).toBe(false);
    await expect(cache.encode(png(8, 8), 'no/slash')).rejects.toThrow(/session/);
    await storage.close();
  });
});

describe('preprocessing settings', () => {
  it('padColor: a wide image is centered on a square of the pad colour (top and bottom rows), and keys differ', async () => {
    const storage = new MemoryStorage();
    const pad = [122, 116, 104] as const;
    const padded = new ImageCache({ encoder: enc, storage, core: be.core, padColor: pad, filter: 'bilinear' });
    const plain = new ImageCache({ encoder: enc, storage, core: be.core, filter: 'bilinear' });
    const bytes = png(64, 24); // → 64×64 with 20 rows of pad above and below; at 32 px: 10 rows
    expect(padded.keyOf(bytes)).not.toBe(plain.keyOf(bytes));
    const a = await padded.encode(bytes, 'p');
    const b = await plain.encode(bytes, 'p');
    const px = (img: Float32Array, c: number, y: number, x: number) => img[c * 32 * 32 + y * 32 + x]!;
    for (const [y, x] of [[0, 0], [3, 17], [31, 31], [28, 5]] as const) {
      for (let c = 0; c < 3; c++) expect(px(a.pixels, c, y, x)).toBeCloseTo((pad[c]! / 255 - enc.hp.imageMean[c]!) / enc.hp.imageStd[c]!, 5);
    }
    // the image itself sits in the middle rows; without padding it fills the tile
    expect(Math.abs(px(a.pixels, 0, 16, 31) - px(a.pixels, 0, 16, 0))).toBeGreaterThan(1);
    expect(Math.abs(px(b.pixels, 0, 0, 0) - (pad[0] / 255 - enc.hp.imageMean[0]) / enc.hp.imageStd[0])).toBeGreaterThan(1e-3);
    await storage.close();
  });
});

describe.skipIf(!python && !process.env.CI)('image cache entries read by the independent python safetensors reader', () => {
  it('pixels and embeddings: dtype, shape, values; metadata', async () => {
    const storage = await FsStorage.open(join(dir, 'py'));
    const cache = new ImageCache({ encoder: enc, storage, core: be.core });
    const r = await cache.encode(png(45, 45), 'py');
    const got = JSON.parse(execFileSync(python!, [script, 'read', storage.pathOf(r.key)], { encoding: 'utf8', maxBuffer: 1 << 26 }));
    expect(got.tensors.embeddings.dtype).toBe('F32');
    expect(got.tensors.embeddings.shape).toEqual([1, enc.hp.nTokens, enc.hp.nOut]);
    expect(got.tensors.embeddings.values).toEqual(Array.from(r.embeddings));
    expect(got.tensors.pixels.shape).toEqual([1, 3, 32, 32]);
    expect(got.tensors.pixels.values).toEqual(Array.from(r.pixels));
    expect(got.metadata.encoder_digest).toBe(enc.digest);
    expect(got.metadata.session).toBe('py');
    expect(got.metadata.image_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(got.checksum_ok).not.toBe(false);
    await storage.close();
  });
});
