/**
 * Vision encoder speed on the WASM backend: a synthetic SigLIP-base-sized tower with the Gemma 3 projector
 * (224 px, patch 16 → 14×14 = 196 patches, n_embd 768, n_ff 3072, 12 blocks, F16 matrices; 2×2 pool → 49 tokens
 * of 1024), encoding tiles one by one vs in batches of 4, interleaved.
 *
 *   npm run build && node dist/bench/vision-encode.js [threads] [reps]
 *
 * Reports ms per tile (median over reps) for batch 1 and batch 4, and the image-cache hit cost.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasmBackend } from '../src/backend/wasm/backend.ts';
import { openGguf } from '../src/gguf/reader.ts';
import { MemoryStorage } from '../src/storage/memory.ts';
import { writeSyntheticMmproj } from '../src/synth/mmproj.ts';
import { ImageCache } from '../src/vision/cache.ts';
import { VisionEncoder } from '../src/vision/encoder/index.ts';
import { buildPng, pattern } from '../test/vision/images.ts';

const threads = Number(process.argv[2] ?? 2);
const reps = Number(process.argv[3] ?? 3);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = join(tmpdir(), 'tessera-bench-vision');
mkdirSync(dir, { recursive: true });
const path = join(dir, 'siglip-base-gemma3.gguf');
await writeSyntheticMmproj(path, { projector: 'gemma3', imageSize: 224, patchSize: 16, nEmbd: 768, nFf: 3072, nLayer: 12, nHead: 12, nOut: 1024, mergeSize: 2, type: 'F16', seed: 1 });
const be = await WasmBackend.create({ threads });
const enc = await VisionEncoder.load(await openGguf(path), be, { maxTiles: 4 });
const tile = () => Float32Array.from({ length: 3 * 224 * 224 }, () => Math.random() * 2 - 1);
const tiles = [tile(), tile(), tile(), tile()];
await enc.encode([tiles[0]!]); // warm-up
const one: number[] = [];
const four: number[] = [];
for (let r = 0; r < reps; r++) {
  let t0 = performance.now();
  for (const t of tiles) await enc.encode([t]);
  one.push((performance.now() - t0) / 4);
  t0 = performance.now();
  await enc.encode(tiles);
  four.push((performance.now() - t0) / 4);
}
console.log(`threads ${threads}, ${enc.hp.nPos} positions/tile, ${enc.hp.nTokens} tokens out/tile`);
console.log(`batch 1: ${median(one).toFixed(1)} ms/tile   (runs: ${one.map((v) => v.toFixed(0)).join(', ')})`);
console.log(`batch 4: ${median(four).toFixed(1)} ms/tile   (runs: ${four.map((v) => v.toFixed(0)).join(', ')})`);

const cache = new ImageCache({ encoder: enc, storage: new MemoryStorage(), core: be.core, maxTiles: 4, overview: true });
const png = buildPng(640, 480, 2, pattern(640, 480));
let t0 = performance.now();
const miss = await cache.encode(png, 'bench');
const missMs = performance.now() - t0;
t0 = performance.now();
await cache.encode(png, 'bench');
const hitMs = performance.now() - t0;
console.log(`image cache, 640×480 PNG → ${miss.nTiles} tiles: miss ${missMs.toFixed(0)} ms (decode + resample + encode + store), hit ${hitMs.toFixed(1)} ms`);
await be.close();
