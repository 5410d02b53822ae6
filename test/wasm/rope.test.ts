/**
 * ROPE (op 4) on both module variants: SIMD kernel and scalar twin against two float64
 * references written here, modes 0 (adjacent pairs) and 2 (NeoX), partial rotation
 * (n_rot < head_dim), Llama-3.1-style freq_factors, in place, 1 vs 2 threads.
 *
 * References:
 * - `ggmlAngles`: ggml's angle recipe (f32 `theta *= theta_scale` from `theta = pos`,
 *   `theta_scale = powf(base, -2/n_rot)`, θ = freq_scale·(theta/ff)), each step rounded to f32
 *   with Math.fround, then cos/sin and the rotation in float64. This is what llama.cpp computes;
 *   the kernel must match it to 1e-6 (only the f32 rounding of cos, sin and the products remain).
 * - `exactAngles`: θ_i = freq_scale·pos·base^(−2i/n_rot)/ff_i in float64. The f32 recursion
 *   above drifts from it by ~pos·2e-7 rad (inherent to ggml's recipe), hence a tolerance
 *   proportional to the position.
 */
import { describe, expect, it } from 'vitest';
import { Op, availableVariants, f32bits, loadCore, randomF32, readF32, runOp, writeF32, writeI32 } from '../helpers/core.ts';

interface RopeCase {
  nTok: number;
  nHead: number;
  headDim: number;
  nRot: number;
  mode: 0 | 2;
  base: number;
  freqScale: number;
  ff?: Float32Array;
}

const f = Math.fround;

/** θ_i for pairs i < n_rot/2 following ggml's f32 steps. */
function ggmlAngles(c: RopeCase, pos: number): Float64Array {
  const ts = f(Math.pow(c.base, f(-2 / c.nRot)));
  const out = new Float64Array(c.nRot / 2);
  let theta = f(pos);
  for (let i = 0; i < c.nRot / 2; i++) {
    const ff = c.ff ? c.ff[i] : 1;
    out[i] = f(f(c.freqScale) * f(theta / ff));
    theta = f(theta * ts);
  }
  return out;
}

function exactAngles(c: RopeCase, pos: number): Float64Array {
  const out = new Float64Array(c.nRot / 2);
  for (let i = 0; i < c.nRot / 2; i++) {
    out[i] = (c.freqScale * pos * Math.pow(c.base, (-2 * i) / c.nRot)) / (c.ff ? c.ff[i] : 1);
  }
  return out;
}

function ropeRef(c: RopeCase, x: Float32Array, pos: Int32Array, angles: (c: RopeCase, p: number) => Float64Array): Float64Array {
  const out = Float64Array.from(x);
  const half = c.nRot / 2;
  for (let t = 0; t < c.nTok; t++) {
    const th = angles(c, pos[t]);
    for (let h = 0; h < c.nHead; h++) {
      const o = (t * c.nHead + h) * c.headDim;
      for (let i = 0; i < half; i++) {
        const [a, b] = c.mode === 2 ? [o + i, o + i + half] : [o + 2 * i, o + 2 * i + 1];
        const [x0, x1] = [out[a], out[b]];
        const [cs, sn] = [Math.cos(th[i]), Math.sin(th[i])];
        out[a] = x0 * cs - x1 * sn;
        out[b] = x0 * sn + x1 * cs;
      }
    }
  }
  return out;
}

const CASES: (RopeCase & { name: string })[] = [
  { name: 'normal hd64', nTok: 7, nHead: 4, headDim: 64, nRot: 64, mode: 0, base: 10000, freqScale: 1 },
  { name: 'neox hd128', nTok: 5, nHead: 3, headDim: 128, nRot: 128, mode: 2, base: 1e6, freqScale: 1 },
  { name: 'neox hd128 n_rot 64, freq_factors, scale 0.25', nTok: 4, nHead: 2, headDim: 128, nRot: 64, mode: 2, base: 500000, freqScale: 0.25,
    ff: Float32Array.from({ length: 32 }, (_, i) => 1 + (i % 5) * 2.5) },
  { name: 'normal hd64 n_rot 22 (SIMD tail), freq_factors', nTok: 3, nHead: 5, headDim: 64, nRot: 22, mode: 0, base: 10000, freqScale: 0.5,
    ff: Float32Array.from({ length: 11 }, (_, i) => 1 + i / 3) },
  { name: 'neox hd80 n_rot 36 (SIMD tail)', nTok: 3, nHead: 2, headDim: 80, nRot: 36, mode: 2, base: 10000, freqScale: 1 },
];

for (const variant of availableVariants()) {
  describe(`ROPE (${variant})`, async () => {
    const core = await loadCore(variant);

    for (const c of CASES) {
      it(c.name, async () => {
        const n = c.nTok * c.nHead * c.headDim;
        const x = randomF32(n, 1234 + c.headDim + c.nRot);
        // Consecutive positions (prefill) ending far out, plus position 0 via the first case's start.
        const start = c.nTok === 7 ? 0 : 4090;
        const pos = Int32Array.from({ length: c.nTok }, (_, t) => start + t);
        const xp = writeF32(core, x);
        const pp = writeI32(core, pos);
        const ffp = c.ff ? writeF32(core, c.ff) : 0;
        const args = (out: number, src = xp) => [src, out, pp, c.nTok, c.nHead, c.headDim, c.nRot, c.mode, f32bits(c.base), f32bits(c.freqScale), ffp];

        const ggml = ropeRef(c, x, pos, ggmlAngles);
        const exact = ropeRef(c, x, pos, exactAngles);
        const results: Float32Array[] = [];
        for (const scalar of [false, true]) {
          for (const threads of [1, 2]) {
            const out = core.alloc(n * 4);
            await runOp(core, Op.ROPE, args(out), { scalar, threads });
            const got = readF32(core, out, n);
            let errGgml = 0;
            let errExact = 0;
            for (let i = 0; i < n; i++) {
              errGgml = Math.max(errGgml, Math.abs(got[i] - ggml[i]));
              const p = pos[Math.floor(i / (c.nHead * c.headDim))];
              errExact = Math.max(errExact, Math.abs(got[i] - exact[i]) / (1e-6 + 3e-7 * p));
            }
            expect(errGgml, `vs ggml recipe, scalar=${scalar} threads=${threads}`).toBeLessThan(1e-6);
            expect(errExact, `vs exact angles (scaled), scalar=${scalar} threads=${threads}`).toBeLessThan(1);
            // Dims ≥ n_rot are copied bit for bit.
            for (let r = 0; r < c.nTok * c.nHead; r++) {
              for (let i = c.nRot; i < c.headDim; i++) expect(got[r * c.headDim + i]).toBe(x[r * c.headDim + i]);
            }
            results.push(got);
          }
        }
        // SIMD and scalar use the same f32 operations (no fma): identical bits, any thread count.
        for (const r of results.slice(1)) expect(r).toEqual(results[0]);

        // In place equals out of place.
        const inPlace = writeF32(core, x);
        await runOp(core, Op.ROPE, args(inPlace, inPlace), { threads: 2 });
        expect(readF32(core, inPlace, n)).toEqual(results[0]);
      });
    }
  });
}
