/**
 * WebGPU backend conformance, op by op through the Backend interface, against float64 references computed here
 * (test/wasm/quant-ref.ts and quant-k-ref.ts decode the weight blocks independently of the WGSL). Runs on Node's
 * Dawn in OpenGL mode (Mesa llvmpipe here and in CI), f16-less shaders; the same file runs under Deno through
 * test/webgpu/deno.test.ts (navigator.gpu, lavapipe, shader-f16).
 *
 * Tolerances (|got − ref| ≤ abs + rel·scale):
 * - MATMUL: f32 dot of dequantized weights and f32 activations: 2e-6·Σ|w·x| + 1e-6 (n ≤ 512 terms; the only
 *   rounding is the f32 products and sums). With the activations rounded as llama.cpp's CPU matmul (the default:
 *   Q8_0 blocks, Q8_K blocks, f16, bf16; quant-ref.ts/quant-k-ref.ts restate ggml's quantizers): 1e-4·Σ|w·x|.
 * - GET_ROWS: exact (the dequantized value is one f32 product, or two operations with a min: 1 ulp).
 * - RMSNORM/NORM/SOFTMAX: 2e-5 rel + 1e-6; SILU/SWIGLU/SOFTCAP: 2e-6 rel + 1e-6 (driver exp/tanh);
 *   GELU/GEGLU: within one f16 ulp of ggml's f16-table value (2⁻²² abs near 0: f16 subnormal steps); ADD/MUL/SCALE: exact.
 * - ROPE: 2e-5 abs (f32 angle for positions < 200, |x| < 1).
 * - KV_STORE: F32 exact, F16 exact (round to nearest even), Q8_0/Q4_0 the bytes of src/gguf's
 *   quantizeRowQ8_0/Q4_0 (ggml's reference quantizers) but for rare one-step rounding ties (≤ 1 in 1000 bytes).
 * - ATTENTION: 2e-5 abs + 2e-5·Σ|p·v| against f64 attention over the stored (decoded) K/V, with q and the
 *   softmax weights rounded to f16 for F16 caches as llama.cpp does (the weights' f16 rounding can flip by
 *   one f16 ulp, 2⁻¹¹ relative, so F16 uses 1e-3·Σ|p·v|).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import { createWebGpuBackend, probeWebGpu, type WebGpuBackend } from '../../src/backend/webgpu/index.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { fp16BitsToFp32, fp32ToFp16Bits, quantizeRowQ4_0, quantizeRowQ8_0, dequantizeRowQ4_0, dequantizeRowQ8_0 } from '../../src/gguf/quant.ts';
import { activationsAs, dequantRows, randomWeights, rng, rowBytes, type WType } from '../wasm/quant-ref.ts';
import { kDequantRows, kRandomWeights, kRowBytes, q8kActivations } from '../wasm/quant-k-ref.ts';

let be: WebGpuBackend;
let wgBackend: WebGpuBackend; // the same device, the other MATMUL kernel
let ggmlBackend: WebGpuBackend; // the same device, activations rounded as llama.cpp's CPU matmul (the default)
const half = (x: number) => fp16BitsToFp32(fp32ToFp16Bits(x));

function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => ((next() / 2 ** 32) * 2 - 1) * scale);
}
function f32Buf(data: Float32Array, dims = [data.length]): Tensor {
  const t = be.buffer(GgmlType.F32, dims);
  be.f32(t).set(data);
  return t;
}
function i32Buf(data: number[]): Tensor {
  const t = be.buffer(GgmlType.I32, [data.length]);
  be.i32(t).set(data);
  return t;
}
async function f32Weight(data: Float32Array): Promise<Tensor> {
  return be.weight(GgmlType.F32, [data.length], async (d) => d.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
}
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  let bad = -1;
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= tol(i))) { bad = i; break; }
  expect(bad, `${what}: element ${bad} got ${got[bad]} want ${want[bad]}`).toBe(-1);
}

beforeAll(async () => {
  const probe = await probeWebGpu({ timeoutMs: 20_000 });
  expect(probe.available, `no WebGPU adapter: ${probe.reason}`).toBe(true);
  be = await createWebGpuBackend({ llamaCppActivations: false });
  wgBackend = await createWebGpuBackend({ context: be.ctx, llamaCppActivations: false, matmul: be.threadMatmul ? 'workgroup' : 'thread' });
  ggmlBackend = await createWebGpuBackend({ context: be.ctx });
}, 60_000);
afterAll(async () => {
  await wgBackend?.close();
  await ggmlBackend?.close();
  await be?.close();
});

describe('probeWebGpu', () => {
  it('reports the adapter, its limits and features, and never throws', async () => {
    const p = await probeWebGpu();
    expect(p.available).toBe(true);
    expect(p.limits!.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    expect(typeof p.features!.shaderF16).toBe('boolean');
    const t = await probeWebGpu({ timeoutMs: 0 });
    expect(typeof t.available).toBe('boolean');
  });
});

const TYPES: [string, number, 32 | 256][] = [
  ['F32', GgmlType.F32, 32], ['F16', GgmlType.F16, 32], ['BF16', GgmlType.BF16, 32], ['Q8_0', GgmlType.Q8_0, 32],
  ['Q4_0', GgmlType.Q4_0, 32], ['Q4_1', GgmlType.Q4_1, 32], ['Q5_0', GgmlType.Q5_0, 32], ['Q5_1', GgmlType.Q5_1, 32],
  ['Q4_K', GgmlType.Q4_K, 256], ['Q5_K', GgmlType.Q5_K, 256], ['Q6_K', GgmlType.Q6_K, 256],
];

function weightsOf(type: number, blk: number, rows: number, n: number, seed: number): { bytes: Uint8Array; val: Float64Array } {
  if (blk === 256) {
    const bytes = kRandomWeights(type, rows, n, seed);
    return { bytes, val: kDequantRows(type, bytes, 0, rows, n).val };
  }
  const bytes = randomWeights(type as WType, rows, n, seed);
  return { bytes, val: dequantRows(type as WType, bytes, 0, rows, n) };
}

describe('MATMUL and GET_ROWS vs float64 dequantization', () => {
  describe.each(TYPES)('%s', (_name, type, blk) => {
    const n = blk === 256 ? 512 : 96;
    const rows = 37;
    it.each([
      [1, 'default'], [11, 'default'], [11, 'other'],
    ] as const)('matmul, %i tokens, %s kernel', async (nTok, kernel) => {
      const mm = kernel === 'other' ? wgBackend : be;
      const { bytes, val } = weightsOf(type, blk, rows, n, 7 + nTok);
      const w = await mm.weight(type, [n, rows], async (d) => d.set(bytes));
      expect(w.byteSize).toBe(blk === 256 ? kRowBytes(type, n) * rows : rowBytes(type as WType, n) * rows);
      const xs = rand(n * nTok, 99);
      const x = mm.buffer(GgmlType.F32, [n, nTok]);
      mm.f32(x).set(xs);
      const out = mm.buffer(GgmlType.F32, [rows, nTok]);
      mm.matmul(out, w, x, nTok);
      const got = await mm.read(out);
      const want = new Float64Array(rows * nTok);
      const mag = new Float64Array(rows * nTok);
      for (let t = 0; t < nTok; t++) for (let r = 0; r < rows; r++) {
        let s = 0, m = 0;
        for (let i = 0; i < n; i++) { s += val[r * n + i] * xs[t * n + i]; m += Math.abs(val[r * n + i] * xs[t * n + i]); }
        want[t * rows + r] = s;
        mag[t * rows + r] = m;
      }
      expectClose(got, want, (i) => 1e-6 + 2e-6 * mag[i], 'matmul');
    });
    it('matmul with activations rounded as llama.cpp (default backend)', async () => {
      const nTok = 3;
      const { bytes, val } = weightsOf(type, blk, rows, n, 21);
      const w = await ggmlBackend.weight(type, [n, rows], async (d) => d.set(bytes));
      const xs = rand(n * nTok, 98);
      const x = ggmlBackend.buffer(GgmlType.F32, [n, nTok]);
      ggmlBackend.f32(x).set(xs);
      const out = ggmlBackend.buffer(GgmlType.F32, [rows, nTok]);
      ggmlBackend.matmul(out, w, x, nTok);
      const got = await ggmlBackend.read(out);
      const xq = blk === 256 ? q8kActivations(xs) : activationsAs(type as WType, xs, n);
      for (let t = 0; t < nTok; t++) for (let r = 0; r < rows; r++) {
        let s = 0, m = 0;
        for (let i = 0; i < n; i++) { s += val[r * n + i] * xq[t * n + i]; m += Math.abs(val[r * n + i] * xq[t * n + i]); }
        // 1e-4·Σ|w·x|: room for a rare quantization step flipped by the GPU's 2.5-ulp division (one step ≈ 1/127 of one term)
        expect(Math.abs(got[t * rows + r] - s), `row ${r} token ${t}`).toBeLessThanOrEqual(1e-6 + 1e-4 * m);
      }
    });
    it('getRows', async () => {
      const { bytes, val } = weightsOf(type, blk, rows, n, 3);
      const w = await be.weight(type, [n, rows], async (d) => d.set(bytes));
      const idList = [5, 0, 36, 5, 17];
      const ids = i32Buf(idList);
      const out = be.buffer(GgmlType.F32, [n, idList.length]);
      be.getRows(out, w, ids, idList.length);
      const got = await be.read(out);
      const want = idList.flatMap((id) => Array.from(val.subarray(id * n, id * n + n)));
      expectClose(got, want, (i) => 2 ** -23 * Math.abs(want[i]) * 2, 'getRows');
    });
  });

  it('matmul over a weight split into slices (rows() views and a small binding limit)', async () => {
    const n = 64, rows = 40;
    const { bytes, val } = weightsOf(GgmlType.Q8_0, 32, rows, n, 5);
    const small = await createWebGpuBackend({ context: be.ctx, llamaCppActivations: false, weightSliceBytes: 8 * rowBytes(GgmlType.Q8_0 as WType, n) }); // 8 rows per slice
    const w = await small.weight(GgmlType.Q8_0, [n, rows], async (d) => d.set(bytes));
    const view = small.rows(w, 6, 20); // rows 6..26 cross three slices
    const xs = rand(n * 3, 4);
    const x = small.buffer(GgmlType.F32, [n, 3]);
    small.f32(x).set(xs);
    const out = small.buffer(GgmlType.F32, [20, 3]);
    small.matmul(out, view, x, 3);
    const got = await small.read(out);
    for (let t = 0; t < 3; t++) for (let r = 0; r < 20; r++) {
      let s = 0, m = 0;
      for (let i = 0; i < n; i++) { s += val[(r + 6) * n + i] * xs[t * n + i]; m += Math.abs(val[(r + 6) * n + i] * xs[t * n + i]); }
      expect(Math.abs(got[t * 20 + r] - s)).toBeLessThanOrEqual(1e-6 + 2e-6 * m);
    }
  });
});

describe('row ops and elementwise ops vs float64', () => {
  const SIZES = [1, 17, 4097];
  it.each(SIZES)('rmsNorm, layerNorm, softmax over rows of %i', async (n) => {
    const rowsN = 3;
    const xs = rand(n * rowsN, n, 3);
    const ws = rand(n, n + 1);
    const bs = rand(n, n + 2);
    const x = f32Buf(xs);
    const w = await f32Weight(ws);
    const b = await f32Weight(bs);
    const o1 = be.buffer(GgmlType.F32, [n * rowsN]);
    const o2 = be.buffer(GgmlType.F32, [n * rowsN]);
    const o3 = be.buffer(GgmlType.F32, [n * rowsN]);
    be.rmsNorm(o1, x, w, 1e-5, n, rowsN);
    be.layerNorm(o2, x, w, b, 1e-5, n, rowsN);
    be.softmax(o3, x, n, rowsN, 0.7);
    const [g1, g2, g3] = [await be.read(o1), await be.read(o2), await be.read(o3)];
    const r1 = new Float64Array(n * rowsN), r2 = new Float64Array(n * rowsN), r3 = new Float64Array(n * rowsN);
    for (let r = 0; r < rowsN; r++) {
      const row = Array.from(xs.subarray(r * n, r * n + n));
      const ms = row.reduce((a, v) => a + v * v, 0) / n;
      const mean = row.reduce((a, v) => a + v, 0) / n;
      const vr = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
      const mx = Math.max(...row.map((v) => 0.7 * v));
      const sum = row.reduce((a, v) => a + Math.exp(0.7 * v - mx), 0);
      row.forEach((v, i) => {
        r1[r * n + i] = (v / Math.sqrt(ms + 1e-5)) * ws[i];
        r2[r * n + i] = ((v - mean) / Math.sqrt(vr + 1e-5)) * ws[i] + bs[i];
        r3[r * n + i] = Math.exp(0.7 * v - mx) / sum;
      });
    }
    expectClose(g1, r1, (i) => 1e-6 + 2e-5 * Math.abs(r1[i]), 'rmsNorm');
    expectClose(g2, r2, (i) => 1e-6 + 2e-5 * Math.abs(r2[i]), 'layerNorm');
    expectClose(g3, r3, (i) => 1e-7 + 2e-5 * r3[i], 'softmax');
  });

  it.each(SIZES)('silu, swiglu, gelu, geglu, softcap, add, mul, scale over %i values', async (n) => {
    const as = rand(n, 11 * n, 12);
    const bsv = rand(n, 13 * n, 2);
    const a = f32Buf(as);
    const b = f32Buf(bsv);
    const outs = Array.from({ length: 9 }, () => be.buffer(GgmlType.F32, [n]));
    const bias = await f32Weight(rand(5, 3));
    be.silu(outs[0], a, n);
    be.swiglu(outs[1], a, b, n);
    be.gelu(outs[2], a, n);
    be.geglu(outs[3], a, b, n);
    be.softcap(outs[4], a, 5, n);
    be.add(outs[5], a, b, n);
    be.mul(outs[6], a, b, n);
    be.scale(outs[7], a, 0.37, n);
    be.add(outs[8], a, bias, n, n % 5 === 0 ? 5 : 1);
    const got: Float32Array[] = [];
    for (const o of outs) got.push(await be.read(o));
    const silu = (x: number) => x / (1 + Math.exp(-x));
    const geluG = (x: number) => {
      if (x <= -10) return 0;
      if (x >= 10) return x;
      const h = half(x);
      return half(0.5 * h * (1 + Math.tanh(0.7978845608028654 * h * (1 + 0.044715 * h * h))));
    };
    const F = Math.fround;
    const refs: [string, (i: number) => number, (w: number) => number][] = [
      ['silu', (i) => silu(as[i]), (w) => 1e-6 + 2e-6 * Math.abs(w)],
      ['swiglu', (i) => silu(as[i]) * bsv[i], (w) => 1e-6 + 2e-6 * Math.abs(w)],
      ['gelu', (i) => geluG(as[i]), (w) => Math.abs(w) * 2 ** -10 + 2 ** -22], // one f16 ulp, or a few subnormal steps
      ['geglu', (i) => geluG(as[i]) * bsv[i], (w) => Math.abs(w) * 2 ** -10 + 1e-6],
      ['softcap', (i) => 5 * Math.tanh(as[i] / 5), (w) => 1e-6 + 2e-6 * Math.abs(w)],
      ['add', (i) => F(as[i] + bsv[i]), () => 0],
      ['mul', (i) => F(as[i] * bsv[i]), () => 0],
      ['scale', (i) => F(F(0.37) * as[i]), () => 0],
    ];
    refs.forEach(([name, ref, tol], k) => {
      const want = Array.from({ length: n }, (_, i) => ref(i));
      expectClose(got[k], want, (i) => tol(want[i]), name);
    });
  });
});
