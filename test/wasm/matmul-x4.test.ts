/**
 * The 4-row layouts: Q4_0X4 (Q4_0 repacked by 4 rows at load (REPACK, op 16; wasm/src/ops/repack.rs, src/backend/wasm/repack.ts).
 * The repack runs in place as the WASM backend does it (the Q4_0 bytes at the tail of the larger Q4_0X4
 * buffer), then MATMUL of Q4_0X4 (SIMD tiles, scalar twin, 2 threads) must give exactly the bits of MATMUL of
 * the original Q4_0 on the same core (the same integer block sums and f32 steps in the same order; Q4_0's own
 * accuracy against a float64 reference is matmul.test.ts's), and GET_ROWS the same rows. Shapes cover decode
 * (1-3 tokens: 8-row and 4-row tiles), prefill (4-token tiles) and both mixed, and row counts that are
 * multiples of 4 but not of 8. The K-quants' layout (super-blocks of 4 rows interleaved, in place) likewise.
 */
import { describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { Q4_0X4, RepackedRowsError, X4 } from '../../src/backend/wasm/repack.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { CoreType, matmulScratchBytes } from '../../src/backend/wasm/abi.ts';
import type { TestCore, TestVariant } from '../helpers/core.ts';
import { Op, availableVariants, loadCore, randomF32, readF32, runOp, writeBytes, writeF32, writeI32 } from '../helpers/core.ts';
import { randomWeights } from './quant-ref.ts';
import { K_TYPES, kRandomWeights } from './quant-k-ref.ts';

/** MATMUL of `nTok` rows of x (at `x`) against weights `w` of a type, fresh output each call: `run(type, w, opts)`. */
function matmulRunner(c: TestCore, x: number, nIn: number, nOut: number, nTok: number) {
  const out = c.alloc(nTok * nOut * 4);
  const scratch = c.alloc(matmulScratchBytes(nTok, nIn));
  return async (type: number, w: number, opts: { threads?: number; scalar?: boolean } = {}): Promise<Float32Array> => {
    c.f32(out, nTok * nOut).fill(NaN);
    await runOp(c, Op.MATMUL, [type, w, x, out, nIn, nOut, nTok, scratch], opts);
    return readF32(c, out, nTok * nOut);
  };
}

/** [n_in, n_out (multiple of 4), n_tok]. */
const SHAPES: [number, number, number][] = [
  [32, 4, 1],
  [64, 12, 3],
  [64, 20, 5],
  [256, 8, 16],
  [4096, 36, 1],
  [2048 + 32 * 3, 40, 7],
  [2048 + 32, 4, 33],
  [2048, 64, 2],
];

const bitsEqual = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) === 0;

for (const variant of ['simd', 'relaxed'] as TestVariant[]) {
  const runs = availableVariants().includes(variant);
  describe.skipIf(!runs)(`Q4_0X4, ${variant} core`, async () => {
    const core = runs ? await loadCore(variant) : undefined;

    it('REPACK in place; MATMUL (SIMD, scalar, 2 threads) and GET_ROWS give Q4_0 bits', async () => {
      const c = core!;
      for (const [k, [nIn, nOut, nTok]] of SHAPES.entries()) {
        const shape = `${nOut}×${nIn}, n_tok ${nTok}`;
        const wq = randomWeights(CoreType.Q4_0, nOut, nIn, 7000 + k);
        const q4 = writeBytes(c, wq);
        const size = (nIn / 32) * 20 * nOut;
        const x4 = c.alloc(size, 64);
        c.u8(x4 + size - wq.length, wq.length).set(wq);
        const scratch4 = c.alloc((nIn / 32) * 80);
        await runOp(c, Op.REPACK, [CoreType.Q4_0, x4 + size - wq.length, x4, nIn, nOut, scratch4]);

        const xs = randomF32(nTok * nIn, k + 1, -2, 2);
        for (let i = 0; i < xs.length; i += 97) xs[i] *= 16;
        const x = writeF32(c, xs);
        const run = matmulRunner(c, x, nIn, nOut, nTok);
        const want = await run(CoreType.Q4_0, q4);
        expect(want.every(Number.isFinite), shape).toBe(true);
        expect(bitsEqual(await run(Q4_0X4, x4), want), `SIMD ${shape}`).toBe(true);
        expect(bitsEqual(await run(Q4_0X4, x4, { threads: 2 }), want), `2 threads ${shape}`).toBe(true);
        const scalar = await run(CoreType.Q4_0, q4, { scalar: true });
        expect(bitsEqual(await run(Q4_0X4, x4, { scalar: true }), scalar), `scalar ${shape}`).toBe(true);

        const ids = Array.from({ length: nOut }, (_, i) => (i * 7 + 3) % nOut);
        const idp = writeI32(c, ids);
        const rows = c.alloc(nOut * nIn * 4);
        await runOp(c, Op.GET_ROWS, [CoreType.Q4_0, q4, idp, rows, nIn, nOut]);
        const r0 = readF32(c, rows, nOut * nIn);
        c.f32(rows, nOut * nIn).fill(NaN);
        await runOp(c, Op.GET_ROWS, [Q4_0X4, x4, idp, rows, nIn, nOut], { threads: 2 });
        expect(bitsEqual(readF32(c, rows, nOut * nIn), r0), `GET_ROWS ${shape}`).toBe(true);
      }
    });

    // K-quants: super-blocks of each group of 4 rows interleaved in place (type | X4).
    for (const [name, type] of K_TYPES) {
      it(`${name}: REPACK in place; MATMUL (SIMD, scalar, 2 threads) and GET_ROWS give ${name} bits`, async () => {
        const c = core!;
        for (const [k, [nIn, nOut, nTok]] of ([[256, 4, 1], [512, 12, 3], [1024, 8, 5], [768, 20, 9], [2048, 16, 2]] as const).entries()) {
          const shape = `${nOut}×${nIn}, n_tok ${nTok}`;
          const wk = kRandomWeights(type, nOut, nIn, 8000 + k);
          const orig = writeBytes(c, wk);
          const x4 = writeBytes(c, wk);
          await runOp(c, Op.REPACK, [type, x4, x4, nIn, nOut, c.alloc((4 * wk.length) / nOut)]);
          if (nIn > 256) expect(Buffer.compare(Buffer.from(c.u8(x4, wk.length)), Buffer.from(wk)), `layout ${shape}`).not.toBe(0);
          const xs = randomF32(nTok * nIn, k + 11, -2, 2);
          const x = writeF32(c, xs);
          const run = matmulRunner(c, x, nIn, nOut, nTok);
          const want = await run(type, orig);
          expect(bitsEqual(await run(X4 | type, x4), want), `SIMD ${shape}`).toBe(true);
          expect(bitsEqual(await run(X4 | type, x4, { threads: 2 }), want), `2 threads ${shape}`).toBe(true);
          expect(bitsEqual(await run(X4 | type, x4, { scalar: true }), await run(type, orig, { scalar: true })), `scalar ${shape}`).toBe(true);
          const idp = writeI32(c, Array.from({ length: nOut }, (_, i) => (i * 5 + 1) % nOut));
          const rows = c.alloc(nOut * nIn * 4);
          await runOp(c, Op.GET_ROWS, [type, orig, idp, rows, nIn, nOut]);
          const r0 = readF32(c, rows, nOut * nIn);
          await runOp(c, Op.GET_ROWS, [X4 | type, x4, idp, rows, nIn, nOut]);
          expect(bitsEqual(readF32(c, rows, nOut * nIn), r0), `GET_ROWS ${shape}`).toBe(true);
        }
      });
    }
  });
}

describe('WasmBackend repacks Q4_0 weights at load', () => {
  it('keeps the GgmlType, matmuls like an unrepacked backend, and refuses unaligned row views', async () => {
    const [nIn, nOut, nTok] = [256, 24, 3];
    const wq = randomWeights(CoreType.Q4_0, nOut, nIn, 99);
    const outs: Float32Array[] = [];
    for (const repack of [false, true]) {
      const be = await WasmBackend.create({ threads: 1, variant: 'simd', repack });
      be.reserve({ maxTokens: nTok, maxRowLen: nIn, maxKv: 16 });
      const w = await be.weight(GgmlType.Q4_0, [nIn, nOut], async (d) => d.set(wq));
      expect(w.type).toBe(GgmlType.Q4_0);
      expect(w.byteSize).toBe(repack ? (nIn / 32) * 20 * nOut : wq.length);
      const x = be.buffer(GgmlType.F32, [nIn, nTok]);
      be.f32(x).set(randomF32(nIn * nTok, 5));
      const o = be.buffer(GgmlType.F32, [nOut, nTok]);
      be.matmul(o, be.rows(w, 8, 16), x, nTok);
      be.compute();
      outs.push(be.f32(o).slice(0, 16 * nTok));
      if (repack) expect(() => be.rows(w, 2, 4)).toThrow(RepackedRowsError);
      await be.close();
    }
    expect(bitsEqual(outs[1], outs[0])).toBe(true);
  });
});
