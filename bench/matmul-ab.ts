/**
 * Old-vs-new MATMUL kernels in one process, interleaved: the WASM backend of this checkout and the one of another
 * built tree (its dist/ and wasm/dist/, e.g. a copy taken before a kernel change), each timing one 2048 → 8192
 * projection (a 1B model's ffn_up) per weight type and token count, the two alternating round by round, so that
 * a busy machine slows both alike. Weights are random bytes with a fixed f16 scale, as in matmul-kernels.ts.
 *
 *   npm run build && node dist/bench/matmul-ab.js --old /tmp/old-tree [--threads 1] [--types Q4_0,Q4_K]
 *       [--tokens 1,4,8] [--rounds 7] [--cpu] [--n-out 8192]
 *
 * --cpu: time by the process's user CPU time instead of the wall clock (1 thread only: the work then runs on
 * this thread), which a loaded machine inflates less (preemption does not count; shared caches still do).
 *
 * Make the old tree with: mkdir -p T/wasm && cp -r dist T/ && cp -r wasm/dist T/wasm/ && ln -s "$PWD/node_modules" T/
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Tensor } from '../src/backend/backend.ts';
import type { WasmBackend } from '../src/backend/wasm/backend.ts';
import { GgmlType } from '../src/gguf/types.ts';

const { values } = parseArgs({
  options: {
    old: { type: 'string' }, threads: { type: 'string' }, types: { type: 'string' },
    tokens: { type: 'string' }, rounds: { type: 'string' }, 'n-out': { type: 'string' }, cpu: { type: 'boolean' },
  },
});
if (!values.old) throw new Error('--old DIR: a built tree (dist/ and wasm/dist/) to compare against');
const threads = Number(values.threads ?? 1);
const types = (values.types ?? 'Q4_0,Q4_K').split(',');
const TOKENS = (values.tokens ?? '1,4').split(',').map(Number);
const ROUNDS = Number(values.rounds ?? 7);
if (values.cpu && threads !== 1) throw new Error('--cpu needs --threads 1');
const now = values.cpu ? () => process.cpuUsage().user / 1000 : () => performance.now();
const N_IN = 2048;
/** --n-out 512: weights that stay in L2 (1 MiB at most), to time the kernels' compute apart from memory. */
const N_OUT = Number(values['n-out'] ?? 8192);
/** Type, block bytes, byte offsets of the f16 scales in a block. */
const LAYOUT: Record<string, [GgmlType, number, number[]]> = {
  Q4_0: [GgmlType.Q4_0, 18, [0]],
  Q8_0: [GgmlType.Q8_0, 34, [0]],
  Q4_K: [GgmlType.Q4_K, 144, [0, 2]],
  Q5_K: [GgmlType.Q5_K, 176, [0, 2]],
  Q6_K: [GgmlType.Q6_K, 210, [208]],
};

type Side = { name: string; be: WasmBackend; ws: Tensor[]; io: { T: number; x: Tensor; o: Tensor }[] };

async function side(name: string, root: string): Promise<Side> {
  const url = pathToFileURL(resolve(root, 'dist/src/backend/wasm/backend.js')).href;
  const { WasmBackend: Be } = (await import(url)) as typeof import('../src/backend/wasm/backend.ts');
  const be = await Be.create({ threads, variant: 'simd' });
  be.reserve({ maxTokens: Math.max(...TOKENS), maxRowLen: Math.max(N_IN, N_OUT), maxKv: 256 }); // the scratch holds the converted input too
  const ws: Tensor[] = [];
  for (const t of types) {
    const [type, bs, scales] = LAYOUT[t];
    ws.push(await be.weight(type, [N_IN, N_OUT], async (d) => {
      for (let i = 0; i < d.length; i++) d[i] = Math.imul(i, 2654435761) >>> 24;
      for (let b = 0; b < d.length; b += bs) for (const o of scales) [d[b + o], d[b + o + 1]] = [0, 0x20];
    }));
  }
  const io = TOKENS.map((T) => {
    const x = be.buffer(GgmlType.F32, [N_IN, T]);
    const xf = be.f32(x);
    for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i);
    return { T, x, o: be.buffer(GgmlType.F32, [N_OUT, T]) };
  });
  return { name, be, ws, io };
}

const sides = [await side('old', values.old), await side('new', '.')];
console.log(`simd128 core, ${threads} thread(s), ${values.cpu ? 'CPU' : 'wall'} time, ${N_IN}→${N_OUT}, best of ${ROUNDS} interleaved rounds (ms per call)`);
/** best[side][type][tokens] */
const best = sides.map(() => types.map(() => TOKENS.map(() => Infinity)));
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < types.length; k++) {
    for (let j = 0; j < TOKENS.length; j++) {
      for (const [s, { be, ws, io }] of sides.entries()) {
        const { T, x, o } = io[j];
        const n = Math.max(4, Math.round((100 * 8192) / N_OUT / T));
        const run = (m: number) => {
          for (let r = 0; r < m; r++) {
            be.matmul(o, ws[k], x, T);
            be.compute();
          }
        };
        run(1);
        const t0 = now();
        run(n);
        best[s][k][j] = Math.min(best[s][k][j], (now() - t0) / n);
      }
    }
  }
}
for (const [k, t] of types.entries()) {
  for (const [j, T] of TOKENS.entries()) {
    const [a, b] = [best[0][k][j], best[1][k][j]];
    console.log(`${t.padEnd(5)} n_tok ${String(T).padStart(3)}: old ${a.toFixed(3)} ms  new ${b.toFixed(3)} ms  (${(a / b).toFixed(2)}×)`);
  }
}
// Same outputs? (bits of the last run of each side; the inputs are the same)
for (const [k, t] of types.entries()) {
  for (const [j, T] of TOKENS.entries()) {
    const outs = sides.map(({ be, ws, io }) => {
      be.matmul(io[j].o, ws[k], io[j].x, T);
      be.compute();
      return new Uint32Array(be.f32(io[j].o).slice().buffer);
    });
    const diff = outs[0].findIndex((v, i) => v !== outs[1][i]);
    if (diff >= 0) console.log(`${t} n_tok ${T}: outputs differ (first at ${diff})`);
  }
}
for (const { be } of sides) await be.close();
