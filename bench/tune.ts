/**
 * `npm run bench:tune`: the autotuned MATMUL split (src/hardware/tune.ts) against the core's default on
 * this machine, end to end. Two engines load the same synthetic model (default: the 1B shape, Q4_0): one
 * untuned, one tuned now (forced, within --budget ms). Their prefill and decode runs alternate (A B A B …)
 * so machine noise hits both alike; the report gives each one's median tokens/s and the ratio tuned/default.
 * The tuner keeps the default for a shape unless a candidate's median matmul time beats it by 3%.
 *
 * The tuner times the WASM MATMUL split, so both engines run the WASM backend (auto may take native, which has none).
 * Usage: npm run bench:tune -- [--shape 1b|tiny] [--type Q4_0] [--threads 2] [--prompt 128] [--predict 32] [--reps 5] [--budget 2000] [--model PATH]
 */
import { parseArgs } from 'node:util';
import { createEngine, type Engine } from '../src/engine.ts';
import { GgmlType } from '../src/gguf/types.ts';
import { MemoryStorage } from '../src/storage/memory.ts';
import { type BenchType, type ShapeName, syntheticModel } from './models.ts';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: '1b' },
    type: { type: 'string', default: 'Q4_0' },
    model: { type: 'string' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string', default: '128' },
    predict: { type: 'string', default: '32' },
    reps: { type: 'string', default: '5' },
    budget: { type: 'string', default: '2000' },
  },
});
const threads = Number(values.threads);
const nPrompt = Number(values.prompt);
const nPredict = Number(values.predict);
const reps = Number(values.reps);
const budgetMs = Number(values.budget);
const log = (m: string) => console.error(m);

const path = values.model ?? (await syntheticModel(values.shape as ShapeName, values.type as BenchType, log)).path;
log(`model ${path}, ${threads} threads, prompt ${nPrompt}, predict ${nPredict}, ${reps} reps`);

const untuned = await createEngine({ model: path, threads, numBatch: nPrompt, backend: 'wasm', tune: false });
const t0 = performance.now();
const tuned = await createEngine({ model: path, threads, numBatch: nPrompt, backend: 'wasm', tune: { storage: new MemoryStorage(), budgetMs, force: true } });
const loadMs = performance.now() - t0;
const tr = tuned.backendInfo.tuning!;
console.log(`tuning: ${tr.source}, ${tr.reason} (tuned engine loaded in ${Math.round(loadMs)} ms)`);
for (const c of tr.choices) {
  const shape = `${GgmlType[c.wtype]} ${c.nIn}→${c.nOut} ${c.phase}`.padEnd(28);
  console.log(`  ${shape} ${c.chunkRows ? `${c.chunkRows} rows/chunk` : 'default'.padEnd(14)}  default ${c.defaultMs} ms, chosen ${c.bestMs} ms (${c.rounds} rounds, candidates ${c.candidates.join(',')})`);
}

const prompt = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % 20000));
const runs: Record<'default' | 'tuned', { pp: number[]; tg: number[] }> = { default: { pp: [], tg: [] }, tuned: { pp: [], tg: [] } };
const one = async (name: 'default' | 'tuned', e: Engine) => {
  const r = await e.bench({ promptTokens: prompt, nPredict });
  runs[name].pp.push((r.nPrompt / r.prefillMs) * 1000);
  runs[name].tg.push((r.nDecode / r.decodeMs) * 1000);
};
await one('default', untuned); // warm-up (not counted)
await one('tuned', tuned);
runs.default = { pp: [], tg: [] };
runs.tuned = { pp: [], tg: [] };
for (let i = 0; i < reps; i++) {
  // Alternate which goes first, so a slow-down that lasts one pair hits both orders.
  if (i % 2 === 0) {
    await one('default', untuned);
    await one('tuned', tuned);
  } else {
    await one('tuned', tuned);
    await one('default', untuned);
  }
}
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (a: number[]) => `${median(a).toFixed(2)} tok/s (runs ${a.map((x) => x.toFixed(1)).join(', ')})`;
console.log(`\n${values.model ?? `${values.shape}-${values.type}`}, ${threads} threads, ${tuned.backendInfo.kind} (${untuned.info.backend}), medians of ${reps} alternating runs:`);
for (const [phase, k] of [['prefill', 'pp'], ['decode', 'tg']] as const) {
  const d = median(runs.default[k]);
  const t = median(runs.tuned[k]);
  console.log(`  ${phase.padEnd(8)} default ${fmt(runs.default[k])}`);
  console.log(`  ${''.padEnd(8)} tuned   ${fmt(runs.tuned[k])}`);
  console.log(`  ${''.padEnd(8)} tuned/default = ${(t / d).toFixed(3)}`);
}
await untuned.close();
await tuned.close();
