/**
 * RMSNORM, SOFTMAX, SILU, SWIGLU, GELU, ADD, MUL, SCALE on every variant this runtime runs:
 * the SIMD kernel and its scalar twin, each against a float64 reference computed here from the
 * same f32 inputs. Sizes 1, 3, 17, 4097 cover the vector tail.
 *
 * Tolerances (|got − ref| ≤ abs + rel·|ref|):
 * - ADD, MUL, SCALE: exact (one correctly rounded f32 operation).
 * - SILU, SWIGLU, GELU: 2e-6 abs + 2e-6 rel (Cephes-style exp, ~2 ulp, plus a division).
 * - RMSNORM: 1e-5 rel (f32 sum of squares over up to 4097 terms).
 * - SOFTMAX: 1e-5 rel per probability (f32 sum of up to 4097 exps) + 1e-12 abs.
 */
import { describe, expect, it } from 'vitest';
import type { TestCore, TestVariant } from '../helpers/core.ts';
import { fp16BitsToFp32, fp32ToFp16Bits } from '../../src/gguf/fp16.ts';
import { Op, availableVariants, f32bits, loadCore, randomF32, readF32, runOp, writeF32 } from '../helpers/core.ts';

const SIZES = [1, 3, 17, 4097];

function expectClose(got: Float32Array, want: Float64Array, abs: number, rel: number, what: string): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (abs + rel * Math.abs(want[i]));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
  }
  expect(at, `${what}: element ${at} got ${got[at]} want ${want[at]}`).toBe(-1);
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const half = (x: number) => fp16BitsToFp32(fp32ToFp16Bits(x));
/** ggml's table GELU (GGML_GELU_FP16), evaluated as ggml does: f32 arithmetic on the f16-rounded input. */
function geluGgml(x: number): { want: number; f32: number } {
  if (x <= -10) return { want: 0, f32: 0 };
  if (x >= 10) return { want: x, f32: x };
  const h = half(x);
  const t = Math.fround(Math.tanh(Math.fround(Math.fround(0.7978845608028654 * h) * Math.fround(1 + Math.fround(0.044715 * h * h)))));
  const g = Math.fround(Math.fround(0.5 * h) * Math.fround(1 + t));
  return { want: half(g), f32: g };
}
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/**
 * Node 20 has relaxed-simd only behind a flag (and its i8 dot is wrong, so 'auto' never picks it).
 * These kernels use only relaxed madd, so the relaxed build's f32 code is still checked here.
 */
async function variantsToTest(): Promise<TestVariant[]> {
  const v = availableVariants();
  if (!v.includes('relaxed') && typeof process !== 'undefined' && process.versions.node?.startsWith('20.')) {
    (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
    v.push('relaxed');
  }
  return v;
}

for (const variant of await variantsToTest()) {
  describe(`${variant} core`, async () => {
    const core: TestCore = await loadCore(variant);

    /** Runs the op in SIMD and scalar mode; returns both outputs. */
    async function both(op: number, args: number[], out: number, n: number): Promise<[Float32Array, Float32Array]> {
      await runOp(core, op, args);
      const simd = readF32(core, out, n);
      core.f32(out, n).fill(NaN);
      await runOp(core, op, args, { scalar: true });
      return [simd, readF32(core, out, n)];
    }

    for (const n of SIZES) {
      describe(`n = ${n}`, () => {
        const a = randomF32(n, 1 + n, -4, 4);
        const b = randomF32(n, 2 + n, -4, 4);
        const wide = randomF32(n, 3 + n, -30, 30); // exp saturates at both ends

        it('ADD, MUL, SCALE are exact', async () => {
          const [pa, pb, out] = [writeF32(core, a), writeF32(core, b), core.alloc(n * 4)];
          const cases: [number, number[], (i: number) => number][] = [
            [Op.ADD, [pa, pb, out, n], (i) => a[i] + b[i]],
            [Op.MUL, [pa, pb, out, n], (i) => a[i] * b[i]],
            [Op.ADD, [pa, pb, out, n, 7], (i) => a[i] + b[i % 7]], // b repeated every 7 values (a bias)
            [Op.MUL, [pa, pb, out, n, 5], (i) => a[i] * b[i % 5]],
            [Op.SCALE, [pa, out, n, f32bits(-0.37)], (i) => a[i] * Math.fround(-0.37)],
          ];
          for (const [op, args, ref] of cases) {
            const want = Float64Array.from({ length: n }, (_, i) => Math.fround(ref(i)));
            for (const got of await both(op, args, out, n)) expectClose(got, want, 0, 0, `op ${op}`);
          }
        });

        it('SILU, GELU, SWIGLU within 2e-6', async () => {
          const [px, pu, out] = [writeF32(core, wide), writeF32(core, b), core.alloc(n * 4)];
          const cases: [string, number, number[], (i: number) => number][] = [
            ['silu', Op.SILU, [px, out, n], (i) => silu(wide[i])],
            ['gelu', Op.GELU, [px, out, n], (i) => gelu(wide[i])],
            ['swiglu', Op.SWIGLU, [px, pu, out, n], (i) => silu(wide[i]) * b[i]],
          ];
          for (const [name, op, args, ref] of cases) {
            const want = Float64Array.from({ length: n }, (_, i) => ref(i));
            const [simd, scalar] = await both(op, args, out, n);
            expectClose(simd, want, 2e-6, 2e-6, `${name} simd`);
            expectClose(scalar, want, 2e-6, 2e-6, `${name} scalar`);
          }
        });

        it("GEGLU and ggml's f16-table GELU/GEGLU, SOFTCAP", async () => {
          const [px, pu, out] = [writeF32(core, wide), writeF32(core, b), core.alloc(n * 4)];
          // Exact GEGLU: gelu(x)·up within 2e-6.
          const [simd, scalar] = await both(Op.GELU, [px, out, n, pu, 0], out, n);
          const want = Float64Array.from({ length: n }, (_, i) => gelu(wide[i]) * b[i]);
          expectClose(simd, want, 2e-6, 2e-6, 'geglu simd');
          expectClose(scalar, want, 2e-6, 2e-6, 'geglu scalar');
          // Table mode: the f16 value ggml's table holds; an adjacent one only at a rounding tie.
          for (const up of [0, pu]) {
            const [got] = await both(Op.GELU, [px, out, n, up, 1], out, n);
            for (let i = 0; i < n; i++) {
              const { want: w, f32 } = geluGgml(wide[i]);
              const mul = up ? b[i] : 1;
              if (got[i] === Math.fround(w * mul)) continue;
              const other = got[i] / mul;
              expect(Math.abs(f32 - (other + w) / 2), `ggml gelu(${wide[i]}) = ${got[i]}, want ${w * mul}`).toBeLessThanOrEqual(4e-6 * Math.abs(f32) + 1e-10);
            }
          }
          // SOFTCAP: tanh(x·(1/c))·c within 2e-7 relative to c.
          const cap = 7.5;
          const [sc, ss] = await both(Op.SOFTCAP, [px, out, n, f32bits(cap)], out, n);
          const wantCap = Float64Array.from({ length: n }, (_, i) => Math.tanh(wide[i] * Math.fround(1 / cap)) * cap);
          expectClose(sc, wantCap, 2e-7 * cap * 2, 0, 'softcap');
          expectClose(ss, wantCap, 2e-7 * cap * 2, 0, 'softcap scalar');
        });

        it('in place (out = x) gives the same result', async () => {
          const px = writeF32(core, wide);
          const out = core.alloc(n * 4);
          await runOp(core, Op.GELU, [px, out, n]);
          await runOp(core, Op.GELU, [px, px, n]);
          expect(readF32(core, px, n)).toEqual(readF32(core, out, n));
        });
      });
    }

    for (const n of SIZES) {
      it(`RMSNORM n = ${n}, 3 rows, with and without weight`, async () => {
        const rows = 3;
        const x = randomF32(n * rows, 10 + n, -3, 3);
        const w = randomF32(n, 11 + n, 0.5, 1.5);
        const eps = 1e-5;
        const [px, pw, out] = [writeF32(core, x), writeF32(core, w), core.alloc(n * rows * 4)];
        for (const weight of [0, pw]) {
          const want = new Float64Array(n * rows);
          for (let r = 0; r < rows; r++) {
            let ss = 0;
            for (let i = 0; i < n; i++) ss += x[r * n + i] ** 2;
            const k = 1 / Math.sqrt(ss / n + Math.fround(eps));
            for (let i = 0; i < n; i++) want[r * n + i] = x[r * n + i] * k * (weight ? w[i] : 1);
          }
          const [simd, scalar] = await both(Op.RMSNORM, [px, weight, out, n, rows, f32bits(eps)], out, n * rows);
          expectClose(simd, want, 0, 1e-5, 'rmsnorm simd');
          expectClose(scalar, want, 0, 1e-5, 'rmsnorm scalar');
        }
      });

      it(`SOFTMAX n = ${n}, 3 rows, scale 1, 0.125, -2`, async () => {
        const rows = 3;
        const x = randomF32(n * rows, 20 + n, -12, 12);
        const [px, out] = [writeF32(core, x), core.alloc(n * rows * 4)];
        for (const scale of [1, 0.125, -2]) {
          const want = new Float64Array(n * rows);
          const s = Math.fround(scale);
          for (let r = 0; r < rows; r++) {
            const row = Array.from(x.subarray(r * n, (r + 1) * n), (v) => v * s);
            const m = Math.max(...row);
            const sum = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
            row.forEach((v, i) => (want[r * n + i] = Math.exp(v - m) / sum));
          }
          const [simd, scalar] = await both(Op.SOFTMAX, [px, out, n, rows, f32bits(scale)], out, n * rows);
          expectClose(simd, want, 1e-12, 1e-5, `softmax simd scale ${scale}`);
          expectClose(scalar, want, 1e-12, 1e-5, `softmax scalar scale ${scale}`);
        }
      });
    }
  });
}
