/**
 * ROPE (op 4) multi-position modes — M-RoPE (8), vision (24), 2D (64) — on every core variant, SIMD and
 * scalar, 1 and 2 threads, against the float64 reference test/vision/reference/rope-f64.ts (exact angles).
 *
 * Tolerance: |Δ| ≤ 1e-6 + 3e-7·p_max per value (values in [−1, 1]): the kernel follows ggml's f32 angle
 * recursion (θ_{i+1} = θ_i·theta_scale in f32), which drifts from the exact angle by ~p·2e-7 rad, as in
 * llama.cpp (see rope.test.ts). A wrong stream, section or frequency gives errors of order 1.
 */
import { describe, expect, it } from 'vitest';
import { Op, availableVariants, f32bits, loadCore, randomF32, readF32, runOp, writeF32, writeI32 } from '../helpers/core.ts';
import { ropeMultiF64, type RopeMultiSpec } from '../vision/reference/rope-f64.ts';

const MODE = { mrope: 8, vision: 24, '2d': 64 } as const;

const CASES: (RopeMultiSpec & { name: string; nTok: number })[] = [
  { name: 'M-RoPE Qwen2-VL text hd128 [16,24,24,0]', mode: 'mrope', nTok: 6, nHead: 3, headDim: 128, nRot: 128, base: 1e6, sections: [16, 24, 24, 0] },
  { name: 'M-RoPE hd64 n_rot 40 wrapping sectors [3,4,3,0]', mode: 'mrope', nTok: 5, nHead: 2, headDim: 64, nRot: 40, base: 10000, sections: [3, 4, 3, 0] },
  { name: 'vision Qwen2.5-VL hd80 [20,20,0,0]', mode: 'vision', nTok: 8, nHead: 2, headDim: 80, nRot: 40, base: 10000, sections: [20, 20, 0, 0] },
  { name: 'vision hd16 [4,4,0,0]', mode: 'vision', nTok: 4, nHead: 3, headDim: 16, nRot: 8, base: 10000, sections: [4, 4, 0, 0] },
  { name: '2D Pixtral hd64', mode: '2d', nTok: 9, nHead: 2, headDim: 64, nRot: 64, base: 10000 },
  { name: '2D hd40 n_rot 24 (partial, SIMD tail)', mode: '2d', nTok: 3, nHead: 3, headDim: 40, nRot: 24, base: 10000 },
];

for (const variant of availableVariants()) {
  describe(`ROPE multi-position modes (${variant})`, async () => {
    const core = await loadCore(variant);
    for (const c of CASES) {
      it(c.name, async () => {
        const n = c.nTok * c.nHead * c.headDim;
        const x = randomF32(n, 77 + c.headDim + c.nRot);
        // 4 streams with distinct values (a patch grid's rows and cols, far positions for t).
        const pos = Int32Array.from({ length: 4 * c.nTok }, (_, i) => ((i * 37 + 11) % 53) * (i < c.nTok ? 40 : 1));
        const pMax = Math.max(...pos);
        const sec = c.sections ?? [0, 0, 0, 0];
        const xp = writeF32(core, x);
        const pp = writeI32(core, pos);
        const args = (out: number, src = xp) => [src, out, pp, c.nTok, c.nHead, c.headDim, c.nRot, MODE[c.mode], f32bits(c.base), f32bits(1), 0, sec[0]! | (sec[1]! << 16), sec[2]! | (sec[3]! << 16)];
        const want = Float64Array.from(x);
        ropeMultiF64(want, c.nTok, c, (k, t) => pos[k * c.nTok + t]!);
        const results: Float32Array[] = [];
        for (const scalar of [false, true]) {
          for (const threads of [1, 2]) {
            const out = core.alloc(n * 4);
            await runOp(core, Op.ROPE, args(out), { scalar, threads });
            const got = readF32(core, out, n);
            let err = 0;
            for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
            expect(err, `scalar=${scalar} threads=${threads}`).toBeLessThan(1e-6 + 3e-7 * pMax);
            results.push(got);
          }
        }
        for (const r of results.slice(1)) expect(r).toEqual(results[0]);
        const inPlace = writeF32(core, x);
        await runOp(core, Op.ROPE, args(inPlace, inPlace), { threads: 2 });
        expect(readF32(core, inPlace, n)).toEqual(results[0]);
      });
    }
  });
}
