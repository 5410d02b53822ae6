/**
 * IQ4_XS: 256 values in 136 bytes (ggml-common.h block_iq4_xs):
 *   d (fp16) | scales_h (u16: 2 high bits per sub-block) | scales_l[4] (4 low bits per sub-block) | qs[128].
 * Sub-block ib (32 values, ib = 0..7): 6-bit scale ls = (scales_l[ib/2] >> 4·(ib%2) & 15) | (scales_h >> 2·ib & 3) << 4;
 * byte qs[16·ib + j] holds element 32·ib + j (low nibble) and 32·ib + 16 + j (high nibble);
 * value = d·(ls − 32)·IQ4NL_VALUES[nibble].
 *
 * Quantizer: ggml-quants.c `quantize_iq4_xs` without an importance matrix (weights x²; what llama-quantize runs
 * for IQ4_XS without --imatrix), i.e. quantize_row_iq4_nl_impl(256, 32, …, ntry = 7): per 32 the IQ4_NL scale
 * search (iq4_nl.ts), then the 8 scales as 6-bit multiples of d = −max_scale/32 and every code recomputed from its
 * quantized scale. Bit-exact (f32 steps rounded with Math.fround in C's order).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { IQ4NL_VALUES, bestIndex, sums } from './iq4_nl.ts';
import { GROUP_MAX_EPS, QK_K, nearestInt, signedAbsMax } from './k-common.ts';

export const IQ4_XS_BYTES = 136;

const f = Math.fround;
const NTRY = 7;

/** quantize_iq4_xs (no importance matrix): `src` (n floats, n % 256 == 0) → `dst` (n/256 × 136 bytes). */
export function quantizeRowIQ4_XS(src: Float32Array, dst: Uint8Array): void {
  const w = new Float32Array(32);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(8);
  const v0 = IQ4NL_VALUES[0];
  for (let i = 0; i < src.length / QK_K; i++) {
    const x0 = i * QK_K;
    const y = i * IQ4_XS_BYTES;
    let maxScale = 0;
    let amaxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const x = x0 + 32 * ib;
      for (let j = 0; j < 32; j++) w[j] = f(src[x + j] * src[x + j]);
      const max = signedAbsMax(src, x, 32);
      if (Math.abs(max) < GROUP_MAX_EPS) {
        scales[ib] = 0;
        continue;
      }
      let d = f(-max / v0);
      let [sumqx, sumq2] = sums(src, x, w, f(1 / d), null);
      d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
      let best = f(d * sumqx);
      for (let itry = -NTRY; itry <= NTRY; itry++) {
        [sumqx, sumq2] = sums(src, x, w, f((itry + v0) / max), null);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          d = f(sumqx / sumq2);
          best = f(d * sumqx);
        }
      }
      scales[ib] = d;
      if (Math.abs(d) > amaxScale) {
        amaxScale = Math.abs(d);
        maxScale = d;
      }
    }
    const d = f(-maxScale / 32);
    const h = fp32ToFp16Bits(d);
    dst[y] = h & 0xff;
    dst[y + 1] = h >> 8;
    const id = d ? f(1 / d) : 0;
    let scalesH = 0;
    dst.fill(0, y + 4, y + 8);
    for (let ib = 0; ib < 8; ib++) {
      let l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[ib]))));
      const dl = f(d * l);
      const idl = dl ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndex(f(idl * src[x0 + 32 * ib + j]));
      l += 32;
      dst[y + 4 + (ib >> 1)] |= (l & 0xf) << (4 * (ib % 2));
      scalesH |= (l >> 4) << (2 * ib);
    }
    dst[y + 2] = scalesH & 0xff;
    dst[y + 3] = scalesH >> 8;
    for (let ib = 0; ib < 8; ib++) {
      for (let j = 0; j < 16; j++) dst[y + 8 + 16 * ib + j] = L[32 * ib + j] | (L[32 * ib + 16 + j] << 4);
    }
  }
}

/** dequantize_row_iq4_xs: `src` (n/256 × 136 bytes) → `dst` (n floats). */
export function dequantizeRowIQ4_XS(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * IQ4_XS_BYTES;
    const d = fp16BitsToFp32(src[y] | (src[y + 1] << 8));
    const scalesH = src[y + 2] | (src[y + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((src[y + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = f(d * (ls - 32));
      for (let j = 0; j < 16; j++) {
        const q = src[y + 8 + 16 * ib + j];
        dst[i * QK_K + 32 * ib + j] = f(dl * IQ4NL_VALUES[q & 0xf]);
        dst[i * QK_K + 32 * ib + 16 + j] = f(dl * IQ4NL_VALUES[q >> 4]);
      }
    }
  }
}
