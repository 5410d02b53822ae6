/**
 * A/B of two native library builds on one model, interleaved in one process so that a shared machine's load hits
 * both alike: each build gets its own backend and copy of the model; rounds alternate A, B, A, B, … and each round
 * times `--predict` single-token decode steps (after a `--prompt`-token prefill done once). Prints best and median
 * decode tok/s per build and the B/A ratio of the bests.
 *
 *   npm run build && node dist/bench/native-ab.js --a /tmp/old/libtessera-x86-64-v3.so \
 *       [--b wasm/dist/native/linux-x64/libtessera-x86-64-v3.so] [--types Q4_0,Q4_K_M] [--rounds 6] [--threads 2]
 *       [--only A|B]   (one build alone, e.g. under `perf stat -e context-switches,syscalls:sys_enter_futex`)
 *       [--repack-a 0|1] [--repack-b 0|1]   (the 4-row interleave of Q4_K/Q6_K at load; default: the backend's)
 * One build with and without the repack: `--a F --b F --repack-a 0 --repack-b 1`.
 */
import { parseArgs } from 'node:util';
import { NativeBackend } from '../src/backend/native/backend.ts';
import { openGguf } from '../src/gguf/reader.ts';
import { GgmlType } from '../src/gguf/types.ts';
import { loadModel } from '../src/model/model.ts';
import { type BenchType, syntheticModel } from './models.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string' }, types: { type: 'string' }, rounds: { type: 'string' },
    threads: { type: 'string' }, prompt: { type: 'string' }, predict: { type: 'string' }, only: { type: 'string' },
    'repack-a': { type: 'string' }, 'repack-b': { type: 'string' },
  },
});
if (!values.a) throw new Error('--a FILE is required');
const files = { A: values.a, B: values.b ?? 'wasm/dist/native/linux-x64/libtessera-x86-64-v3.so' };
const threads = Number(values.threads ?? 2);
const nPrompt = Number(values.prompt ?? 32);
const nPredict = Number(values.predict ?? 16);
const rounds = Math.max(1, Number(values.rounds ?? 6));
const log = (m: string) => void process.stderr.write(`[ab] ${m}\n`);

for (const t of (values.types ?? 'Q4_0').split(',')) {
  const { label, path } = await syntheticModel('1b', t as BenchType, log);
  const runs: { name: 'A' | 'B'; step: () => Promise<number>; close: () => Promise<void>; tps: number[] }[] = [];
  for (const name of (values.only ? [values.only] : ['A', 'B']) as ('A' | 'B')[]) {
    const rp = values[name === 'A' ? 'repack-a' : 'repack-b'];
    const be = await NativeBackend.create({ threads, libraryFile: files[name], repack: rp === undefined ? undefined : rp !== '0' });
    const m = await loadModel(await openGguf(path), be, { nCtx: nPrompt + rounds * nPredict + 8, maxTokens: nPrompt, kvType: GgmlType.F16 });
    for (let i = 0; i < nPrompt; i++) {
      m.inputTokens[i] = (i * 7919 + 1) % 32000;
      m.inputPositions[i] = i;
    }
    await m.forward(nPrompt, nPrompt, 1);
    let pos = nPrompt;
    const step = async () => {
      const t0 = performance.now();
      for (let i = 0; i < nPredict; i++, pos++) {
        m.inputTokens[0] = (pos * 104729 + 3) % 32000;
        m.inputPositions[0] = pos;
        await m.forward(1, pos + 1, 1);
      }
      return (nPredict * 1000) / (performance.now() - t0);
    };
    runs.push({ name, step, close: () => be.close(), tps: [] });
  }
  for (let r = 0; r < rounds; r++) for (const run of r % 2 ? [...runs].reverse() : runs) run.tps.push(await run.step());
  const best = (v: number[]) => Math.max(...v);
  const med = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1];
  for (const run of runs) console.log(`${label} ${run.name} (${files[run.name]}): decode best ${best(run.tps).toFixed(1)} tok/s, median ${med(run.tps).toFixed(1)}  [${run.tps.map((v) => v.toFixed(1)).join(' ')}]`);
  if (runs.length === 2) console.log(`${label} B/A decode (best): ${(best(runs[1].tps) / best(runs[0].tps)).toFixed(2)}×, (median): ${(med(runs[1].tps) / med(runs[0].tps)).toFixed(2)}×`);
  for (const run of runs) await run.close();
}
