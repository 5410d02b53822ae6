/**
 * Quantized KV pages in the WASM core (both module variants): KV_STORE of Q8_0/Q4_0 rows and
 * ATTENTION reading them in place, K and V of the same or different types.
 * - KV_STORE: bytes equal to ggml's reference quantizers (quantize_row_q8_0_ref /
 *   quantize_row_q4_0_ref) re-written here in f32 arithmetic (Math.fround), byte for byte.
 * - ATTENTION: SIMD kernel and scalar twin against a float64 reference over the values decoded
 *   from the stored bytes (test/wasm/quant-ref.ts dequantRows, written from the block formats).
 *   Outputs are convex combinations of V values of magnitude ≤ 1, so f32 dot products and exp give
 *   ~1e-6 absolute error: tolerance 3e-6, as for f16 pages (test/wasm/attention.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { CoreType } from '../../src/backend/wasm/abi.ts';
import type { TestCore } from '../helpers/core.ts';
import { availableVariants, f32bits, loadCore, Op, poolFor, randomF32, readF32, runOp, writeF32, writeI32 } from '../helpers/core.ts';
import { dequantRows, f16Bits, rowBytes, type WType } from '../wasm/quant-ref.ts';

const fr = Math.fround;

/** ggml quantize_row_q8_0_ref, one row (n % 32 == 0). */
function refQ8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    dv.setUint16(b * 34, f16Bits(d), true);
    for (let j = 0; j < 32; j++) {
      const v = fr(x[b * 32 + j] * id);
      const r = Math.sign(v) * Math.floor(Math.abs(v) + 0.5); // roundf: half away from zero
      dv.setInt8(b * 34 + 2 + j, r);
    }
  }
  return out;
}

/** ggml quantize_row_q4_0_ref, one row. */
function refQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    dv.setUint16(b * 18, f16Bits(d), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + 16 + j] * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

interface Pages {
  table: number; // u32 [nPages] page addresses
  addrs: number[];
}

/** Pages of `ps` rows, scattered in reverse order with gaps. */
function pages(core: TestCore, nPages: number, pageBytes: number): Pages {
  const slot = pageBytes + 48;
  const base = core.alloc((2 * nPages + 1) * slot + 64, 64);
  const addrs = Array.from({ length: nPages }, (_, i) => base + ((nPages - 1 - i) * 2 + (i % 2)) * slot + 16);
  const table = core.alloc(nPages * 4);
  core.u32(table, nPages).set(addrs);
  return { table, addrs };
}

function storedRows(core: TestCore, t: WType, p: Pages, ps: number, nKv: number, rowLen: number): Float64Array {
  const rb = rowBytes(t, rowLen);
  const out = new Float64Array(nKv * rowLen);
  for (let j = 0; j < nKv; j++) {
    const addr = p.addrs[Math.floor(j / ps)] + (j % ps) * rb;
    out.set(dequantRows(t, new Uint8Array(core.memory.buffer, addr, rb).slice(), 0, 1, rowLen), j * rowLen);
  }
  return out;
}

const NAMES: Record<number, string> = { [CoreType.F16]: 'F16', [CoreType.Q8_0]: 'Q8_0', [CoreType.Q4_0]: 'Q4_0', [CoreType.F32]: 'F32' };

for (const variant of availableVariants()) {
  describe(`quantized KV pages (${variant})`, async () => {
    const core = await loadCore(variant);
    await poolFor(core, 2);
    await runOp(core, Op.SCALE, [0, 0, 0, f32bits(1)], { threads: 2 });

    for (const t of [CoreType.Q8_0, CoreType.Q4_0] as WType[]) {
      it(`KV_STORE ${NAMES[t]} rows are ggml's reference blocks, byte for byte`, async () => {
        const mark = core.mark();
        const rowLen = 128;
        const nKv = 37;
        const ps = 16;
        const p = pages(core, Math.ceil(nKv / ps), ps * rowBytes(t, rowLen));
        const src = randomF32(nKv * rowLen, 7, -3, 3);
        src.fill(0, 32, 64); // an all-zero block
        src[100] = 3; // ties at the top
        src[101] = -3;
        const pos = writeI32(core, Int32Array.from({ length: nKv }, (_, i) => i));
        await runOp(core, Op.KV_STORE, [writeF32(core, src), nKv, rowLen, pos, p.table, ps, t], { threads: 2 });
        const rb = rowBytes(t, rowLen);
        for (let j = 0; j < nKv; j++) {
          const row = src.subarray(j * rowLen, (j + 1) * rowLen);
          const want = t === CoreType.Q8_0 ? refQ8_0(row) : refQ4_0(row);
          const got = new Uint8Array(core.memory.buffer, p.addrs[Math.floor(j / ps)] + (j % ps) * rb, rb);
          expect(Array.from(got), `row ${j}`).toEqual(Array.from(want));
        }
        core.release(mark);
      });
    }

    const PAIRS: [WType, WType][] = [
      [CoreType.Q8_0, CoreType.Q8_0],
      [CoreType.Q4_0, CoreType.Q4_0],
      [CoreType.Q8_0, CoreType.F16],
      [CoreType.F16, CoreType.Q4_0],
    ] as [WType, WType][];
    for (const [kt, vt] of PAIRS) {
      it(`ATTENTION over K ${NAMES[kt]} / V ${NAMES[vt]} pages against float64`, async () => {
        let n = 0;
        for (const [nHead, nHeadKv, hd, ps, nTok, nKv] of [
          [8, 2, 64, 16, 1, 100],
          [4, 4, 32, 32, 5, 70],
          [6, 2, 128, 64, 3, 130],
        ]) {
          n++;
          const mark = core.mark();
          const rowLen = nHeadKv * hd;
          const nPages = Math.ceil(nKv / ps);
          const kp = pages(core, nPages, ps * rowBytes(kt, rowLen));
          const vp = pages(core, nPages, ps * rowBytes(vt, rowLen));
          const pos = writeI32(core, Int32Array.from({ length: nKv }, (_, i) => i));
          await runOp(core, Op.KV_STORE, [writeF32(core, randomF32(nKv * rowLen, 10 * n)), nKv, rowLen, pos, kp.table, ps, kt], { threads: 1 });
          await runOp(core, Op.KV_STORE, [writeF32(core, randomF32(nKv * rowLen, 10 * n + 1)), nKv, rowLen, pos, vp.table, ps, vt], { threads: 1 });
          const K = storedRows(core, kt, kp, ps, nKv, rowLen);
          const Vv = storedRows(core, vt, vp, ps, nKv, rowLen);
          const q = randomF32(nTok * nHead * hd, 10 * n + 2, -4, 4);
          const qPos = Int32Array.from({ length: nTok }, (_, t) => nKv - nTok + t);
          const scale = 1 / Math.sqrt(hd);
          // float64 reference
          const want = new Float64Array(q.length);
          const gq = nHead / nHeadKv;
          for (let t = 0; t < nTok; t++) {
            for (let h = 0; h < nHead; h++) {
              const ko = Math.floor(h / gq) * hd;
              const qo = (t * nHead + h) * hd;
              const s = Array.from({ length: qPos[t] + 1 }, (_, j) => {
                let d = 0;
                for (let i = 0; i < hd; i++) d += q[qo + i] * K[j * rowLen + ko + i];
                return d * scale;
              });
              const mx = Math.max(...s);
              const sum = s.reduce((a, x) => a + Math.exp(x - mx), 0);
              for (let j = 0; j < s.length; j++) {
                const w = Math.exp(s[j] - mx) / sum;
                for (let i = 0; i < hd; i++) want[qo + i] += w * Vv[j * rowLen + ko + i];
              }
            }
          }
          const vField = vt === kt ? 0 : vt + 1;
          const layout = (ps | (vField << 12) | (kt << 20)) >>> 0;
          const qp = writeF32(core, q);
          const qPosP = writeI32(core, qPos);
          const scratch = core.alloc(2 * nKv * 4, 64);
          for (const scalar of [false, true]) {
            for (const threads of [1, 2]) {
              const out = core.alloc(q.length * 4, 64);
              await runOp(core, Op.ATTENTION, [qp, out, nTok, qPosP, nKv, nHead, nHeadKv, hd, kp.table, vp.table, layout, 0, f32bits(scale), scratch, 0], { threads, scalar });
              const got = readF32(core, out, q.length);
              let worst = 0;
              for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
              expect(worst, `case ${n} scalar ${scalar} threads ${threads}`).toBeLessThan(3e-6);
            }
          }
          core.release(mark);
        }
      });
    }
  });
}
