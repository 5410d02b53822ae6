/**
 * CUDA backend conformance, op by op through the Backend interface, on two builds of the same kernel source
 * (wasm/cuda): the host emulation (libtessera-cuda-emu.so: kernel bodies run on the CPU, warps as fibers, a
 * separate "device" buffer so uploads and downloads are exercised) always runs, here and in CI; the GPU library
 * (libtessera-cuda.so) runs only where a CUDA device is found, else the suite is skipped and prints why.
 *
 * References:
 * - MATMUL and GET_ROWS: float64 sums over the weights decoded independently (test/wasm/quant-ref.ts,
 *   quant-k-ref.ts) and the activations quantized as llama.cpp's CPU matmul (Q8_0 blocks for Q8_0/Q4_0, Q8_K for
 *   Q4_K/Q6_K, f16 for F16), restated there. MATMUL: |got − ref| ≤ 1e-6 + 1e-4·Σ|w·x| (1e-4: a rare quantization
 *   step flipped by an f32 rounding, one step ≈ 1/127 of one term; the per-unit f32 scaling adds ~1e-7 relative).
 *   GET_ROWS: 2 ulp.
 * - The other ops: the WASM core's scalar twin (1 thread), itself checked against float64 references in
 *   test/wasm: RMSNORM/NORM/SOFTMAX 2e-5 rel + 1e-6; SILU/SWIGLU/SOFTCAP/GELU 2e-6 rel + 1e-6 (GELU and GEGLU
 *   in ggml's f16 table numerics: one f16 ulp, 2⁻¹⁰ rel, for a flipped rounding); ADD/MUL/SCALE exact; ROPE
 *   2e-5 abs; KV_STORE bytes identical but for rare one-step rounding ties (≤ 1 in 500 bytes); ATTENTION
 *   1e-4 abs (f32 dots here, f64 there), 2e-3 abs with the F16 cache's ggml roundings (a weight's f16 rounding
 *   can flip by one ulp, 2⁻¹¹ relative).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createCudaBackend, type CudaBackend } from '../../src/backend/cuda/index.ts';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { activationsAs, dequantRows, randomWeights, rng, rowBytes, type WType } from '../wasm/quant-ref.ts';
import { kDequantRows, kRandomWeights, kRowBytes, q8kActivations } from '../wasm/quant-k-ref.ts';
import { cudaGpu } from './gpu.ts';

const probe = await cudaGpu();
if (!probe.gpu) console.log(`test/cuda/ops: GPU suite skipped: no CUDA device: ${probe.reason}`);

function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => ((next() / 2 ** 32) * 2 - 1) * scale);
}
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let bad = -1;
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= tol(i))) { bad = i; break; }
  expect(bad, `${what}: element ${bad} got ${got[bad]} want ${want[bad]}`).toBe(-1);
}

const TYPES: [string, number, 32 | 256][] = [
  ['F32', GgmlType.F32, 32], ['F16', GgmlType.F16, 32], ['Q8_0', GgmlType.Q8_0, 32], ['Q4_0', GgmlType.Q4_0, 32],
  ['Q4_K', GgmlType.Q4_K, 256], ['Q6_K', GgmlType.Q6_K, 256],
];
function weightsOf(type: number, blk: number, rows: number, n: number, seed: number): { bytes: Uint8Array; val: Float64Array } {
  if (blk === 256) {
    const bytes = kRandomWeights(type, rows, n, seed);
    return { bytes, val: kDequantRows(type, bytes, 0, rows, n).val };
  }
  const bytes = randomWeights(type as WType, rows, n, seed);
  return { bytes, val: dequantRows(type as WType, bytes, 0, rows, n) };
}

function suite(library: 'emu' | 'gpu'): void {
  let be: CudaBackend;
  let ref: WasmBackend;
  beforeAll(async () => {
    be = await createCudaBackend({ library, reserveMiB: 256 });
    be.reserve({ maxTokens: 64, maxRowLen: 4096, maxKv: 256 });
    ref = await WasmBackend.create({ threads: 1 });
    ref.core.setScalar(true);
    ref.reserve({ maxTokens: 64, maxRowLen: 4096, maxKv: 256 });
  }, 120_000);
  afterAll(async () => {
    await be?.close();
    await ref?.close();
  });

  const f32In = (b: Backend, data: Float32Array): Tensor => {
    const t = b.buffer(GgmlType.F32, [data.length]);
    b.f32(t).set(data);
    return t;
  };
  const i32In = (b: Backend, data: number[]): Tensor => {
    const t = b.buffer(GgmlType.I32, [data.length]);
    b.i32(t).set(data);
    return t;
  };
  const f32W = (b: Backend, data: Float32Array) => b.weight(GgmlType.F32, [data.length], async (d) => d.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  /** Runs `build` on the CUDA backend and on the WASM reference; returns both outputs. */
  async function both(build: (b: Backend) => Promise<Tensor> | Tensor): Promise<[Float32Array, Float32Array]> {
    const res: Float32Array[] = [];
    for (const b of [be, ref] as Backend[]) {
      const out = await build(b);
      await b.compute();
      res.push(Float32Array.from(b.f32(out)));
    }
    return [res[0], res[1]];
  }

  it('reports what it runs on', () => {
    expect(be.name).toBe('cuda');
    expect(be.emulated).toBe(library === 'emu');
    expect(be.pageView).toBeUndefined();
    expect(typeof be.copyPageBytes).toBe('function');
  });

  describe.each(TYPES)('MATMUL and GET_ROWS %s', (_name, type, blk) => {
    const n = blk === 256 ? 512 : 96;
    const rows = 37;
    it.each([1, 11])('matmul, %i tokens, vs float64 with llama.cpp activation rounding', async (nTok) => {
      const { bytes, val } = weightsOf(type, blk, rows, n, 7 + nTok);
      const w = await be.weight(type, [n, rows], async (d) => d.set(bytes));
      expect(w.byteSize).toBe(blk === 256 ? kRowBytes(type, n) * rows : rowBytes(type as WType, n) * rows);
      const xs = rand(n * nTok, 99);
      const x = f32In(be, xs);
      const out = be.buffer(GgmlType.F32, [rows, nTok]);
      be.matmul(out, w, x, nTok);
      be.compute();
      const got = be.f32(out);
      const xq = blk === 256 ? q8kActivations(xs) : activationsAs(type as WType, xs, n);
      for (let t = 0; t < nTok; t++) for (let r = 0; r < rows; r++) {
        let s = 0, m = 0;
        for (let i = 0; i < n; i++) { s += val[r * n + i] * xq[t * n + i]; m += Math.abs(val[r * n + i] * xq[t * n + i]); }
        expect(Math.abs(got[t * rows + r] - s), `row ${r} token ${t}: got ${got[t * rows + r]} want ${s}`).toBeLessThanOrEqual(1e-6 + 1e-4 * m);
      }
    });
    it('getRows, exact to 2 ulp', async () => {
      const { bytes, val } = weightsOf(type, blk, rows, n, 3);
      const w = await be.weight(type, [n, rows], async (d) => d.set(bytes));
      const idList = [5, 0, 36, 5, 17];
      const out = be.buffer(GgmlType.F32, [n, idList.length]);
      be.getRows(out, w, i32In(be, idList), idList.length);
      be.compute();
      const want = idList.flatMap((id) => Array.from(val.subarray(id * n, id * n + n)));
      expectClose(be.f32(out), want, (i) => 2 ** -23 * Math.abs(want[i]) * 2, 'getRows');
    });
  });

  it('refuses weight types it has no kernel for', () => {
    expect(be.supportsWeightType(GgmlType.Q5_K)).toBe(false);
    expect(be.supportsWeightType(GgmlType.Q4_K)).toBe(true);
  });

  it('RMSNORM (with and without weight), NORM, SOFTMAX vs the WASM core', async () => {
    const n = 200, rowsN = 5;
    const xs = rand(n * rowsN, 11, 3);
    const ws = rand(n, 12);
    const bs = rand(n, 13);
    const rel = (want: Float32Array, r: number, a: number) => (i: number) => a + r * Math.abs(want[i]);
    for (const withW of [true, false]) {
      const [g, w] = await both(async (b) => {
        const out = b.buffer(GgmlType.F32, [n, rowsN]);
        b.rmsNorm(out, f32In(b, xs), withW ? await f32W(b, ws) : null, 1e-5, n, rowsN);
        return out;
      });
      expectClose(g, w, rel(w, 2e-5, 1e-6), `rmsNorm w=${withW}`);
    }
    {
      const [g, w] = await both(async (b) => {
        const out = b.buffer(GgmlType.F32, [n, rowsN]);
        b.layerNorm(out, f32In(b, xs), await f32W(b, ws), await f32W(b, bs), 1e-5, n, rowsN);
        return out;
      });
      expectClose(g, w, rel(w, 2e-5, 1e-6), 'layerNorm');
    }
    {
      const [g, w] = await both((b) => {
        const out = b.buffer(GgmlType.F32, [n, rowsN]);
        b.softmax(out, f32In(b, xs), n, rowsN, 0.7);
        return out;
      });
      expectClose(g, w, rel(w, 2e-5, 1e-6), 'softmax');
    }
  });

  it('SILU, SWIGLU, GELU, GEGLU, SOFTCAP, ADD, MUL, SCALE vs the WASM core', async () => {
    const n = 1000;
    const a = rand(n, 21, 12); // past GELU's ±10 table ends
    const c = rand(n, 22, 2);
    const bias = rand(40, 23);
    const cases: [string, (b: Backend, out: Tensor, x: Tensor, y: Tensor, z: Tensor) => void, number][] = [
      ['silu', (b, o, x) => b.silu(o, x, n), 2e-6],
      ['swiglu', (b, o, x, y) => b.swiglu(o, x, y, n), 2e-6],
      ['gelu', (b, o, x) => b.gelu(o, x, n), 2 ** -10],
      ['geglu', (b, o, x, y) => b.geglu(o, x, y, n), 2 ** -10],
      ['softcap', (b, o, x) => b.softcap(o, x, 5, n), 2e-6],
      ['add', (b, o, x, y) => b.add(o, x, y, n), 0],
      ['add bias', (b, o, x, _y, z) => b.add(o, x, z, n, 40), 0],
      ['mul', (b, o, x, y) => b.mul(o, x, y, n), 0],
      ['mul bias', (b, o, x, _y, z) => b.mul(o, x, z, n, 40), 0],
      ['scale', (b, o, x) => b.scale(o, x, -0.37, n), 0],
    ];
    for (const [what, op, rel] of cases) {
      const [g, w] = await both((b) => {
        const out = b.buffer(GgmlType.F32, [n]);
        op(b, out, f32In(b, a), f32In(b, c), f32In(b, bias));
        return out;
      });
      expectClose(g, w, (i) => (rel ? 1e-6 : 0) + rel * Math.abs(w[i]), what);
    }
  });

  it.each([[0, 'normal'], [2, 'neox']] as const)('ROPE mode %i (%s), partial rotation and freq factors, vs the WASM core', async (mode, _name) => {
    const nTok = 5, nHead = 3, headDim = 64;
    const xs = rand(nTok * nHead * headDim, 31);
    const pos = [0, 1, 7, 42, 199];
    for (const [nRot, ff] of [[64, null], [32, rand(16, 32, 0.5).map((v) => 1 + Math.abs(v))]] as const) {
      const [g, w] = await both(async (b) => {
        const x = f32In(b, xs);
        b.rope(x, i32In(b, pos), nTok, { nHead, headDim, nRot, mode, freqBase: 10000, freqScale: 0.5, freqFactors: ff ? await f32W(b, ff) : null });
        return x;
      });
      expectClose(g, w, () => 2e-5, `rope nRot ${nRot}`);
    }
  });

  describe.each([
    ['F16', GgmlType.F16], ['Q8_0', GgmlType.Q8_0], ['Q4_0', GgmlType.Q4_0], ['F32', GgmlType.F32],
  ] as const)('KV cache %s', (_name, kvType) => {
    const nHead = 4, nHeadKv = 2, headDim = 64, pageSize = 16, nKv = 40, rowLen = nHeadKv * headDim;
    const rowBytesKv = kvType === GgmlType.F32 ? rowLen * 4 : kvType === GgmlType.F16 ? rowLen * 2 : (rowLen / 32) * (kvType === GgmlType.Q8_0 ? 34 : 18);
    const pageBytes = pageSize * rowBytesKv;
    const ks = rand(nKv * rowLen, 41);
    const vs = rand(nKv * rowLen, 42);
    /** Pages in a shuffled order (page table indirection), K and V stored for positions 0..nKv-1. */
    function fill(b: Backend): { kTab: Tensor; vTab: Tensor; kp: number[]; vp: number[] } {
      const np = Math.ceil(nKv / pageSize);
      const kp = b.allocPages(np, pageBytes).reverse();
      const vp = b.allocPages(np, pageBytes);
      const kTab = b.buffer(GgmlType.I32, [np]);
      const vTab = b.buffer(GgmlType.I32, [np]);
      b.u32(kTab).set(kp);
      b.u32(vTab).set(vp);
      const pos = i32In(b, Array.from({ length: nKv }, (_, i) => i));
      b.kvStore(f32In(b, ks), nKv, rowLen, pos, kTab, pageSize, kvType);
      b.kvStore(f32In(b, vs), nKv, rowLen, pos, vTab, pageSize, kvType);
      return { kTab, vTab, kp, vp };
    }
    it('KV_STORE writes the bytes the WASM core writes; copyPageBytes copies on the device', async () => {
      const c = fill(be);
      be.compute();
      const r = fill(ref);
      ref.compute();
      let diff = 0, total = 0;
      for (let p = 0; p < c.kp.length; p++) {
        for (const [cp, rp] of [[c.kp[p], r.kp[p]], [c.vp[p], r.vp[p]]]) {
          be.core.hostRange(cp, pageBytes);
          const got = be.core.u8(cp, pageBytes);
          const want = ref.pageView(rp, pageBytes);
          for (let i = 0; i < pageBytes; i++) if (got[i] !== want[i]) diff++;
          total += pageBytes;
        }
      }
      expect(diff, `${diff} of ${total} bytes differ`).toBeLessThanOrEqual(kvType === GgmlType.F16 || kvType === GgmlType.F32 ? 0 : Math.ceil(total / 500));
      // copy page 0's first 5 rows into a fresh page
      const [fresh] = be.allocPages(1, pageBytes);
      be.copyPageBytes(c.kp[0], fresh, 5 * rowBytesKv);
      be.compute();
      be.core.hostRange(fresh, pageBytes);
      expect(Array.from(be.core.u8(fresh, 5 * rowBytesKv))).toEqual(Array.from(be.core.u8(c.kp[0], 5 * rowBytesKv)));
      expect(be.core.u8(fresh, pageBytes).subarray(5 * rowBytesKv).every((v) => v === 0)).toBe(true);
    });
    it.each([
      ['causal prefill', 0, 0, [0, 1, 2, 3, 4, 5, 6, 7]],
      ['sliding window 5', 5, 0, [3, 9, 20, 39]],
      ['softcap 30', 0, 30, [10, 39]],
    ] as const)('ATTENTION, %s, GQA %i/%i, vs the WASM core', async (_w, window, softcap, qPos) => {
      const nTok = qPos.length;
      const qs = rand(nTok * nHead * headDim, 43, 2);
      const [g, w] = await both((b) => {
        const { kTab, vTab } = fill(b);
        const out = b.buffer(GgmlType.F32, [nTok * nHead * headDim]);
        b.attention(out, f32In(b, qs), i32In(b, [...qPos]), nTok, nKv, { kPages: kTab, vPages: vTab, pageSize, kvType }, { nHead, nHeadKv, headDim, scale: 1 / 8, window, softcap });
        return out;
      });
      expectClose(g, w, () => (kvType === GgmlType.F16 ? 2e-3 : 1e-4), 'attention');
    });
  });

  it('an unsupported op fails with a named error, and the backend keeps working', async () => {
    const t = be.buffer(GgmlType.F32, [4]);
    // IMAGE_RESAMPLE (op 40) has no CUDA kernel
    (be as unknown as { cmds: { push(...a: number[]): void } }).cmds.push(40);
    expect(() => be.compute()).toThrow(/op 40 not supported/);
    be.f32(t).set([1, 2, 3, 4]);
    be.scale(t, t, 3, 4);
    be.compute();
    expect(Array.from(be.f32(t))).toEqual([3, 6, 9, 12]);
  });
}

describe('CUDA kernels, host emulation (CPU; no GPU needed)', () => suite('emu'));
describe.skipIf(!probe.gpu)(`CUDA kernels on the GPU (${probe.gpu ? probe.reason : `no CUDA device: ${probe.reason}`})`, () => suite('gpu'));
