/**
 * Micro-benchmark of the WASM core's MATMUL per weight type: GMAC/s (n_in·n_out·n_tok multiply-adds per second)
 * of one 2048 → 8192 projection (a 1B model's ffn_up), decode (n_tok 1) and prefill (n_tok 128), through the
 * WasmBackend as the engine calls it (activation conversion included). Weights are random bytes with a fixed
 * f16 scale (the speed does not depend on the values).
 *
 *   npm run build && node dist/bench/matmul-kernels.js [threads=1] [variant=auto] [types=Q4_0,Q8_0,Q4_K,Q5_K,Q6_K]
 */
import type { Tensor } from '../src/backend/backend.ts';
import { WasmBackend } from '../src/backend/wasm/backend.ts';
import { ggmlByteSize } from '../src/gguf/ggml-types.ts';
import { GgmlType } from '../src/gguf/types.ts';

const threads = Number(process.argv[2] ?? 1);
const variant = (process.argv[3] ?? 'auto') as 'auto' | 'simd' | 'relaxed';
const types = (process.argv[4] ?? 'Q4_0,Q8_0,Q4_K,Q5_K,Q6_K').split(',');
const N_IN = 2048;
const N_OUT = 8192;
const TOKENS = [1, 128];
/** Byte offsets of the f16 scales in a block, and the block size, per type. */
const LAYOUT: Record<string, [GgmlType, number, number[]]> = {
  Q4_0: [GgmlType.Q4_0, 18, [0]],
  Q8_0: [GgmlType.Q8_0, 34, [0]],
  Q4_K: [GgmlType.Q4_K, 144, [0, 2]],
  Q5_K: [GgmlType.Q5_K, 176, [0, 2]],
  Q6_K: [GgmlType.Q6_K, 210, [208]],
};

const ROUNDS = Number(process.env.ROUNDS ?? 7);

const be = await WasmBackend.create({ threads, variant });
be.reserve({ maxTokens: 128, maxRowLen: N_OUT, maxKv: 256 });
console.log(`core ${be.variant}, ${threads} thread(s), ${N_IN}→${N_OUT}, best of ${ROUNDS} interleaved rounds`);
const ws: Tensor[] = [];
for (const name of types) {
  const [type, bs, scales] = LAYOUT[name];
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
/** best[type][tokens]: ms per call. Rounds interleave the types, so a busy machine slows all of them alike. */
const best = types.map(() => TOKENS.map(() => Infinity));
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < types.length; k++) {
    for (const [j, { T, x, o }] of io.entries()) {
      const n = T === 1 ? 100 : 4;
      const run = (m: number) => {
        for (let r = 0; r < m; r++) {
          be.matmul(o, ws[k], x, T);
          be.compute();
        }
      };
      run(1);
      const t0 = performance.now();
      run(n);
      best[k][j] = Math.min(best[k][j], (performance.now() - t0) / n);
    }
  }
}
for (const [k, name] of types.entries()) {
  const mib = ggmlByteSize(LAYOUT[name][0], N_IN * N_OUT) / 2 ** 20;
  const cols = TOKENS.map((T, j) => `n_tok ${T}: ${best[k][j].toFixed(2)} ms, ${((N_IN * N_OUT * T) / best[k][j] / 1e6).toFixed(1)} GMAC/s`);
  console.log(`${name.padEnd(5)} (${mib.toFixed(1)} MiB)   ${cols.join('   ')}`);
}
await be.close();
