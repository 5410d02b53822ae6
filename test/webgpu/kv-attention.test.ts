/**
 * WebGPU KV_STORE and ATTENTION over pages (the WASM backend's layout, wasm/ABI.md), ROPE, against float64
 * references computed here. K/V caches F32, F16, Q8_0, Q4_0 (mixed K/V types too); page tables point at pages
 * in shuffled order; causal, sliding-window and soft-capped attention; GQA (4 heads over 2 KV heads).
 *
 * Tolerances: KV_STORE bytes equal src/gguf's reference quantizers' (F16: round to nearest even), except Q8_0/Q4_0
 * rounding ties that f32 rounding of x·(1/d) can move by one step (≤ 2 per 1000 values). ATTENTION:
 * |got − ref| ≤ 2e-5 + 2e-5·Σ_j p_j·|v_j| (f32 scores and sums over ≤ 64 keys), F16 caches 1e-3·Σ p·|v| (the f16
 * rounding of each weight p_j, 2⁻¹¹ relative, may go either way from the reference's). ROPE: 2e-5 abs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebGpuBackend, type WebGpuBackend } from '../../src/backend/webgpu/index.ts';
import { RopeMode } from '../../src/backend/backend.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { dequantizeRowQ4_0, dequantizeRowQ8_0, fp16BitsToFp32, fp32ToFp16Bits, quantizeRowQ4_0, quantizeRowQ8_0 } from '../../src/gguf/quant.ts';
import { rng } from '../wasm/quant-ref.ts';

let be: WebGpuBackend;
beforeAll(async () => {
  be = await createWebGpuBackend();
}, 60_000);
afterAll(async () => be?.close());

const half = (x: number) => fp16BitsToFp32(fp32ToFp16Bits(x));
function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => ((next() / 2 ** 32) * 2 - 1) * scale);
}
const ROW_BYTES: Record<number, (n: number) => number> = {
  [GgmlType.F32]: (n) => 4 * n, [GgmlType.F16]: (n) => 2 * n, [GgmlType.Q8_0]: (n) => (n / 32) * 34, [GgmlType.Q4_0]: (n) => (n / 32) * 18,
};
/** The reference bytes and decoded values of one row stored as `type`. */
function storeRef(type: number, x: Float32Array): { bytes: Uint8Array; val: Float32Array } {
  const bytes = new Uint8Array(ROW_BYTES[type](x.length));
  const val = new Float32Array(x.length);
  const dv = new DataView(bytes.buffer);
  if (type === GgmlType.F32) x.forEach((v, i) => (dv.setFloat32(4 * i, v, true), (val[i] = v)));
  else if (type === GgmlType.F16) x.forEach((v, i) => (dv.setUint16(2 * i, fp32ToFp16Bits(v), true), (val[i] = half(v))));
  else if (type === GgmlType.Q8_0) (quantizeRowQ8_0(x, bytes), dequantizeRowQ8_0(bytes, val));
  else (quantizeRowQ4_0(x, bytes), dequantizeRowQ4_0(bytes, val));
  return { bytes, val };
}

describe('KV_STORE and ATTENTION', () => {
  const nHead = 4, nHeadKv = 2, hd = 64, ps = 16, nKv = 40;
  const rowLen = nHeadKv * hd;
  const CASES: { name: string; k: number; v: number; window?: number; softcap?: number }[] = [
    { name: 'F32', k: GgmlType.F32, v: GgmlType.F32 },
    { name: 'F16', k: GgmlType.F16, v: GgmlType.F16 },
    { name: 'Q8_0', k: GgmlType.Q8_0, v: GgmlType.Q8_0 },
    { name: 'Q4_0', k: GgmlType.Q4_0, v: GgmlType.Q4_0 },
    { name: 'K Q8_0, V F16', k: GgmlType.Q8_0, v: GgmlType.F16 },
    { name: 'F32, window 7', k: GgmlType.F32, v: GgmlType.F32, window: 7 },
    { name: 'F16, softcap 3', k: GgmlType.F16, v: GgmlType.F16, softcap: 3 },
  ];
  it.each(CASES)('$name', async ({ k: kType, v: vType, window, softcap }) => {
    const seed = kType * 31 + vType + (window ?? 0) + (softcap ?? 0);
    const ks = rand(nKv * rowLen, seed + 1, 2);
    const vs = rand(nKv * rowLen, seed + 2);
    const kPages = be.allocPages(3, ps * ROW_BYTES[kType](rowLen));
    const vPages = be.allocPages(3, ps * ROW_BYTES[vType](rowLen));
    const order = [2, 0, 1];
    const kTab = be.buffer(GgmlType.I32, [4]);
    const vTab = be.buffer(GgmlType.I32, [4]);
    be.u32(kTab).set(order.map((i) => kPages[i]));
    be.u32(vTab).set(order.map((i) => vPages[i]));
    const kSrc = be.buffer(GgmlType.F32, [rowLen, nKv]);
    const vSrc = be.buffer(GgmlType.F32, [rowLen, nKv]);
    be.f32(kSrc).set(ks);
    be.f32(vSrc).set(vs);
    const pos = be.buffer(GgmlType.I32, [nKv]);
    be.i32(pos).set(Array.from({ length: nKv }, (_, i) => i));
    be.kvStore(kSrc, nKv, rowLen, pos, kTab, ps, kType);
    be.kvStore(vSrc, nKv, rowLen, pos, vTab, ps, vType);

    // stored bytes vs the reference quantizers
    const kRef = Array.from({ length: nKv }, (_, j) => storeRef(kType, ks.subarray(j * rowLen, (j + 1) * rowLen)));
    const vRef = Array.from({ length: nKv }, (_, j) => storeRef(vType, vs.subarray(j * rowLen, (j + 1) * rowLen)));
    const krb = ROW_BYTES[kType](rowLen);
    let diff = 0;
    for (let p = 0; p < 3; p++) {
      const page = await be.readPage(kPages[order[p]], ps * krb);
      for (let j = p * ps; j < Math.min(nKv, (p + 1) * ps); j++) {
        const got = page.subarray((j % ps) * krb, (j % ps + 1) * krb);
        for (let b = 0; b < krb; b++) if (got[b] !== kRef[j].bytes[b]) diff++;
      }
    }
    const exact = kType === GgmlType.F32 || kType === GgmlType.F16;
    expect(diff, 'KV_STORE bytes differing from the reference quantizer').toBeLessThanOrEqual(exact ? 0 : Math.ceil((nKv * rowLen * 2) / 1000));

    // queries: 5 at the end, one early (causal), one at position 0
    const qPosList = [0, 3, 35, 36, 37, 38, 39];
    const nTok = qPosList.length;
    const qs = rand(nTok * nHead * hd, seed + 3);
    const q = be.buffer(GgmlType.F32, [hd * nHead, nTok]);
    be.f32(q).set(qs);
    const qPos = be.buffer(GgmlType.I32, [nTok]);
    be.i32(qPos).set(qPosList);
    const out = be.buffer(GgmlType.F32, [hd * nHead, nTok]);
    const scale = 1 / Math.sqrt(hd);
    be.attention(out, q, qPos, nTok, nKv, { kPages: kTab, vPages: vTab, pageSize: ps, kvType: kType, vType }, { nHead, nHeadKv, headDim: hd, scale, window, softcap });
    const got = await be.read(out);

    const f16 = kType === GgmlType.F16 && vType === GgmlType.F16;
    for (let t = 0; t < nTok; t++) for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / (nHead / nHeadKv));
      const qv = Array.from(qs.subarray((t * nHead + h) * hd, (t * nHead + h + 1) * hd), (x) => (f16 ? half(x) : x));
      const js: number[] = [];
      for (let j = 0; j <= qPosList[t] && j < nKv; j++) if (!window || j > qPosList[t] - window) js.push(j);
      const s = js.map((j) => {
        let d = 0;
        for (let i = 0; i < hd; i++) d += qv[i] * kRef[j].val[g * hd + i];
        return softcap ? softcap * Math.tanh((scale * d) / softcap) : scale * d;
      });
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < hd; i++) {
        let want = 0, mag = 0;
        js.forEach((j, n) => {
          const p = e[n] / sum;
          want += p * vRef[j].val[g * hd + i];
          mag += p * Math.abs(vRef[j].val[g * hd + i]);
        });
        const tol = 2e-5 + (f16 ? 1e-3 : 2e-5) * mag;
        const at = (t * nHead + h) * hd + i;
        if (!(Math.abs(got[at] - want) <= tol)) expect.fail(`token ${t} head ${h} dim ${i}: got ${got[at]} want ${want}`);
      }
    }
  });
});

describe('ROPE', () => {
  it.each([['NORMAL', RopeMode.NORMAL], ['NEOX', RopeMode.NEOX]] as const)('%s, n_rot < head_dim, freq factors', async (_n, mode) => {
    const nTok = 3, nH = 2, hd = 32, nRot = 24, base = 10000, fscale = 0.5;
    const posList = [0, 7, 150];
    const xs = rand(nTok * nH * hd, 5 + mode);
    const ffv = Float32Array.from({ length: nRot / 2 }, (_, i) => 1 + i / 8);
    const x = be.buffer(GgmlType.F32, [hd * nH, nTok]);
    be.f32(x).set(xs);
    const pos = be.buffer(GgmlType.I32, [nTok]);
    be.i32(pos).set(posList);
    const ff = await be.weight(GgmlType.F32, [nRot / 2], async (d) => d.set(new Uint8Array(ffv.buffer)));
    be.rope(x, pos, nTok, { nHead: nH, headDim: hd, nRot, mode, freqBase: base, freqScale: fscale, freqFactors: ff });
    const got = await be.read(x);
    const want = Float64Array.from(xs);
    for (let t = 0; t < nTok; t++) for (let h = 0; h < nH; h++) for (let i = 0; i < nRot / 2; i++) {
      const ang = (fscale * posList[t] * base ** ((-2 * i) / nRot)) / ffv[i];
      const o = (t * nH + h) * hd;
      const [a, b] = mode === RopeMode.NEOX ? [o + i, o + i + nRot / 2] : [o + 2 * i, o + 2 * i + 1];
      want[a] = xs[a] * Math.cos(ang) - xs[b] * Math.sin(ang);
      want[b] = xs[a] * Math.sin(ang) + xs[b] * Math.cos(ang);
    }
    for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= 2e-5)) expect.fail(`element ${i}: got ${got[i]} want ${want[i]}`);
  });
});

describe('copyPageBytes', () => {
  it('copies the first rows of a page into another page of the same pool, in order with the ops', async () => {
    const rowLen = 64, ps = 16, n = 5;
    const pages = be.allocPages(2, ps * rowLen * 2);
    const tab = be.buffer(GgmlType.I32, [1]);
    be.u32(tab).set([pages[0]]);
    const xs = rand(n * rowLen, 77);
    const src = be.buffer(GgmlType.F32, [rowLen, n]);
    be.f32(src).set(xs);
    const pos = be.buffer(GgmlType.I32, [n]);
    be.i32(pos).set([0, 1, 2, 3, 4]);
    be.kvStore(src, n, rowLen, pos, tab, ps, GgmlType.F16);
    be.copyPageBytes(pages[0], pages[1], 3 * rowLen * 2); // recorded after the store: sees its rows
    const got = await be.readPage(pages[1], 4 * rowLen * 2);
    const want = new Uint8Array(4 * rowLen * 2);
    const dv = new DataView(want.buffer);
    for (let i = 0; i < 3 * rowLen; i++) dv.setUint16(2 * i, fp32ToFp16Bits(xs[i]), true);
    expect(Array.from(got)).toEqual(Array.from(want)); // row 3 of the new page untouched (zeros)
  });
});
