/**
 * wllama engine child: llama.cpp compiled to WASM (SIMD, pthreads, memory64), run under Deno (see wllama-shims.ts).
 * Started by bench/run.ts as `deno run -A wllama-child.js '<EngineRequest JSON>'`.
 *
 * wllama 3 wraps llama-server, so the timings are llama-server's own: prompt_ms for the prefill (whole prompt in one
 * batch, up to and including the first sampled token) and predicted_ms for the following predicted_n − 1 single-token
 * steps. It only takes text prompts, so the request's prompt.text is sent and its token count checked.
 * Extra request field: `byteTokens`, the ids of <0xNN> tokens. They get a logit bias of −1000: a random model
 * emits them, and llama-server then fails to serialise the invalid UTF-8 of the result. Greedy picks among the
 * other tokens instead; the work per step is the same.
 */
import './wllama-shims.ts';
import { readFileSync } from 'node:fs';
import { Wllama } from '@wllama/wllama';
import { readRequest, writeResult } from './protocol.ts';
import { packageFile, packageVersion } from '../paths.ts';
import type { EngineRequest, EngineResult, RunSample } from '../types.ts';

interface Timings {
  prompt_n: number;
  prompt_ms: number;
  predicted_n: number;
  predicted_ms: number;
}

const req = readRequest<EngineRequest & { byteTokens?: number[] }>();
const wasmUrl = URL.createObjectURL(
  new Blob([readFileSync(packageFile('@wllama/wllama', 'esm/wasm/wllama.wasm'))], { type: 'application/wasm' }),
);
const verbose = process.env.BENCH_VERBOSE === '1';
const quiet = { debug: () => {}, log: () => {}, warn: console.error, error: console.error };
// The cache manager is only used for downloads; its default (OPFS) does not exist outside browsers.
const wllama = new Wllama(
  { default: wasmUrl },
  { suppressNativeLog: !verbose, logger: verbose ? console : quiet, cacheManager: {} as never },
);

const t0 = performance.now();
const model = new File([readFileSync(req.modelPath)], 'model.gguf');
await wllama.loadModel([model], {
  n_threads: req.threads,
  n_ctx: 2048,
  n_batch: 512,
  n_ubatch: 512,
  n_gpu_layers: 0,
});
const loadMs = performance.now() - t0;

const warnings: string[] = [];
if (wllama.getNumThreads() !== req.threads) warnings.push(`wllama runs ${wllama.getNumThreads()} threads, asked ${req.threads}`);
// Greedy; nPredict + 1 tokens = the one sampled by the prefill + nPredict decode steps. cache_prompt is a
// llama-server option missing from wllama's types: without it, later runs would reuse the cached prompt.
const params = {
  prompt: req.prompt.text,
  max_tokens: req.nPredict + 1,
  temperature: 0,
  ignore_eos: true,
  cache_prompt: false,
  // OpenAI's { "id": bias } form, which llama-server reads; wllama's types intersect two incompatible forms.
  logit_bias: Object.fromEntries((req.byteTokens ?? []).map((t) => [String(t), -1000])) as never,
};
const samples: RunSample[] = [];
for (let r = 0; r < req.warmup + req.reps; r++) {
  const res = await wllama.createCompletion(params);
  const t = res.timings as Timings | undefined;
  if (!t) throw new Error('wllama returned no timings');
  if (r === 0 && t.prompt_n !== req.prompt.tokens.length) {
    warnings.push(`prompt is ${t.prompt_n} tokens in wllama, ${req.prompt.tokens.length} elsewhere`);
  }
  if (r >= req.warmup) {
    samples.push({ prefillMs: t.prompt_ms, decodeMs: t.predicted_ms, nPrompt: t.prompt_n, nDecode: t.predicted_n - 1 });
  }
}
const threading = `${wllama.isMultithread() ? 'multi' : 'single'}-thread wasm, ${wllama.getNumThreads()} threads`;
await wllama.exit();

const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
const result: EngineResult = {
  engine: 'wllama',
  detail: `@wllama/wllama ${packageVersion('@wllama/wllama')} on Deno ${deno?.version.deno ?? '?'}, ${threading}`,
  loadMs,
  samples,
  warnings,
};
writeResult(result);
// Emscripten's pthread workers keep the event loop alive.
process.exit(0);
