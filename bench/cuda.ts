/**
 * `node dist/bench/cuda.js [--shape 1b|tiny] [--types Q4_0,Q4_K_M] [--prompt 512] [--predict 64] [--reps 2] [--out DIR]`
 *
 * The CUDA backend's prefill and decode on the synthetic 1B-shape models (bench/models.ts), next to the native CPU
 * backend on the same file in the same run (all cores), for a GPU machine: needs no llama.cpp (prompt = BOS then
 * fixed ordinary Llama-2 token ids). Each engine runs `Engine.bench` (prefill of the prompt in one batch, then
 * greedy single-token decode steps) after one warm-up. Prints a table and writes cuda-bench.json to --out.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/index.ts';
import { hardwareReport } from '../src/hardware/report.ts';
import { syntheticModel, type BenchType, type ShapeName } from './models.ts';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: '1b' },
    types: { type: 'string', default: 'Q4_0,Q4_K_M' },
    prompt: { type: 'string', default: '512' },
    predict: { type: 'string', default: '64' },
    reps: { type: 'string', default: '2' },
    backends: { type: 'string', default: 'cuda,native' },
    out: { type: 'string', default: '.' },
  },
});
const nPrompt = Number(values.prompt);
const nPredict = Number(values.predict);
const reps = Number(values.reps);
const threads = availableParallelism();
const prompt = [1, ...Array.from({ length: nPrompt - 1 }, (_, i) => 300 + ((i * 7919) % 29000))];
const hw = await hardwareReport();
const card = hw.cuda.devices[0];
console.log(`CUDA: ${hw.cuda.available ? `${card?.name}, ${card?.smCount} SMs, ${((card?.bandwidthBytesPerSec ?? 0) / 1e9).toFixed(0)} GB/s` : `unavailable: ${hw.cuda.reason}`}; ${threads} CPU cores`);

type Row = { model: string; backend: string; loadMs: number; prefillTokPerS: number; decodeTokPerS: number; detail: string; error?: string };
const rows: Row[] = [];
for (const type of values.types!.split(',') as BenchType[]) {
  const model = await syntheticModel(values.shape as ShapeName, type, (m) => console.log(m));
  for (const backend of values.backends!.split(',') as ('cuda' | 'native' | 'wasm')[]) {
    try {
      const t0 = performance.now();
      const engine = await createEngine({ model: model.path, threads, backend, numCtx: nPrompt + nPredict + 16, numBatch: nPrompt, tune: false });
      const loadMs = performance.now() - t0;
      let pre = 0, dec = 0;
      for (let r = 0; r < reps + 1; r++) {
        const s = await engine.bench({ promptTokens: prompt, nPredict });
        if (r === 0) continue;
        pre += (s.nPrompt / s.prefillMs) * 1000;
        dec += (s.nDecode / s.decodeMs) * 1000;
      }
      const info = engine.info;
      rows.push({ model: model.label, backend: info.backend, loadMs, prefillTokPerS: pre / reps, decodeTokPerS: dec / reps, detail: `${info.threads} threads, ${(info.memoryBytes / 2 ** 20).toFixed(0)} MiB` });
      await engine.close();
    } catch (e) {
      rows.push({ model: model.label, backend, loadMs: 0, prefillTokPerS: 0, decodeTokPerS: 0, detail: '', error: (e as Error)?.message ?? String(e) });
    }
    const r = rows[rows.length - 1];
    console.log(r.error ? `${r.model} ${r.backend}: FAILED ${r.error}` : `${r.model} ${r.backend}: prefill ${r.prefillTokPerS.toFixed(1)} tok/s (${nPrompt} tokens), decode ${r.decodeTokPerS.toFixed(1)} tok/s (${nPredict} steps), load ${(r.loadMs / 1000).toFixed(1)} s, ${r.detail}`);
  }
}
console.table(rows);
writeFileSync(join(values.out!, 'cuda-bench.json'), JSON.stringify({ card: card ?? null, cuda: hw.cuda.reason, threads, nPrompt, nPredict, reps, rows }, null, 2));
process.exit(0);
