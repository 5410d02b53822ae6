/**
 * Tessera engine child: loads the model through the public API and times Engine.bench (prefill of the prompt in
 * batches of up to numBatch tokens, then nPredict greedy single-token steps). Started by bench/run.ts with Node.
 * Extra request fields: `wasmVariant` ('auto' | 'simd' | 'relaxed'), passed to createEngine; `backend: 'native'`
 * runs the native backend (src/backend/native) instead, reported as engine 'native'; `backend: 'cuda'` the CUDA
 * backend (src/backend/cuda), reported as 'cuda'.
 */
import { createEngine, type EngineOptions } from '../../src/index.ts';
import { readRequest, writeResult } from './protocol.ts';
import type { EngineRequest, EngineResult, RunSample } from '../types.ts';

const req = readRequest<EngineRequest & { wasmVariant?: EngineOptions['wasmVariant']; backend?: 'native' | 'cuda' }>();
const native = req.backend === 'native';
const cuda = req.backend === 'cuda';
const nPrompt = req.prompt.tokens.length;
const t0 = performance.now();
const engine = await createEngine({
  model: req.modelPath,
  threads: req.threads,
  numCtx: nPrompt + req.nPredict + 16,
  numBatch: Math.max(512, nPrompt),
  wasmVariant: req.wasmVariant ?? 'auto',
  backend: cuda ? 'cuda' : native ? 'native' : 'wasm',
});
const loadMs = performance.now() - t0;
const samples: RunSample[] = [];
for (let r = 0; r < req.warmup + req.reps; r++) {
  const s = await engine.bench({ promptTokens: req.prompt.tokens, nPredict: req.nPredict });
  if (r >= req.warmup) samples.push(s);
}
const info = engine.info;
await engine.close();
const result: EngineResult = {
  engine: cuda ? 'cuda' : native ? 'native' : 'tessera',
  detail: `backend ${info.backend}, ${info.threads} threads, ${(info.memoryBytes / 2 ** 20).toFixed(0)} MiB backend memory, Node ${process.versions.node}`,
  loadMs,
  samples,
  warnings: info.threads === req.threads ? [] : [`engine runs ${info.threads} threads, asked ${req.threads}`],
};
writeResult(result);
process.exit(0);
