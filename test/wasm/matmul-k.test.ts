/**
 * MATMUL (op 1) and GET_ROWS (op 2) for the K-quant weight types Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS on every variant this
 * runtime runs: SIMD tiles and scalar twin against a float64 reference computed here (test/wasm/quant-k-ref.ts)
 * from the weight bytes and the activations quantized like ggml's Q8_K, the SIMD tiles bit-identical to the
 * twin (no fused multiply-add in either build, integer dots exact), 2 threads == 1; the converted activations in
 * scratch byte-identical to ggml's quantize_row_q8_K written here (SIMD quantizer and twin).
 *
 * MATMUL tolerance per output: |got − ref| ≤ 1e-5 · Σ_i (|d·sc·q_i| + |dmin·m|)·|a_i| — the kernels sum exact
 * integer dots per super-block of 256 and do 2 f32 multiply-adds per super-block (n_in ≤ 4096: ≤ 16 of them,
 * each rounding ~2^-24 relative to that magnitude), so 1e-5 leaves a margin of ~10.
 * GET_ROWS: exact (each value is one f32 rounding of d·sc·q − dmin·m, whose terms f32 represents exactly).
 */
import { describe, expect, it } from 'vitest';
import type { TestCore } from '../helpers/core.ts';
import { Op, availableVariants, loadCore, randomF32, readF32, runOp, writeBytes, writeF32, writeI32 } from '../helpers/core.ts';
import { K_TYPES, kDequantRows, kRandomWeights, kRowBytes, q8kActivations } from './quant-k-ref.ts';
import { matmulScratchBytes } from '../../src/backend/wasm/abi.ts';

/** [n_in, n_out, n_tok]: decode (1) and prefill shapes, partial decode tiles (n_out 1, 3, 17), token remainders. */
const SHAPES: [number, number, number][] = [
  [256, 1, 1],
  [256, 3, 2],
  [512, 17, 5],
  [512, 64, 16],
  [4096, 64, 1],
  [4096, 3, 33],
  [2048 + 256, 17, 1],
  [1024, 8, 8],
  // Batches of 3 and 7 (4 + 3) tokens: decode tiles for several tokens inside each chunk of rows.
  [512, 17, 3],
  [1024, 9, 7],
];
const REL = 1e-5;

/**
 * The simd128 core stores Q4_K's activations even elements first in each 16 (0, 2, …, 14, 1, 3, …, 15; quant_k.rs
 * `Q8KRows::pos`), the order its kernel unpacks the nibbles in: that order applied to ggml's blocks, in place.
 */
function evenOddQ8K(blocks: Uint8Array): void {
  for (let b = 0; b < blocks.length; b += 292) {
    for (let g = b; g < b + 256; g += 16) {
      const v = blocks.slice(g, g + 16);
      for (let j = 0; j < 16; j++) blocks[g + (j >> 1) + (j & 1) * 8] = v[j];
    }
  }
}

for (const variant of availableVariants()) {
  describe(`K-quant MATMUL, ${variant} core`, async () => {
    const core: TestCore = await loadCore(variant);

    for (const [name, type] of K_TYPES) {
      it(`${name}: SIMD and scalar twin vs float64 reference, SIMD bits == twin, 2 threads == 1`, async () => {
        const c = core;
        for (const [k, [nIn, nOut, nTok]] of SHAPES.entries()) {
          const seed = 1000 * type + k + 1;
          const wBytes = kRandomWeights(type, nOut, nIn, seed);
          const w = writeBytes(c, new Uint8Array(wBytes.length + 1)) + 1; // odd address
          c.u8(w, wBytes.length).set(wBytes);
          const xs = randomF32(nTok * nIn, seed, -2, 2);
          for (let i = 0; i < xs.length; i += 97) xs[i] *= 16;
          const x = writeF32(c, xs);
          const out = c.alloc(nTok * nOut * 4);
          const scratch = c.alloc(matmulScratchBytes(nTok, nIn)) + 3;
          const args = [type, w, x, out, nIn, nOut, nTok, scratch];
          const { val, mag } = kDequantRows(type, wBytes, 0, nOut, nIn);
          const wantScratch = new Uint8Array((nTok * nIn * 292) / 256);
          const a = q8kActivations(xs, wantScratch);
          if (variant === 'simd' && name === 'Q4_K') evenOddQ8K(wantScratch);
          const shape = `${nOut}×${nIn}, n_tok ${nTok}`;

          c.f32(out, nTok * nOut).fill(NaN);
          await runOp(c, Op.MATMUL, args);
          const simd = readF32(c, out, nTok * nOut);
          // The activations as ggml's quantize_row_q8_K writes them, byte for byte (SIMD quantizer, then the twin's).
          expect(Buffer.compare(Buffer.from(c.u8(scratch, wantScratch.length)), Buffer.from(wantScratch)), `Q8_K scratch (SIMD) ${shape}`).toBe(0);
          c.f32(out, nTok * nOut).fill(NaN);
          c.u8(scratch, wantScratch.length).fill(0xaa);
          await runOp(c, Op.MATMUL, args, { scalar: true });
          const scalar = readF32(c, out, nTok * nOut);
          expect(Buffer.compare(Buffer.from(c.u8(scratch, wantScratch.length)), Buffer.from(wantScratch)), `Q8_K scratch (twin) ${shape}`).toBe(0);

          let bad = '';
          for (let t = 0; t < nTok && !bad; t++) {
            for (let r = 0; r < nOut && !bad; r++) {
              let s = 0;
              let m = 0;
              for (let i = 0; i < nIn; i++) {
                s += val[r * nIn + i] * a[t * nIn + i];
                m += mag[r * nIn + i] * Math.abs(a[t * nIn + i]);
              }
              const o = t * nOut + r;
              for (const [what, got] of [['SIMD', simd[o]], ['scalar', scalar[o]]] as const) {
                if (!(Math.abs(got - s) <= REL * m + 1e-30)) bad = `${what} ${shape}: out[${t}][${r}] ${got} want ${s} (mag ${m})`;
              }
            }
          }
          expect(bad).toBe('');
          expect(Buffer.compare(Buffer.from(scalar.buffer), Buffer.from(simd.buffer)), `SIMD bits == twin, ${shape}`).toBe(0);

          c.f32(out, nTok * nOut).fill(NaN);
          await runOp(c, Op.MATMUL, args, { threads: 2 });
          expect(Buffer.compare(Buffer.from(readF32(c, out, nTok * nOut).buffer), Buffer.from(simd.buffer)), `2 threads ${shape}`).toBe(0);
        }
      });

      it(`${name}: GET_ROWS exact, 1 and 3 threads`, async () => {
        const c = core;
        const ids = [0, 36, 5, 5, 17, 0, 1, 35, 20];
        for (const nCols of [256, 2048 + 256]) {
          const table = kRandomWeights(type, 37, nCols, 7 * type + nCols);
          expect(table.length).toBe(37 * kRowBytes(type, nCols));
          const tp = writeBytes(c, new Uint8Array(table.length + 1)) + 1;
          c.u8(tp, table.length).set(table);
          const idp = writeI32(c, ids);
          const out = c.alloc(ids.length * nCols * 4);
          const { val } = kDequantRows(type, table, 0, 37, nCols);
          for (const threads of [1, 3]) {
            c.f32(out, ids.length * nCols).fill(NaN);
            await runOp(c, Op.GET_ROWS, [type, tp, idp, out, nCols, ids.length], { threads });
            const got = readF32(c, out, ids.length * nCols);
            let bad = -1;
            for (let i = 0; i < got.length && bad < 0; i++) {
              const want = Math.fround(val[ids[Math.floor(i / nCols)] * nCols + (i % nCols)]);
              if (!Object.is(got[i], want)) bad = i;
            }
            expect(bad, `${nCols} cols, ${threads} threads: element ${bad}`).toBe(-1);
          }
        }
      });
    }
  });
}
