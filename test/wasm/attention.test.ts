/**
 * KV_STORE (op 12) and ATTENTION (op 13) on both module variants.
 *
 * The cache lives in pages scattered through memory out of order (reverse order, every other
 * slot, gaps between them), written by KV_STORE and read in place by ATTENTION.
 * - KV_STORE: the stored bits against an F16 encoder written here (round to nearest even),
 *   and an exact copy for F32.
 * - ATTENTION: SIMD kernel and scalar twin against a float64 reference over the stored (f16-
 *   rounded) K and V; grouped-query (8 heads / 2 kv heads) and multi-head; head_dim 64 and 128;
 *   pages of 16 and 64 rows; n_kv from 1 to 300; prefill (consecutive positions) and decode;
 *   scores of moderate and sharp spread (q amplitude 1 and 8); 1 vs 2 threads bit-identical.
 *   Tolerance: outputs are convex combinations of V values in [-1, 1]; f32 dot products and
 *   exp (≤ 2 ulp) give ~1e-6 absolute error, so 3e-6.
 * - flags bit 0 (ggml f16 rounding): against the same reference with q and the softmax weights
 *   rounded to f16 as llama.cpp's non-flash path does; GQA 8/2 and 32/8, head_dim 32/64/128,
 *   n_kv 1..300 and 2048, decode and prefill (also a whole prompt from position 0). The weights
 *   then match the reference's f16 values exactly except near a tie between two f16 values,
 *   where either rounding is allowed (slack, see attentionRef); tolerance 3e-6 beyond it.
 *   Without the rounding the difference is ~2e-4.
 */
import { describe, expect, it } from 'vitest';
import type { TestCore } from '../helpers/core.ts';
import { Op, availableVariants, f32bits, loadCore, poolFor, randomF32, readF32, runOp, writeF32, writeI32 } from '../helpers/core.ts';

const F32 = 0;
const F16 = 1;

// ---- IEEE half, from the format definition ----

/** f16 bits of the float64 value x (round to nearest, ties to even; overflow to ±inf). */
function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a === 0) return sign;
  if (a >= 65520) return sign | 0x7c00;
  let e = Math.max(-14, Math.floor(Math.log2(a)));
  if (e > -14 && 2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - 10);
  const q = a / ulp; // exact: a has ≤ 24 significant bits
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  if (e === -14 && r < 1024) return sign | r; // subnormal (or zero)
  if (r === 2048) {
    r = 1024;
    e++;
  }
  return sign | ((e + 15) << 10) | (r - 1024);
}

function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
}

const roundHalf = (x: number) => halfValue(f16Bits(x));

// ---- cache in scattered pages ----

interface Cache {
  kPages: number;
  vPages: number;
  /** Stored values as float64, [n_kv][n_head_kv·head_dim]. */
  k: Float64Array;
  v: Float64Array;
  kSrc: Float32Array;
  vSrc: Float32Array;
  kAddrs: number[];
  vAddrs: number[];
}

interface Shape {
  nKv: number;
  nHeadKv: number;
  hd: number;
  ps: number;
  kvType: number;
}

/** Page addresses: reverse order, alternating gaps, 16-byte offsets. */
function scatterPages(core: TestCore, nPages: number, pageBytes: number): number[] {
  const slot = pageBytes + 48;
  const base = core.alloc((2 * nPages + 1) * slot + 64, 64);
  return Array.from({ length: nPages }, (_, i) => base + ((nPages - 1 - i) * 2 + (i % 2)) * slot + 16);
}

async function buildCache(core: TestCore, s: Shape, seed: number, threads: number): Promise<Cache> {
  const rowLen = s.nHeadKv * s.hd;
  const es = s.kvType === F16 ? 2 : 4;
  const nPages = Math.ceil(s.nKv / s.ps);
  const kAddrs = scatterPages(core, nPages, s.ps * rowLen * es);
  const vAddrs = scatterPages(core, nPages, s.ps * rowLen * es);
  const kPages = core.alloc(nPages * 4);
  const vPages = core.alloc(nPages * 4);
  core.u32(kPages, nPages).set(kAddrs);
  core.u32(vPages, nPages).set(vAddrs);
  const kSrc = randomF32(s.nKv * rowLen, seed);
  const vSrc = randomF32(s.nKv * rowLen, seed + 1);
  const pos = writeI32(core, Int32Array.from({ length: s.nKv }, (_, i) => i));
  for (const [src, pages] of [[kSrc, kPages], [vSrc, vPages]] as const) {
    await runOp(core, Op.KV_STORE, [writeF32(core, src), s.nKv, rowLen, pos, pages, s.ps, s.kvType], { threads });
  }
  const stored = (x: Float32Array) => Float64Array.from(x, (v) => (s.kvType === F16 ? roundHalf(v) : v));
  return { kPages, vPages, k: stored(kSrc), v: stored(vSrc), kSrc, vSrc, kAddrs, vAddrs };
}

/** Element i of position p's row, read back from the pages as raw bits. */
function storedBits(core: TestCore, s: Shape, addrs: number[], p: number, i: number): number {
  const es = s.kvType === F16 ? 2 : 4;
  const addr = addrs[Math.floor(p / s.ps)] + (p % s.ps) * s.nHeadKv * s.hd * es + i * es;
  return s.kvType === F16 ? new Uint16Array(core.memory.buffer, addr, 1)[0] : core.u32(addr, 1)[0];
}

// ---- float64 reference ----

interface AttnCase extends Shape {
  nTok: number;
  nHead: number;
  qPos: Int32Array;
  amp: number;
  ggml: boolean;
  /** Sliding window (0: none) and soft cap (0: none). */
  window?: number;
  softcap?: number;
}

/**
 * Float64 attention over the stored K/V. In ggml mode q and the weights are rounded to f16, and
 * `slack[i]` bounds what weights near a tie may change: a weight within the kernel's f32 error of
 * the midpoint between two f16 values may round either way (one f16 step times |v|). Its
 * relative error: f32 exp, sum and scale (2^-20), and the f32 dot products
 * (2^-22·√hd·scale·Σ|q_i·k_i|, about 4× their typical error).
 */
function attentionRef(c: AttnCase, q: Float32Array, cache: Cache, scale: number): { out: Float64Array; slack: Float64Array } {
  const rowLen = c.nHeadKv * c.hd;
  const gq = c.nHead / c.nHeadKv;
  const out = new Float64Array(c.nTok * c.nHead * c.hd);
  const slack = new Float64Array(out.length);
  for (let t = 0; t < c.nTok; t++) {
    const j1 = Math.min(c.qPos[t] + 1, c.nKv);
    const j0 = c.window ? Math.max(0, c.qPos[t] + 1 - c.window) : 0;
    const nVis = Math.max(0, j1 - j0);
    for (let h = 0; h < c.nHead; h++) {
      const kh = Math.floor(h / gq) * c.hd;
      const qo = (t * c.nHead + h) * c.hd;
      const s = new Float64Array(nVis);
      const mag = new Float64Array(nVis);
      for (let j = 0; j < nVis; j++) {
        let dot = 0;
        let abs = 0;
        for (let i = 0; i < c.hd; i++) {
          const x = (c.ggml ? roundHalf(q[qo + i]) : q[qo + i]) * cache.k[(j0 + j) * rowLen + kh + i];
          dot += x;
          abs += Math.abs(x);
        }
        s[j] = c.softcap ? c.softcap * Math.tanh((dot * scale) / c.softcap) : dot * scale;
        mag[j] = abs * scale;
      }
      const mx = Math.max(...s);
      let sum = 0;
      for (let j = 0; j < nVis; j++) sum += Math.exp(s[j] - mx);
      for (let j = 0; j < nVis; j++) {
        let w = Math.exp(s[j] - mx) / sum;
        let tie = 0;
        if (c.ggml) {
          const ulp = 2 ** (Math.max(-14, Math.floor(Math.log2(w))) - 10);
          const rel = 2 ** -20 + 2 ** -22 * Math.sqrt(c.hd) * mag[j];
          const frac = w / ulp - Math.floor(w / ulp);
          if (Math.abs(frac - 0.5) <= (rel * w) / ulp) tie = ulp;
          w = roundHalf(w);
        }
        for (let i = 0; i < c.hd; i++) {
          const v = cache.v[(j0 + j) * rowLen + kh + i];
          out[qo + i] += w * v;
          slack[qo + i] += tie * Math.abs(v);
        }
      }
    }
  }
  return { out, slack };
}

// ---- tests ----

it('f16 encoder of this test rounds as IEEE (spot values)', () => {
  expect(f16Bits(1)).toBe(0x3c00);
  expect(f16Bits(-2)).toBe(0xc000);
  expect(f16Bits(65504)).toBe(0x7bff);
  expect(f16Bits(65520)).toBe(0x7c00);
  expect(f16Bits(2 ** -24)).toBe(0x0001);
  expect(f16Bits(2 ** -25)).toBe(0x0000); // tie to even
  expect(f16Bits(3 * 2 ** -25)).toBe(0x0002); // tie to even
  expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
  expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  expect(f16Bits(0.1)).toBe(0x2e66);
  for (let h = 0; h < 0x7c00; h += 37) expect(f16Bits(halfValue(h))).toBe(h);
});

const SHAPES: [number, number][] = [
  [8, 2], // GQA
  [4, 4], // MHA
];
/** [n_tok, n_kv]: decode and prefill, below/at/above page boundaries and the 32-key block. */
const LENGTHS: [number, number][] = [
  [1, 1],
  [1, 64],
  [1, 65],
  [3, 17],
  [5, 300],
  [1, 300],
];

for (const variant of availableVariants()) {
  describe(`KV_STORE + ATTENTION (${variant})`, async () => {
    const core = await loadCore(variant);
    // runOp's command list and the pool's control block and stacks come from the arena on first
    // use: create them before any mark/release, or later allocations would overwrite them.
    await poolFor(core, 2);
    await runOp(core, Op.SCALE, [0, 0, 0, f32bits(1)], { threads: 2 });

    for (const kvType of [F16, F32]) {
      it(`KV_STORE writes ${kvType === F16 ? 'F16' : 'F32'} rows into scattered pages`, async () => {
        const s: Shape = { nKv: 77, nHeadKv: 2, hd: 64, ps: 16, kvType };
        const mark = core.mark();
        const cache = await buildCache(core, s, 5, 2);
        const rowLen = s.nHeadKv * s.hd;
        for (let p = 0; p < s.nKv; p++) {
          for (let i = 0; i < rowLen; i += 7) {
            const x = cache.kSrc[p * rowLen + i];
            const want = kvType === F16 ? f16Bits(x) : new Uint32Array(Float32Array.of(x).buffer)[0];
            expect(storedBits(core, s, cache.kAddrs, p, i)).toBe(want);
          }
        }
        core.release(mark);
      });
    }

    let n = 0;
    for (const [nHead, nHeadKv] of SHAPES) {
      for (const hd of [64, 128]) {
        for (const ps of [16, 64]) {
          for (const kvType of [F16, F32]) {
            const name = `${nHead}/${nHeadKv} heads, hd ${hd}, page ${ps}, ${kvType === F16 ? 'F16' : 'F32'}`;
            it(name, async () => {
              for (const [nTok, nKv] of LENGTHS) {
                n++;
                const mark = core.mark();
                const cache = await buildCache(core, { nKv, nHeadKv, hd, ps, kvType }, 100 + n, 1);
                // Prefill ends at the last cached position; a decode query sits past it (clamped).
                const qPos = Int32Array.from({ length: nTok }, (_, t) => (nTok === 1 ? nKv - 1 + (n % 2) * 5 : nKv - nTok + t));
                const amp = n % 2 ? 8 : 1;
                const c: AttnCase = { nTok, nKv, nHead, nHeadKv, hd, ps, kvType, qPos, amp, ggml: false };
                await checkAttention(core, c, cache, 0, 3e-6, `${name}, n_tok ${nTok}, n_kv ${nKv}, amp ${amp}`);
                core.release(mark);
              }
            });
          }
        }
      }
    }

    // Sliding window and soft cap (Gemma 2, Mistral, Phi-3), every kernel: flash (F16/F32 cache),
    // ggml mode, and the two-pass twin (head_dim 36).
    it('sliding window and soft cap', async () => {
      let n = 0;
      for (const [window, softcap] of [[1, 0], [5, 0], [37, 0], [1000, 0], [0, 2], [16, 1.5]]) {
        for (const [nTok, nKv] of [[1, 70], [6, 70], [40, 40]]) {
          for (const [kvType, ggml, hd] of [[F16, false, 64], [F32, false, 64], [F16, true, 64], [F16, false, 36]] as const) {
            n++;
            const mark = core.mark();
            const s: Shape = { nKv, nHeadKv: 2, hd, ps: 16, kvType };
            const cache = await buildCache(core, s, 500 + n, 1);
            const qPos = Int32Array.from({ length: nTok }, (_, t) => nKv - nTok + t);
            const c: AttnCase = { ...s, nTok, nHead: 8, qPos, amp: 6, ggml, window, softcap };
            await checkAttention(core, c, cache, ggml ? 1 : 0, 3e-6, `window ${window} softcap ${softcap} n_tok ${nTok} n_kv ${nKv} hd ${hd} ggml ${ggml}`);
            core.release(mark);
          }
        }
      }
    });

    // flags bit 0 (SIMD ggml kernel and twin): GQA 8/2 and 32/8, head_dim 32/64/128, decode and
    // prefill (ending at the last cached position, or a whole causal prompt from position 0).
    const GGML_LENGTHS: [number, number][] = [[1, 1], [1, 40], [4, 129], [1, 300], [37, 37], [1, 2048], [3, 2048]];
    for (const [nHead, nHeadKv] of [[8, 2], [32, 8]]) {
      for (const hd of [32, 64, 128]) {
        it(`flags bit 0 reproduces ggml f16 roundings: ${nHead}/${nHeadKv} heads, hd ${hd}`, async () => {
          for (const [nTok, nKv] of GGML_LENGTHS) {
            if (nHead === 32 && nKv === 2048 && hd !== 64) continue; // keep the reference quick
            const mark = core.mark();
            const s: Shape = { nKv, nHeadKv, hd, ps: 16, kvType: F16 };
            const cache = await buildCache(core, s, 7 + nKv + hd, 1);
            const qPos = Int32Array.from({ length: nTok }, (_, t) => nKv - nTok + t);
            const amp = (nKv + nTok) % 2 ? 8 : 1;
            const c: AttnCase = { ...s, nTok, nHead, qPos, amp, ggml: true };
            await checkAttention(core, c, cache, 1, 3e-6, `ggml mode ${nHead}/${nHeadKv} hd ${hd} n_tok ${nTok} n_kv ${nKv} amp ${amp}`);
            core.release(mark);
          }
        });
      }
    }
  });
}

async function checkAttention(core: TestCore, c: AttnCase, cache: Cache, flags: number, tol: number, label: string) {
  const nq = c.nTok * c.nHead * c.hd;
  const q = randomF32(nq, c.nKv * 31 + c.hd, -c.amp, c.amp);
  const scale = 1 / Math.sqrt(c.hd);
  const { out: want, slack } = attentionRef(c, q, cache, Math.fround(scale));
  const qp = writeF32(core, q);
  const posp = writeI32(core, c.qPos);
  const scratch = core.alloc(2 * c.nKv * 4);
  const results: Float32Array[] = [];
  for (const scalar of [false, true]) {
    for (const threads of [1, 2]) {
      const out = core.alloc(nq * 4);
      const layout = (c.ps | (c.kvType << 20) | (flags << 28)) >>> 0; // ABI.md ATTENTION word 10
      const args = [qp, out, c.nTok, posp, c.nKv, c.nHead, c.nHeadKv, c.hd, cache.kPages, cache.vPages, layout, c.window ?? 0, f32bits(scale), scratch, f32bits(c.softcap ?? 0)];
      await runOp(core, Op.ATTENTION, args, { scalar, threads });
      const got = readF32(core, out, nq);
      let err = 0; // beyond the slack of weights near an f16 tie (ggml mode)
      for (let i = 0; i < nq; i++) err = Math.max(err, Math.abs(got[i] - want[i]) - slack[i]);
      expect(err, `${label}: scalar=${scalar} threads=${threads}`).toBeLessThan(tol);
      results.push(got);
    }
  }
  expect(results[1], `${label}: SIMD, 2 threads vs 1`).toEqual(results[0]);
  expect(results[3], `${label}: scalar, 2 threads vs 1`).toEqual(results[2]);
}
