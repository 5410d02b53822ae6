/**
 * MATMUL's tuned chunk size (ABI.md MATMUL word 9, `chunk_rows`, chosen by src/hardware/tune.ts) changes
 * only how output rows are dealt out to threads, never a result: for every chunk value, on 1, 2 and 3
 * threads, SIMD and scalar twin, the output has the bits of the default (word 9 = 0, one thread), and
 * that output is within 1e-5·Σ|w·a| of a float64 reference computed here from the weight bytes and the
 * activations quantized as ggml does (test/wasm/quant-ref.ts; same bound and reasoning as matmul.test.ts).
 * Shapes include an n_out that is not a multiple of 8 and chunk values that are not either (the core
 * rounds them up to whole tiles) or exceed n_out.
 */
import { describe, expect, it } from 'vitest';
import { CoreType, matmulScratchBytes } from '../../src/backend/wasm/abi.ts';
import { Op, availableVariants, loadCore, randomF32, readF32, runOp, writeBytes, writeF32 } from '../helpers/core.ts';
import { activationsAs, dequantRows, randomWeights, type WType } from './quant-ref.ts';

const TYPES: [string, WType][] = [['F32', CoreType.F32], ['F16', CoreType.F16], ['Q8_0', CoreType.Q8_0], ['Q4_0', CoreType.Q4_0], ['IQ4_NL', CoreType.IQ4_NL]];
/** [n_in, n_out, n_tok] */
const SHAPES: [number, number, number][] = [[256, 1003, 1], [128, 512, 7]];
const CHUNKS = [0, 1, 8, 24, 100, 1000, 1 << 20];
const REL = 1e-5;

describe.each(availableVariants())('MATMUL chunk_rows (tuning word) leaves results unchanged: %s core', async (variant) => {
  const core = await loadCore(variant);
  for (const [name, type] of TYPES) {
    it(`${name}: every chunk size, 1..3 threads, SIMD and scalar give the default's bits; default vs float64 reference`, async () => {
      for (const [k, [nIn, nOut, nTok]] of SHAPES.entries()) {
        const wBytes = randomWeights(type, nOut, nIn, 77 + k + type);
        const w = writeBytes(core, wBytes);
        const xs = randomF32(nTok * nIn, 5 + k, -2, 2);
        const x = writeF32(core, xs);
        const out = core.alloc(nTok * nOut * 4);
        const scratch = core.alloc(matmulScratchBytes(nTok, nIn));
        const run = async (chunk: number, threads: number, scalar: boolean) => {
          core.f32(out, nTok * nOut).fill(NaN);
          await runOp(core, Op.MATMUL, [type, w, x, out, nIn, nOut, nTok, scratch, chunk], { threads, scalar });
          return readF32(core, out, nTok * nOut);
        };
        for (const scalar of [false, true]) {
          const base = await run(0, 1, scalar);
          const a = activationsAs(type, xs, nIn);
          const wf = dequantRows(type, wBytes, 0, nOut, nIn);
          for (let t = 0; t < nTok; t++) {
            for (let r = 0; r < nOut; r++) {
              let s = 0;
              let m = 0;
              for (let i = 0; i < nIn; i++) {
                s += wf[r * nIn + i] * a[t * nIn + i];
                m += Math.abs(wf[r * nIn + i] * a[t * nIn + i]);
              }
              const got = base[t * nOut + r];
              if (!(Math.abs(got - s) <= REL * m + 1e-30)) expect.fail(`${name} ${nOut}×${nIn} t${t} r${r}: got ${got}, want ${s}`);
            }
          }
          for (const threads of [1, 2, 3]) {
            for (const chunk of CHUNKS) {
              const got = await run(chunk, threads, scalar);
              expect(Buffer.compare(Buffer.from(got.buffer), Buffer.from(base.buffer)), `${name} ${nOut}×${nIn}×${nTok} chunk ${chunk} threads ${threads} scalar ${scalar}`).toBe(0);
            }
          }
        }
      }
    });
  }
});
