/**
 * The 8B-shape model past wasm32's 4 GiB (opt-in, not in CI): a synthetic Llama-3-8B-shape Q4_K_M GGUF
 * (n_embd 4096, 32 layers, 32 heads, 8 KV heads, n_ff 14336, Llama 3's 128,256-token vocabulary; ~4.9 GB),
 * loaded by the engine over several WASM instances, its last-token logits compared with llama.cpp's, and its
 * decode speed measured with 2 threads.
 *
 *   node dist/bench/big.js write        write the model (random valid Q4_K/Q6_K blocks, streamed; /tmp by default)
 *   node dist/bench/big.js ref          llama.cpp's top-40 log-probs at every prompt position (node-llama-cpp, Node only)
 *   node dist/bench/big.js run          load, compare with the reference, time decode (also: bun bench/big.ts run,
 *                                       deno run -A bench/big.ts run)
 *   node dist/bench/big.js overhead     1 vs 2 instances on an 8-layer model of the same shape (the cost of sharding)
 *   node dist/bench/big.js clean        delete the model and the reference
 * Env: TESSERA_BIG_MODEL (path, default /tmp/tessera-8b-q4km.gguf), TESSERA_BIG_DECODE (decode steps, default 8).
 * One JSON line per result on stdout.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../src/engine.ts';
import { writeRandomQ4KMLlama } from '../src/synth/random-blocks.ts';
import { logSoftmax } from '../test/helpers/llamacpp.ts';
import { llama3VocabMetadata } from '../test/fixtures/vocab.ts';
import { repoRoot } from './paths.ts';

const MODEL = process.env.TESSERA_BIG_MODEL ?? '/tmp/tessera-8b-q4km.gguf';
const REF = MODEL.replace(/\.gguf$/, '') + '.llamacpp.json';
const DECODE = Number(process.env.TESSERA_BIG_DECODE ?? 8);
/** A fixed prompt: <|begin_of_text|> (128000) and eight ordinary Llama 3 token ids. */
const PROMPT = [128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053];
const TOP_K = 40;
const SPEC = { nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 8, nFf: 14336, nCtx: 8192, ropeBase: 500000, type: 'Q4_K' as const, seed: 8,
  // as the golden tests (test/e2e): small residual updates and flat attention, so that a random 32-layer model
  // does not amplify the 8-bit activation rounding differences between two correct implementations into noise
  residualScale: 0.15, qkScale: 0.5, tokenizer: llama3VocabMetadata() };

const runtime = (): string => {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  return g.Bun ? `bun ${g.Bun.version}` : g.Deno ? `deno ${g.Deno.version.deno}` : `node ${process.versions.node}`;
};
const log = (msg: string) => process.stderr.write(`[big] ${msg}\n`);
const emit = (o: object) => console.log(JSON.stringify({ runtime: runtime(), ...o }));

async function write(): Promise<void> {
  if (existsSync(MODEL)) {
    log(`${MODEL} exists`);
    return;
  }
  const t0 = performance.now();
  await writeRandomQ4KMLlama(MODEL, SPEC);
  emit({ step: 'write', path: MODEL, bytes: statSync(MODEL).size, seconds: (performance.now() - t0) / 1000 });
}

async function ref(): Promise<void> {
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'test/oracle/llamacpp.mjs')], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
    let s = '';
    child.stdout.on('data', (d) => (s += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`llama.cpp oracle exited with ${code}`))));
    child.stdin.end(JSON.stringify({ model: MODEL, tokens: PROMPT, topK: TOP_K, threads: 2, probsAll: true }));
  });
  writeFileSync(REF, out);
  emit({ step: 'ref', path: REF, seconds: (performance.now() - t0) / 1000 });
}

async function run(): Promise<void> {
  const reference = JSON.parse(readFileSync(REF, 'utf8')) as { top: [number, number][][] };
  const t0 = performance.now();
  const engine = await createEngine({ model: MODEL, threads: 2, numCtx: 64, numBatch: 16, logitRows: PROMPT.length });
  const loadS = (performance.now() - t0) / 1000;
  try {
    const { shards, backend, memoryBytes } = engine.info;
    log(`loaded in ${loadS.toFixed(1)} s: ${backend}, ${shards} instances, ${memoryBytes} bytes`);
    const logits = await engine.evaluate(PROMPT);
    let maxDiff = 0;
    let argmaxMismatches = 0;
    const mismatchGaps: number[] = []; // llama.cpp's top-1 − top-2 log-prob where our argmax differs (small: a near-tie)
    for (let i = 0; i < PROMPT.length; i++) {
      const ours = logSoftmax(logits[i]);
      const theirs = reference.top[i];
      for (const [id, lp] of theirs) maxDiff = Math.max(maxDiff, Math.abs(ours[id] - lp));
      let best = 0;
      for (let j = 1; j < ours.length; j++) if (ours[j] > ours[best]) best = j;
      if (best !== theirs[0][0]) {
        argmaxMismatches++;
        mismatchGaps.push(theirs[0][1] - theirs[1][1]);
      }
    }
    const last = reference.top[PROMPT.length - 1];
    const lastOurs = logSoftmax(logits[PROMPT.length - 1]);
    let lastDiff = 0;
    for (const [id, lp] of last) lastDiff = Math.max(lastDiff, Math.abs(lastOurs[id] - lp));
    const cpu0 = process.cpuUsage();
    const b = await engine.bench({ promptTokens: PROMPT, nPredict: DECODE });
    const cpu = process.cpuUsage(cpu0);
    emit({
      step: 'run', shards, backend, memoryBytes, loadSeconds: loadS, positions: PROMPT.length, topK: TOP_K,
      argmaxMismatches, mismatchGaps, maxLogprobDiff: maxDiff, lastTokenMaxLogprobDiff: lastDiff, lastTokenGap: last[0][1] - last[1][1],
      prefillTokS: (PROMPT.length / b.prefillMs) * 1000, decodeTokS: (b.nDecode / b.decodeMs) * 1000, decodeSteps: b.nDecode, threads: engine.info.threads,
      // CPU seconds (all threads) per token of prefill + decode: on a loaded machine, wall time says how much CPU
      // the process got; this says how much work a token is
      cpuSecondsPerToken: (cpu.user + cpu.system) / 1e6 / (PROMPT.length + b.nDecode),
      wallSecondsPerToken: (b.prefillMs + b.decodeMs) / 1000 / (PROMPT.length + b.nDecode),
    });
  } finally {
    await engine.close();
  }
}

/**
 * The cost of sharding itself: the same model (8 layers of the 8B shape with its vocabulary, ~1.8 GB, fits one
 * instance) on one instance and forced onto two, alternating, decode tok/s of each. Same process, same load.
 */
async function overhead(): Promise<void> {
  const path = MODEL.replace(/\.gguf$/, '') + '-8layer.gguf';
  if (!existsSync(path)) await writeRandomQ4KMLlama(path, { ...SPEC, nLayer: 8 });
  const { planMemory } = await import('../src/model/memory-plan.ts');
  const { openGguf } = await import('../src/gguf/reader.ts');
  const { GgmlType } = await import('../src/gguf/types.ts');
  const plan = planMemory(await openGguf(path), { nCtx: 64, maxTokens: 16, kvType: GgmlType.F16, threads: 2, canShard: true });
  const forced = plan.totalBytes - Math.ceil((plan.weightBytes + plan.kvBytes) / 3);
  for (let round = 0; round < 2; round++) {
    for (const maxShardBytes of [undefined, forced]) {
      const engine = await createEngine({ model: path, threads: 2, numCtx: 64, numBatch: 16, maxShardBytes });
      try {
        const b = await engine.bench({ promptTokens: PROMPT, nPredict: DECODE });
        emit({ step: 'overhead', round, shards: engine.info.shards, decodeTokS: (b.nDecode / b.decodeMs) * 1000, prefillTokS: (b.nPrompt / b.prefillMs) * 1000 });
      } finally {
        await engine.close();
      }
    }
  }
  if (!process.env.TESSERA_BIG_KEEP) rmSync(path, { force: true });
}

const step = process.argv[2];
if (step === 'write') await write();
else if (step === 'ref') await ref();
else if (step === 'run') await run();
else if (step === 'overhead') await overhead();
else if (step === 'clean') {
  rmSync(MODEL, { force: true });
  rmSync(REF, { force: true });
  rmSync(MODEL.replace(/\.gguf$/, '') + '-8layer.gguf', { force: true });
} else {
  console.error('usage: big.js write | ref | run | overhead | clean');
  process.exitCode = 2;
}
