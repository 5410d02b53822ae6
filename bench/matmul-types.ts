/**
 * MATMUL throughput per weight type on the WASM backend: GMAC/s (n_in·n_out·n_tok / time) of one
 * 2048 → 8192 projection (32 MiB of Q4_0) for decode (n_tok 1) and prefill (n_tok 128), synthetic
 * weights (f16 scales and mins 2^-7, so no subnormal arithmetic). The types are timed in turn, round
 * after round, and each number is the fastest round: on a machine shared with other work the minimum
 * is the robust estimate, and interleaving gives every type the same background.
 *
 *   node dist/bench/matmul-types.js [threads=1] [types=Q4_0,Q8_0,Q4_1,Q5_0,Q5_1,IQ4_NL] [rounds=10]   (after npm run build)
 */
import { WasmBackend } from '../src/backend/wasm/backend.ts';
import type { Tensor } from '../src/backend/backend.ts';
import { ggmlTypeTraits } from '../src/gguf/ggml-types.ts';
import { GgmlType } from '../src/gguf/types.ts';

const threads = Number(process.argv[2] ?? 1);
const names = (process.argv[3] ?? 'Q4_0,Q8_0,Q4_1,Q5_0,Q5_1,IQ4_NL').split(',');
const rounds = Number(process.argv[4] ?? 10);
const [nIn, nOut] = [2048, 8192];
const TOKS = [1, 128];
const be = await WasmBackend.create({ threads });
be.reserve({ maxTokens: 128, maxRowLen: 8192, maxKv: 256 });

const weights: Tensor[] = [];
for (const name of names) {
  const type = GgmlType[name as keyof typeof GgmlType];
  const bs = ggmlTypeTraits(type)!.typeSize;
  weights.push(await be.weight(type, [nIn, nOut], async (d) => {
    for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761) >>> 24;
    for (let b = 0; b < d.length; b += bs) {
      d[b] = 0;
      d[b + 1] = 0x20; // d = 2^-7
      if (type === GgmlType.Q4_1 || type === GgmlType.Q5_1) [d[b + 2], d[b + 3]] = [0, 0x20];
    }
  }));
}
const io = TOKS.map((nTok) => {
  const x = be.buffer(GgmlType.F32, [nIn, nTok]);
  const xf = be.f32(x);
  for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i);
  return { nTok, x, o: be.buffer(GgmlType.F32, [nOut, nTok]), reps: nTok === 1 ? 100 : 2 };
});
const best = names.map(() => io.map(() => Infinity));
for (let round = -1; round < rounds; round++) {
  for (let k = 0; k < names.length; k++) {
    for (const [j, { nTok, x, o, reps }] of io.entries()) {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) {
        be.matmul(o, weights[k], x, nTok);
        await be.compute();
      }
      if (round >= 0) best[k][j] = Math.min(best[k][j], (performance.now() - t0) / reps); // round −1: warm-up
    }
  }
}
console.log(`threads ${threads}, ${be.name}, ${nIn}→${nOut}, fastest of ${rounds} rounds`);
for (const [k, name] of names.entries()) {
  const cols = io.map(({ nTok }, j) => `n_tok ${String(nTok).padStart(3)}: ${best[k][j].toFixed(2).padStart(7)} ms ${((nIn * nOut * nTok) / best[k][j] / 1e6).toFixed(1).padStart(5)} GMAC/s`);
  console.log([name.padEnd(7), ...cols].join('   '));
}
await be.close();
