/**
 * WebGPU smoke test for one runtime: the engine on createWebGpuBackend (Deno: navigator.gpu, lavapipe; Node/Bun: Dawn
 * in OpenGL mode), a tiny synthetic model, the log-probs of the last prompt position and 8 greedy tokens, printed as
 * JSON with the adapter's probe. Run by test/webgpu/runtimes.test.ts, which compares them with the WASM backend's.
 * Usage: <runtime> test/runtime/webgpu-smoke.ts MODEL [wasm]
 */
import { createEngine } from '../../src/index.ts';
import { createWebGpuBackend, probeWebGpu } from '../../src/backend/webgpu/index.ts';

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const [model, which] = argv;
const wasm = which === 'wasm';
const probe = wasm ? null : await probeWebGpu({ timeoutMs: 30_000 });
let usesF16: boolean | null = null;
const engine = await createEngine({
  model,
  threads: 1,
  numCtx: 64,
  logitRows: 16,
  backend: wasm ? 'wasm' : 'webgpu',
});
if (!wasm) {
  // Whether the adapter gave f16 (a second device on the same adapter, closed at once).
  const be = await createWebGpuBackend();
  usesF16 = be.usesF16;
  await be.close();
}
const prompt = [1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203];
const [last] = (await engine.evaluate(prompt)).slice(-1);
let m = -Infinity;
for (const v of last) m = Math.max(m, v);
let s = 0;
for (const v of last) s += Math.exp(v - m);
const logprobs = Array.from(last, (v) => v - m - Math.log(s));
const tokens: number[] = [];
for await (const c of engine.generate({ prompt, options: { temperature: 0, num_predict: 8 } })) if (c.token >= 0) tokens.push(c.token);
await engine.close();
console.log(JSON.stringify({ tokens, logprobs, probe, usesF16 }));
(globalThis as { Deno?: { exit(c: number): void } }).Deno?.exit(0);
