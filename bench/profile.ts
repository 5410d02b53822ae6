/**
 * Where a forward pass spends its time: the WASM backend's per-op profile (WasmBackend.profiler) of one prefill
 * and of decode steps, on a synthetic bench model or any GGUF, next to the unprofiled times.
 *
 *   npm run build && node dist/bench/profile.js [--types Q4_0,Q8_0,Q4_K_M] [--model PATH] [--threads 2]
 *       [--prompt 128] [--predict 16] [--shape 1b] [--backend wasm|native]
 *
 * Profiled runs execute one command at a time (a thread wake-up and a barrier each), so their total exceeds the
 * unprofiled time; the table's shares and the matmul GMAC/s (multiply-adds ÷ that op's wall time) are the point.
 * Memory bandwidth sets a matmul's ceiling at (bandwidth ÷ weight bytes) × n_in·n_out per second in decode.
 */
import { parseArgs } from 'node:util';
import { NativeBackend } from '../src/backend/native/backend.ts';
import { WasmBackend, type OpProfile } from '../src/backend/wasm/backend.ts';
import { openGguf } from '../src/gguf/reader.ts';
import { GgmlType } from '../src/gguf/types.ts';
import { loadModel } from '../src/model/model.ts';
import { type BenchType, type ShapeName, syntheticModel } from './models.ts';
import { formatTable } from './table.ts';

const { values } = parseArgs({
  options: {
    types: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string' },
    prompt: { type: 'string' }, predict: { type: 'string' }, shape: { type: 'string' }, backend: { type: 'string' },
  },
});
const threads = Number(values.threads ?? 2);
const nPrompt = Number(values.prompt ?? 128);
const nPredict = Number(values.predict ?? 16);
const log = (m: string) => void process.stderr.write(`[profile] ${m}\n`);

const paths: { label: string; path: string }[] = [];
if (values.model) paths.push({ label: values.model, path: values.model });
else for (const t of (values.types ?? 'Q4_0').split(',')) paths.push(await syntheticModel((values.shape ?? '1b') as ShapeName, t as BenchType, log));

for (const { label, path } of paths) {
  const file = await openGguf(path);
  const be = values.backend === 'native' ? await NativeBackend.create({ threads }) : await WasmBackend.create({ threads });
  const m = await loadModel(file, be, { nCtx: nPrompt + nPredict + 8, maxTokens: nPrompt, kvType: GgmlType.F16 });
  const prefill = async () => {
    for (let i = 0; i < nPrompt; i++) {
      m.inputTokens[i] = (i * 7919 + 1) % 32000;
      m.inputPositions[i] = i;
    }
    await m.forward(nPrompt, nPrompt, 1);
  };
  const decode = async () => {
    for (let i = 0; i < nPredict; i++) {
      m.inputTokens[0] = (i * 104729 + 3) % 32000;
      m.inputPositions[0] = nPrompt + i;
      await m.forward(1, nPrompt + i + 1, 1);
    }
  };
  await prefill(); // warm-up
  await decode();
  const t0 = performance.now();
  await prefill();
  const t1 = performance.now();
  await decode();
  const t2 = performance.now();
  const report = (name: string, prof: OpProfile, plainMs: number, steps: number) => {
    const total = [...prof.values()].reduce((a, e) => a + e.ms, 0);
    const rows = [...prof.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([k, e]) => [
      k, String(e.calls / steps), (e.ms / steps).toFixed(2), `${((100 * e.ms) / total).toFixed(1)}%`, e.macs ? (e.macs / (e.ms * 1e6)).toFixed(2) : '',
    ]);
    console.log(`\n${label} ${name}: unprofiled ${(plainMs / steps).toFixed(1)} ms per ${name === 'prefill' ? `${nPrompt}-token batch` : 'token'}, ` +
      `profiled ${(total / steps).toFixed(1)} ms (${threads} threads, ${be instanceof NativeBackend ? `native ${be.simdLevel}` : be.variant})`);
    console.log(formatTable(['op', 'calls', 'ms', 'share', 'GMAC/s'], rows, ['l', 'r', 'r', 'r', 'r']));
  };
  const pp: OpProfile = new Map();
  be.profiler = pp;
  await prefill();
  const dp: OpProfile = new Map();
  be.profiler = dp;
  await decode();
  be.profiler = null;
  report('prefill', pp, t1 - t0, 1);
  report('decode', dp, t2 - t1, nPredict);
  await be.close();
}
