/**
 * Native llama.cpp engine child: llama.cpp's own `llama-bench`, built for this CPU by bench/build-llama-bench.sh
 * from the source node-llama-cpp ships (same release as the prebuilt oracle, but -march=native). This is the
 * "native llama.cpp" the speed targets refer to.
 *
 * llama-bench runs its own warm-up, then `reps` runs of a pp test (nPrompt random tokens in one batch) and of a tg
 * test (nPredict single-token steps); each run becomes one RunSample. Its tg test starts from an empty cache, ours
 * after the prompt: at a 128-token depth that changes a 1B model's per-token work by well under 1%.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { llamaBenchPath } from '../paths.ts';
import { readRequest, writeResult } from './protocol.ts';
import type { EngineRequest, EngineResult, RunSample } from '../types.ts';

interface LlamaBenchTest {
  n_prompt: number;
  n_gen: number;
  samples_ns: number[];
  build_commit?: string;
  cpu_info?: string;
  backends?: string;
  flash_attn?: unknown;
}

const req = readRequest<EngineRequest>();
const bin = llamaBenchPath();
if (!existsSync(bin)) throw new Error(`${bin} not found: run bench/build-llama-bench.sh first`);
const nPrompt = req.prompt.tokens.length;
const args = ['-m', req.modelPath, '-t', String(req.threads), '-p', String(nPrompt), '-n', String(req.nPredict), '-r', String(req.reps), '-o', 'json'];
const t0 = performance.now();
const run = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
if (run.status !== 0) throw new Error(`llama-bench exited with ${run.status}: ${run.stderr.slice(-2000)}`);
const tests = JSON.parse(run.stdout) as LlamaBenchTest[];
const pp = tests.find((t) => t.n_prompt === nPrompt && t.n_gen === 0);
const tg = tests.find((t) => t.n_prompt === 0 && t.n_gen === req.nPredict);
if (!pp || !tg) throw new Error(`llama-bench output lacks the pp${nPrompt} or tg${req.nPredict} test`);
const samples: RunSample[] = pp.samples_ns.map((ns, i) => ({
  prefillMs: ns / 1e6,
  decodeMs: tg.samples_ns[i] / 1e6,
  nPrompt,
  nDecode: req.nPredict,
}));
const result: EngineResult = {
  engine: 'llamabench',
  detail: `llama-bench ${pp.build_commit ?? ''} (${pp.backends ?? 'CPU'}, ${pp.cpu_info ?? ''}, flash_attn ${String(pp.flash_attn)}), ${bin}`,
  loadMs: performance.now() - t0,
  samples,
  warnings: [],
};
writeResult(result);
