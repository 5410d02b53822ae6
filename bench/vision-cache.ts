/**
 * The image cache on a synthetic Gemma-3-shape vision model (Gemma 3 text model + SigLIP tower + 2D average-pool
 * projector, as llama.cpp's gemma3 mmproj; random weights, dims shrunk by flags so a run takes minutes on 2 cores).
 *
 *   npm run bench:vision-cache                   # = npm run build && node dist/bench/vision-cache.js
 *   node dist/bench/vision-cache.js --images 100 --prompts 3 --threads 2 --predict 8
 *     shape flags: --image-size 224 --patch 14 --merge 4 --vit-embd 384 --vit-ff 1536 --vit-layers 6 --vit-heads 6
 *                  --text-embd 512 --text-layers 6 --text-heads 8 --text-kv-heads 2 --text-ff 2048 --type F16
 *
 * (a) the same image asked twice: the second request's decode+encode time (a cache hit) vs the first's.
 * (b) N images × P prompts each (image first, then the question), requests one at a time, on two engines loaded
 *     side by side and interleaved image by image: "cache" (image cache + KV pages keyed by the image: the default)
 *     and "no cache" (image cache off, and KV pages holding image rows never shared: every request decodes, encodes
 *     and prefills its image). With --image-cache-only, a third engine: image cache off but KV reuse on. Total time
 *     and the ratio.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, type Engine, type Generation } from '../src/engine.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../src/synth/index.ts';
import { writeSyntheticMmproj } from '../src/synth/mmproj.ts';
import { buildPng, pattern } from '../test/vision/images.ts';

const { values: a } = parseArgs({
  options: {
    images: { type: 'string', default: '100' }, prompts: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' },
    predict: { type: 'string', default: '8' }, 'image-size': { type: 'string', default: '224' }, patch: { type: 'string', default: '14' },
    merge: { type: 'string', default: '4' }, 'vit-embd': { type: 'string', default: '384' }, 'vit-ff': { type: 'string', default: '1536' },
    'vit-layers': { type: 'string', default: '6' }, 'vit-heads': { type: 'string', default: '6' }, 'text-embd': { type: 'string', default: '512' },
    'text-layers': { type: 'string', default: '6' }, 'text-heads': { type: 'string', default: '8' }, 'text-kv-heads': { type: 'string', default: '2' },
    'text-ff': { type: 'string', default: '2048' }, 'image-cache-only': { type: 'boolean', default: false }, type: { type: 'string', default: 'F16' }, 'width': { type: 'string', default: '640' }, 'height': { type: 'string', default: '480' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);
const type = a.type as 'F32' | 'F16' | 'Q8_0';
const vit = { imageSize: n('image-size'), patchSize: n('patch'), mergeSize: n('merge'), nEmbd: n('vit-embd'), nFf: n('vit-ff'), nLayer: n('vit-layers'), nHead: n('vit-heads') };
const text = { nEmbd: n('text-embd'), nLayer: n('text-layers'), nHead: n('text-heads'), nHeadKv: n('text-kv-heads'), nFf: n('text-ff') };
const side = vit.imageSize / vit.patchSize;
const nTokens = (side / vit.mergeSize) ** 2;

const dir = join(tmpdir(), 'tessera-bench-vision-cache');
mkdirSync(dir, { recursive: true });
const key = Object.values({ ...vit, ...text, type }).join('-');
const model = join(dir, `gemma3-${key}.gguf`);
const projector = join(dir, `gemma3-${key}.mmproj.gguf`);
const vocab = tinyLlamaVocab(['▁', '▁the', '▁a', 'e', 't', '▁hello', '▁world', 'he', 'll', 'o', '<start_of_image>', '<end_of_image>']);
await writeSyntheticLlama(model, { arch: 'gemma3', ...text, type, seed: 7, tokenizer: vocab, nCtx: 4096 });
await writeSyntheticMmproj(projector, { projector: 'gemma3', ...vit, nOut: text.nEmbd, type, seed: 8 });

const threads = n('threads');
const predict = n('predict');
const W = n('width'), H = n('height');
console.log(`shape: gemma3 text n_embd ${text.nEmbd}, ${text.nLayer} layers, ${text.nHead}/${text.nHeadKv} heads, n_ff ${text.nFf}, ${type}; ` +
  `SigLIP ${vit.imageSize} px, patch ${vit.patchSize} (${side}×${side} patches), n_embd ${vit.nEmbd}, n_ff ${vit.nFf}, ${vit.nLayer} blocks, ${vit.nHead} heads, ` +
  `${vit.mergeSize}×${vit.mergeSize} pool → ${nTokens} soft tokens; images ${W}×${H} PNG; ${predict} tokens generated; threads ${threads}`);

const open = (imageCache: { cache?: boolean; kvReuse?: boolean }) =>
  createEngine({ model, projector, threads, backend: 'wasm', tune: false, numCtx: 1024, numParallel: 1, imageCache });
const png = (i: number) => buildPng(W, H, 2, pattern(W, H).map((v, j) => (v + i * 13 + (j % 7)) & 255));
const QUESTIONS = ['hello world', 'the world', 'a hello'];

async function ask(e: Engine, img: Uint8Array, q: string): Promise<{ ms: number; encodeMs: number; cachedTokens: number; cached: boolean }> {
  const t0 = performance.now();
  const gen: Generation = e.generate({ prompt: q, images: [img], options: { temperature: 0, num_predict: predict } });
  for await (const _ of gen);
  return { ms: performance.now() - t0, encodeMs: gen.images!.encodeNs / 1e6, cachedTokens: gen.stats!.cachedTokens, cached: gen.images!.cached[0]! };
}

// (a) the same image twice.
{
  const e = await open({});
  await ask(e, png(1000), 'hello'); // warm-up (another image)
  const img = png(1001);
  const first = await ask(e, img, QUESTIONS[0]!);
  const second = await ask(e, img, QUESTIONS[1]!);
  console.log(`(a) same image twice: decode+encode ${first.encodeMs.toFixed(1)} ms → ${second.encodeMs.toFixed(2)} ms (cache hit: ${second.cached}); ` +
    `request ${first.ms.toFixed(0)} ms → ${second.ms.toFixed(0)} ms; KV tokens reused ${first.cachedTokens} → ${second.cachedTokens}`);
  await e.close();
}

// (b) N images × P prompts, interleaved image by image.
const N = n('images'), P = n('prompts');
const IMG_OFF = 'image cache off, KV reuse on';
const engines: Record<string, Engine> = { cache: await open({}), 'no cache': await open({ cache: false, kvReuse: false }) };
if (a['image-cache-only']) engines[IMG_OFF] = await open({ cache: false });
const total: Record<string, number> = {};
for (const k of Object.keys(engines)) {
  await ask(engines[k]!, png(2000), 'hello'); // warm-up
  total[k] = 0;
}
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const img = png(i);
  for (const [k, e] of Object.entries(engines)) {
    for (let p = 0; p < P; p++) total[k]! += (await ask(e, img, QUESTIONS[p % QUESTIONS.length]!)).ms;
  }
  if ((i + 1) % 10 === 0) console.error(`  ${i + 1}/${N} images, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
for (const e of Object.values(engines)) await e.close();
const s = (k: string) => (total[k]! / 1000).toFixed(1);
console.log(`(b) ${N} images × ${P} prompts: cache ${s('cache')} s, no cache ${s('no cache')} s → ${(total['no cache']! / total.cache!).toFixed(2)}×` +
  (engines[IMG_OFF] ? ` (image cache off, KV reuse on: ${s(IMG_OFF)} s → ${(total[IMG_OFF]! / total.cache!).toFixed(2)}×)` : ''));
