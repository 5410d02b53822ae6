/**
 * GET_ROWS (op 2) for every table type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL):
 * out[i] = dequant(table[ids[i]])
 * against the float64 decoding of the same bytes in test/wasm/quant-ref.ts. Exact: every value
 * is q·d with q ≤ 8 bits and d an f16 (or a plain f16/bf16/f32), which f32 represents exactly; Q4_1/Q5_1
 * values q·d + m are exact in float64 (multiples of 2^-24 below 2^22) and rounded once to f32, as ggml does.
 * Checked on 1 and 3 threads (split by ids), with repeated ids and rows at odd addresses.
 */
import { describe, expect, it } from 'vitest';
import { Op, availableVariants, loadCore, readF32, runOp, writeBytes, writeI32 } from '../helpers/core.ts';
import { WTYPES, dequantRows, randomWeights, rowBytes, type WType } from './quant-ref.ts';

const N_ROWS = 37;
const IDS = [0, 36, 5, 5, 17, 0, 1, 35, 20];

for (const variant of availableVariants()) {
  describe(`GET_ROWS, ${variant} core`, async () => {
    const core = await loadCore(variant);

    for (const [name, type] of WTYPES) {
      for (const nCols of [32, 96, 2048 + 64]) {
        it(`${name}, ${nCols} columns`, async () => {
          const table = randomWeights(type as WType, N_ROWS, nCols, 7 * type + nCols);
          const tp = writeBytes(core, new Uint8Array(table.length + 1)) + 1;
          core.u8(tp, table.length).set(table);
          const ids = writeI32(core, IDS);
          const out = core.alloc(IDS.length * nCols * 4);
          const all = dequantRows(type as WType, table, 0, N_ROWS, nCols);
          const want = new Float32Array(IDS.length * nCols);
          IDS.forEach((id, i) => want.set(all.subarray(id * nCols, (id + 1) * nCols), i * nCols));
          expect(rowBytes(type as WType, nCols) * N_ROWS).toBe(table.length);
          for (const threads of [1, 3]) {
            core.f32(out, IDS.length * nCols).fill(NaN);
            await runOp(core, Op.GET_ROWS, [type, tp, ids, out, nCols, IDS.length], { threads });
            const got = readF32(core, out, IDS.length * nCols);
            let bad = -1;
            for (let i = 0; i < got.length && bad < 0; i++) if (!Object.is(got[i], want[i])) bad = i;
            expect(bad, `${threads} threads: element ${bad} got ${got[bad]} want ${want[bad]}`).toBe(-1);
          }
        });
      }
    }
  });
}
