/**
 * 2D-RoPE vision encoder speed on the WASM backend, synthetic towers of the real widths with fewer blocks
 * (F16 matrices), one 224×224 image (16×16 = 256 patches of 14 px):
 * - Qwen2.5-VL-like: n_embd 1280, 16 heads (80), n_ff 3420, 2 blocks, window 112 px (4×4 merge units),
 *   block 1 full attention, block 0 windowed; against the same file with every block full (n_wa_pattern 1), interleaved;
 * - Mistral-Small-3.1-like (pixtral): n_embd 1024, 16 heads (64), n_ff 4096, 2 blocks, 2×2 patch merger.
 *
 *   npm run build && node dist/bench/vision-rope-encode.js [threads] [reps]
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasmBackend } from '../src/backend/wasm/backend.ts';
import { openGguf } from '../src/gguf/reader.ts';
import { type SynthRopeMmprojSpec, writeSyntheticRopeMmproj } from '../src/synth/mmproj-rope.ts';
import { RopeVisionEncoder } from '../src/vision/encoder/index.ts';

const threads = Number(process.argv[2] ?? 2);
const reps = Number(process.argv[3] ?? 3);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = join(tmpdir(), 'tessera-bench-vision-rope');
mkdirSync(dir, { recursive: true });

const QWEN: SynthRopeMmprojSpec = { projector: 'qwen2.5vl_merger', imageSize: 224, patchSize: 14, nEmbd: 1280, nFf: 3420, nLayer: 2, nHead: 16, nOut: 2048, waPattern: 2, windowSize: 112, type: 'F16', seed: 1 };
const PIXTRAL: SynthRopeMmprojSpec = { projector: 'pixtral', imageSize: 224, patchSize: 14, nEmbd: 1024, nFf: 4096, nLayer: 2, nHead: 16, nOut: 2048, merge: 2, type: 'F16', seed: 2 };

const be = await WasmBackend.create({ threads });
const load = async (name: string, spec: SynthRopeMmprojSpec) => {
  const path = join(dir, `${name}.gguf`);
  const t0 = performance.now();
  await writeSyntheticRopeMmproj(path, spec);
  const e = await RopeVisionEncoder.load(await openGguf(path), be);
  console.log(`${name}: written and loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return e;
};
const encs = { 'qwen windows': await load('qwen-win', QWEN), 'qwen all full': await load('qwen-full', { ...QWEN, waPattern: 1 }), 'pixtral merger': await load('pixtral', PIXTRAL) };
const img = Float32Array.from({ length: 3 * 224 * 224 }, () => Math.random() * 2 - 1);
const times: Record<string, number[]> = {};
for (const [k, e] of Object.entries(encs)) {
  await e.encode(img, 224, 224); // warm-up
  times[k] = [];
}
for (let r = 0; r < reps; r++) {
  for (const [k, e] of Object.entries(encs)) {
    const t0 = performance.now();
    await e.encode(img, 224, 224);
    times[k]!.push(performance.now() - t0);
  }
}
console.log(`threads ${threads}, 224×224 image, 256 patches`);
for (const [k, ts] of Object.entries(times)) {
  const o = await encs[k as keyof typeof encs].encode(img, 224, 224);
  console.log(`${k.padEnd(15)} ${median(ts).toFixed(0)} ms/image → ${o.nTokens} rows  (runs: ${ts.map((v) => v.toFixed(0)).join(', ')})`);
}
await be.close();
