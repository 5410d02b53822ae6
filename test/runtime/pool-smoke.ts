/**
 * Smoke test of the WASM core + thread pool under Bun and Deno (Node is covered by vitest):
 *   npx bun test/runtime/pool-smoke.ts
 *   npx deno run -A test/runtime/pool-smoke.ts
 * Exits non-zero on a mismatch. With --bench it also prints the barrier cost per command and
 * the pool.run overhead (median of several rounds).
 */
import { Op } from '../../src/backend/wasm/abi.ts';
import { CommandList } from '../../src/backend/wasm/commands.ts';
import { WasmCore, detectWasmFeatures } from '../../src/backend/wasm/core.ts';
import { ThreadPool } from '../../src/backend/wasm/pool.ts';

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';
const fail = (msg: string): never => {
  throw new Error(`pool-smoke (${runtime}): ${msg}`);
};

const features = detectWasmFeatures();
const core = await WasmCore.load();
console.log(`${runtime}: features ${JSON.stringify(features)}, variant ${core.variant}`);
if (features.relaxedSimd !== (core.variant === 'relaxed')) fail('variant does not follow the known-answer test');

// x: f32 [rows][n]; a chain where every command reads the previous output.
const n = 4097;
const rows = 4;
const x = core.alloc(n * rows * 4);
const h = core.alloc(n * rows * 4);
const out = core.alloc(n * rows * 4);
core.f32(x, n * rows).forEach((_, i, a) => (a[i] = Math.sin(i * 0.37) * 3));
const chain = new CommandList(core, 4);
chain.push(Op.RMSNORM, x, 0, h, n, rows, CommandList.f32bits(1e-5));
chain.push(Op.SOFTMAX, h, out, n, rows, CommandList.f32bits(1));
chain.push(Op.SILU, out, out, n * rows);

core.run(chain);
const want = core.f32(out, n * rows).slice();
// Independent check of one row: softmax sums to 1 before SiLU, so undo nothing; just sanity.
if (!want.every(Number.isFinite)) fail('non-finite output');

for (const threads of [2, 3]) {
  const pool = await ThreadPool.create(core, threads);
  for (let r = 0; r < 50; r++) {
    core.f32(out, n * rows).fill(NaN);
    pool.run(chain);
    const got = core.f32(out, n * rows);
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) fail(`${threads} threads differ at ${i} (run ${r})`);
  }
  await pool.close();
}
console.log(`${runtime}: 2 and 3 threads match 1 thread (50 runs each)`);

if (args.includes('--bench')) {
  const median = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1];
  const empty = new CommandList(core, 1000);
  for (let i = 0; i < 1000; i++) empty.push(Op.SCALE, x, x, 0, CommandList.f32bits(1)); // no work: dispatch + barrier
  const one = new CommandList(core, 1);
  one.push(Op.SCALE, x, x, 0, CommandList.f32bits(1));
  const time = (f: () => void, reps: number) => {
    const t = performance.now();
    for (let r = 0; r < reps; r++) f();
    return ((performance.now() - t) / reps) * 1000; // µs
  };
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  for (const threads of [1, 2, 4]) {
    const pool = await ThreadPool.create(core, threads);
    const perCmd: number[] = [];
    const perRun: number[] = [];
    const cold: number[] = [];
    for (let k = 0; k < 7; k++) {
      perCmd.push(time(() => pool.run(empty), 20) / 1000);
      perRun.push(time(() => pool.run(one), 500));
    }
    const warm: number[] = [];
    for (let k = 0; k < 15; k++) {
      await sleep(10); // past the workers' polling window: they sleep in Atomics.wait
      cold.push(time(() => pool.run(one), 1));
      const t = performance.now();
      while (performance.now() - t < 0.5); // busy main thread, inside the polling window
      warm.push(time(() => pool.run(one), 1));
    }
    console.log(
      `${runtime} ${threads} thread(s): ${median(perCmd).toFixed(2)} µs per command (dispatch + barrier), ` +
        `pool.run of 1 command: ${median(perRun).toFixed(1)} µs back to back, ` +
        `${median(warm).toFixed(1)} µs after 0.5 ms, ${median(cold).toFixed(1)} µs after 10 ms idle`,
    );
    await pool.close();
  }
}

// A forgotten pool must not keep the process alive (workers are unref'd where the runtime allows).
if (args.includes('--forget')) {
  const pool = await ThreadPool.create(core, 2);
  pool.run(chain);
  console.log(`${runtime}: leaving a pool open`);
}
