/**
 * MATMUL (op 1) for every weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) on
 * every variant this runtime runs: SIMD tiles and scalar twin, each against a float64 reference
 * computed here (test/wasm/quant-ref.ts) from the weight bytes and from the activations quantized
 * the same way as ggml (Q8 blocks for Q types, f16/bf16 rounding for F16/BF16), and 2 threads == 1.
 * Q4_1/Q5_1 (value c·d + m) meet ggml's Q8_1 activations, whose per-block s = f16(d·Σq) carries
 * the min term: the reference is Σ (c·d_w)·a + Σ_blocks m·s, all in float64.
 *
 * Tolerance, per output: |got − ref| ≤ 1e-5 · Σ_i |w_i·a_i| (and Q types on the simd core give
 * the scalar twin's bits). The only error left is the f32
 * summation (over n_in products for float types, over n_in/32 exact integer block sums for the
 * Q types, in a different order in the SIMD tiles and the scalar twin); the same bound holds
 * between SIMD and scalar. Two threads must give the same bits as one (rows are split on tile
 * boundaries, tokens are never split).
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../../src/backend/wasm/commands.ts';
import type { TestCore, TestVariant } from '../helpers/core.ts';
import { Op, availableVariants, loadCore, poolFor, randomF32, readF32, runOp, writeBytes, writeF32 } from '../helpers/core.ts';
import { CoreType, matmulScratchBytes } from '../../src/backend/wasm/abi.ts';
import { kRandomWeights } from './quant-k-ref.ts';
import { WTYPES, activationsAs, blockMins, dequantRows, hasMin, q8_1Sums, randomWeights, type WType } from './quant-ref.ts';

/** [n_in, n_out, n_tok]: every n_in ∈ {32, 64, 4096, 2048+32k}, n_out ∈ {1, 3, 17, 40, 256}, n_tok ∈ {1, 2, 3, 5, 7, 16, 33}. */
const SHAPES: [number, number, number][] = [
  [32, 1, 1],
  [32, 3, 2],
  [64, 17, 5],
  [64, 256, 16],
  [4096, 256, 1],
  [4096, 3, 33],
  [2048 + 32 * 3, 17, 1],
  [2048 + 32 * 5, 256, 5],
  [2048 + 32, 1, 16],
  [2048 + 32 * 7, 17, 33],
  // Batches of 3 and 7 (4 + 3) tokens: decode tiles for several tokens inside each chunk of rows.
  [64, 17, 3],
  [2048 + 32 * 3, 40, 7],
];
const REL = 1e-5;

/** out[t][r] = Σ w[r][i]·a[t][i] and the magnitude Σ|w·a|, in float64. */
function reference(w: Float64Array, a: Float64Array, nIn: number, nOut: number, nTok: number): [Float64Array, Float64Array] {
  const out = new Float64Array(nTok * nOut);
  const mag = new Float64Array(nTok * nOut);
  for (let t = 0; t < nTok; t++) {
    for (let r = 0; r < nOut; r++) {
      let s = 0;
      let m = 0;
      for (let i = 0; i < nIn; i++) {
        const p = w[r * nIn + i] * a[t * nIn + i];
        s += p;
        m += Math.abs(p);
      }
      out[t * nOut + r] = s;
      mag[t * nOut + r] = m;
    }
  }
  return [out, mag];
}

/** The min term of Q4_1/Q5_1 added to a reference: out[t][r] += Σ_b m[r][b]·s[t][b] (and its magnitude). */
function addMins(out: Float64Array, mag: Float64Array, m: Float64Array, s: Float64Array, nb: number, nOut: number, nTok: number): void {
  for (let t = 0; t < nTok; t++) {
    for (let r = 0; r < nOut; r++) {
      for (let b = 0; b < nb; b++) {
        const p = m[r * nb + b] * s[t * nb + b];
        out[t * nOut + r] += p;
        mag[t * nOut + r] += Math.abs(p);
      }
    }
  }
}

function expectWithin(got: Float32Array, want: Float64Array, mag: Float64Array, what: string): void {
  let bad = -1;
  for (let i = 0; i < want.length && bad < 0; i++) {
    if (!(Math.abs(got[i] - want[i]) <= REL * mag[i] + 1e-30)) bad = i;
  }
  expect(bad, `${what}: output ${bad} got ${got[bad]} want ${want[bad]} (Σ|w·a| ${mag[bad]})`).toBe(-1);
}

const RELAXED_SKIP =
  'relaxed-simd is unavailable here or fails the i8 dot known-answer test (Node 20): run this file under Bun or Deno';

for (const variant of ['simd', 'relaxed', 'native'] as TestVariant[]) {
  const runs = availableVariants().includes(variant);
  describe.skipIf(!runs)(`MATMUL, ${variant} core${runs ? '' : ` (skipped: ${RELAXED_SKIP})`}`, async () => {
    const core: TestCore | undefined = runs ? await loadCore(variant) : undefined;

    for (const [name, type] of WTYPES) {
      it(`${name}: SIMD and scalar twin vs float64 reference; 2 threads == 1`, async () => {
        const c = core!;
        for (const [k, [nIn, nOut, nTok]] of SHAPES.entries()) {
          const seed = 1000 * type + k + 1;
          const wBytes = randomWeights(type as WType, nOut, nIn, seed);
          // Odd byte address: the kernels must not assume aligned rows.
          const w = writeBytes(c, new Uint8Array(wBytes.length + 1)) + 1;
          c.u8(w, wBytes.length).set(wBytes);
          const xs = randomF32(nTok * nIn, seed, -2, 2);
          for (let i = 0; i < xs.length; i += 97) xs[i] *= 16; // outliers set the Q8 block scales
          const x = writeF32(c, xs);
          const out = c.alloc(nTok * nOut * 4);
          const scratch = c.alloc(matmulScratchBytes(nTok, nIn)) + 2;
          const args = [type, w, x, out, nIn, nOut, nTok, scratch];
          const min = hasMin(type as WType);
          const [want, mag] = reference(dequantRows(type as WType, wBytes, 0, nOut, nIn, min), activationsAs(type as WType, xs, nIn), nIn, nOut, nTok);
          if (min) addMins(want, mag, blockMins(type as WType, wBytes, 0, nOut, nIn), q8_1Sums(xs), nIn / 32, nOut, nTok);
          const shape = `${nOut}×${nIn}, n_tok ${nTok}`;

          c.f32(out, nTok * nOut).fill(NaN);
          await runOp(c, Op.MATMUL, args);
          const simd = readF32(c, out, nTok * nOut);
          expectWithin(simd, want, mag, `SIMD ${shape}`);

          c.f32(out, nTok * nOut).fill(NaN);
          await runOp(c, Op.MATMUL, args, { scalar: true });
          const scalar = readF32(c, out, nTok * nOut);
          expectWithin(scalar, want, mag, `scalar ${shape}`);
          // SIMD vs its twin: same bound (both only reorder the f32 sum).
          const simd64 = Float64Array.from(simd);
          expectWithin(scalar, simd64, mag, `scalar vs SIMD ${shape}`);
          // Q types on simd128: the tiles sum the exact block dots in the twin's f32 order
          // (no fused multiply-add there), so the bits are the twin's.
          if (variant === 'simd' && type !== CoreType.F32 && type !== CoreType.F16 && type !== CoreType.BF16) {
            expect(Buffer.compare(Buffer.from(scalar.buffer), Buffer.from(simd.buffer)), `scalar bits ${shape}`).toBe(0);
          }

          c.f32(out, nTok * nOut).fill(NaN);
          await runOp(c, Op.MATMUL, args, { threads: 2 });
          expect(Buffer.compare(Buffer.from(readF32(c, out, nTok * nOut).buffer), Buffer.from(simd.buffer)), `2 threads ${shape}`).toBe(0);
        }
      });
    }
  });
}

/**
 * Consecutive MATMULs on the same input (a layer's q/k/v, gate/up) run as a chain: one input
 * conversion, no barrier between them (wasm/src/graph.rs, matmul::chains). A list mixing
 * chainable and non-chainable neighbours (same input with another activation layout, an input
 * that is the previous output, an output over the input) must give, on 1 and 2 threads,
 * exactly the bits of the same commands run one per list.
 */
// n_tok 5: every thread converts the whole input (no barrier); 130: split conversion + barrier.
describe.each([5, 130])('MATMUL chains in one command list, n_tok %i', async (nTok) => {
  const c = await loadCore('simd');
  const nIn = 256;
  const x = writeF32(c, randomF32(nTok * nIn, 77, -2, 2));
  const scratch = c.alloc(matmulScratchBytes(nTok, nIn));
  const weights = (type: WType, nOut: number, seed: number) => writeBytes(c, randomWeights(type, nOut, nIn, seed));
  const out = (n: number) => c.alloc(nTok * n * 4);
  const [q, k, v, g, u] = [out(256), out(64), out(64), out(256), out(256)];
  const [e5, e41, e51, eiq] = [out(64), out(64), out(64), out(64)];
  const [k4, k6, k4b, k5] = [out(64), out(64), out(64), out(64)];
  const kWeights = (type: number, nOut: number, seed: number) => writeBytes(c, kRandomWeights(type, nOut, nIn, seed));
  const y = c.alloc(nTok * nIn * 4);
  // [wtype, w, x, out, n_out]
  const cmds: [number, number, number, number, number][] = [
    [CoreType.Q4_0, weights(CoreType.Q4_0, 256, 1), x, q, 256], // q
    [CoreType.Q4_0, weights(CoreType.Q4_0, 64, 2), x, k, 64], // k: chains
    [CoreType.Q8_0, weights(CoreType.Q8_0, 64, 3), x, v, 64], // v: other layout, no chain
    [CoreType.Q5_0, weights(CoreType.Q5_0, 64, 8), x, e5, 64], // Q8_0 layout: chains with v
    [CoreType.Q4_1, weights(CoreType.Q4_1, 64, 9), x, e41, 64], // Q8_1 layout (s): no chain
    [CoreType.Q5_1, weights(CoreType.Q5_1, 64, 10), x, e51, 64], // chains with Q4_1
    [CoreType.IQ4_NL, weights(CoreType.IQ4_NL, 64, 11), x, eiq, 64], // back to Q8_0 layout: no chain
    [CoreType.Q4_K, kWeights(CoreType.Q4_K, 64, 12), x, k4, 64], // Q8_K layout (even/odd on simd128): no chain
    [CoreType.Q6_K, kWeights(CoreType.Q6_K, 64, 13), x, k6, 64], // Q8_K in element order: no chain
    [CoreType.Q4_K, kWeights(CoreType.Q4_K, 64, 14), x, k4b, 64], // even/odd again: no chain
    [CoreType.Q5_K, kWeights(CoreType.Q5_K, 64, 15), x, k5, 64], // element order: no chain
    [CoreType.Q8_0, weights(CoreType.Q8_0, 256, 4), q, g, 256], // input = q, no chain
    [CoreType.Q8_0, weights(CoreType.Q8_0, 256, 5), q, u, 256], // chains with g
    [CoreType.F16, weights(CoreType.F16, 256, 6), g, y, 256], // new input
    [CoreType.F16, weights(CoreType.F16, 256, 7), g, g, 256], // output over its input: no chain
  ];
  const outs = [q, k, v, e5, e41, e51, eiq, k4, k6, k4b, k5, g, u, y, g];
  const sizes = [256, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 256, 256, 256, 256];
  const G = 11; // g's first output, overwritten by the last command
  const push = (list: CommandList, i: number) => {
    const [t, w, xi, o, nOut] = cmds[i];
    list.push(Op.MATMUL, t, w, xi, o, nIn, nOut, nTok, scratch);
  };
  /** Runs the commands (all in one list, or one list each) and returns every output as written. */
  const run = async (threads: number, oneList: boolean): Promise<Float32Array[]> => {
    const got: Float32Array[] = [];
    const pool = threads > 1 ? await poolFor(c, threads) : undefined;
    const exec = (l: CommandList) => (pool ? pool.run(l) : c.run(l));
    for (const o of [q, g, u, y]) c.f32(o, nTok * 256).fill(NaN);
    for (const o of [k, v, e5, e41, e51, eiq, k4, k6, k4b, k5]) c.f32(o, nTok * 64).fill(NaN);
    const list = new CommandList(c, cmds.length);
    if (oneList) {
      for (let i = 0; i < cmds.length; i++) push(list, i);
      exec(list);
    } else {
      for (let i = 0; i < cmds.length; i++) {
        list.reset();
        push(list, i);
        exec(list);
      }
    }
    for (let i = 0; i < outs.length; i++) if (i !== G) got.push(readF32(c, outs[i], nTok * sizes[i]));
    return got;
  };

  it('gives the bits of one command per list, on 1 and 2 threads', async () => {
    const want = await run(1, false);
    for (const w of want) expect(w.some((v) => Number.isNaN(v))).toBe(false);
    for (const [threads, oneList] of [[1, true], [2, true], [2, false]] as const) {
      const got = await run(threads, oneList);
      for (let i = 0; i < want.length; i++) {
        expect(Buffer.compare(Buffer.from(got[i].buffer), Buffer.from(want[i].buffer)), `output ${i}, ${threads} threads, one list ${oneList}`).toBe(0);
      }
    }
  });
});
