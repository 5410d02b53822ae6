/**
 * Q3_K: 256 values in 110 bytes (ggml-common.h block_q3_K):
 *   hmask[32] (high bit) | qs[64] (low 2 bits) | scales[12] (16 six-bit scales) | d (fp16).
 * Element e (0..255): low bits `qs[32·(e/128) + e%32] >> 2·((e%128)/32) & 3`, high bit `hmask[e%32] >> (e/32) & 1`;
 * level q = low | high << 2 in 0..7. Sub-block s = e/16 has the 6-bit scale
 *   sc[s] = (s < 8 ? scales[s] & 15 : scales[s−8] >> 4) | ((scales[8 + s%4] >> 2·(s/4)) & 3) << 4,
 * value = d·(sc[s] − 32)·(q − 4).
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';
import { GROUP_MAX_EPS, QK_K, nearestInt, signedAbsMax } from './k-common.ts';

export const Q3_K_BYTES = 110;

const f = Math.fround;

/**
 * make_q3_quants(n, nmax, x, L, do_rmse = true): signed levels −nmax..nmax−1 (stored in `L` biased by +nmax) and
 * the scale; weights x², the least-squares scale then up to 5 passes of per-element level changes.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xAt: number, L: Int8Array, lAt: number): number {
  const max = signedAbsMax(x, xAt, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lAt, lAt + n);
    return 0;
  }
  const clamp = (l: number): number => Math.max(-nmax, Math.min(nmax - 1, l));
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xAt + i];
    const l = clamp(nearestInt(f(iscale * xi)));
    L[lAt + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xAt + i];
      const w = f(xi * xi);
      const li = L[lAt + i];
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        const newL = clamp(nearestInt(f(f(xi * sl2) / slx)));
        if (newL !== li) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lAt + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  for (let i = 0; i < n; i++) L[lAt + i] += nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** The 6-bit scale (0..63, stored biased by 32) of sub-block s (0..15) from the 12 bytes at `q[at..]`. */
export function scaleQ3K(s: number, q: Uint8Array, at: number): number {
  const lo = s < 8 ? q[at + s] & 0xf : q[at + s - 8] >> 4;
  return lo | (((q[at + 8 + (s % 4)] >> (2 * (s >> 2))) & 3) << 4);
}

/**
 * Packs the 2-bit low parts of 256 levels (0..3 each) as ggml's Q2_K/Q3_K `qs[64]` at `dst[at..]`: byte
 * `32h + l` holds elements 128h + l, +32, +64, +96 in bits 0-1, 2-3, 4-5, 6-7.
 */
export function pack2Bits(L: ArrayLike<number>, dst: Uint8Array, at: number): void {
  for (let h = 0; h < 2; h++) {
    const e = 128 * h;
    for (let l = 0; l < 32; l++) {
      dst[at + 32 * h + l] = L[e + l] | (L[e + l + 32] << 2) | (L[e + l + 64] << 4) | (L[e + l + 96] << 6);
    }
  }
}

/** quantize_row_q3_K_ref: `src` (n floats, n % 256 == 0) → `dst` (n/256 × 110 bytes). */
export function quantizeRowQ3_K(src: Float32Array, dst: Uint8Array): void {
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < src.length / QK_K; i++) {
    const x = i * QK_K;
    const y = i * Q3_K_BYTES;
    for (let j = 0; j < 16; j++) scales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
    const maxScale = signedAbsMax(scales, 0, 16);
    dst.fill(0, y, y + Q3_K_BYTES);
    const sc = y + 96;
    let dBits = 0;
    if (maxScale) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(f(iscale * scales[j])) << 24) >> 24; // int8_t l = nearest_int(...)
        l = Math.max(-32, Math.min(31, l)) + 32;
        if (j < 8) dst[sc + j] = l & 0xf;
        else dst[sc + j - 8] |= (l & 0xf) << 4;
        dst[sc + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      dBits = fp32ToFp16Bits(f(1 / iscale));
    }
    dst[y + 108] = dBits & 0xff;
    dst[y + 109] = dBits >> 8;
    const d0 = fp16BitsToFp32(dBits);
    for (let j = 0; j < 16; j++) {
      const d = f(d0 * (scaleQ3K(j, dst, sc) - 32));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = Math.max(-4, Math.min(3, nearestInt(f(src[x + 16 * j + ii] / d)))) + 4;
      }
    }
    for (let j = 0; j < QK_K; j++) {
      if (L[j] > 3) {
        dst[y + (j % 32)] |= 1 << (j >> 5);
        L[j] -= 4;
      }
    }
    pack2Bits(L, dst, y + 32);
  }
}

/** dequantize_row_q3_K: `src` (n/256 × 110 bytes) → `dst` (n floats). */
export function dequantizeRowQ3_K(src: Uint8Array, dst: Float32Array): void {
  for (let i = 0; i < dst.length / QK_K; i++) {
    const y = i * Q3_K_BYTES;
    const d = fp16BitsToFp32(src[y + 108] | (src[y + 109] << 8));
    for (let e = 0; e < QK_K; e++) {
      const low = (src[y + 32 + 32 * (e >> 7) + (e % 32)] >> (2 * ((e % 128) >> 5))) & 3;
      const high = (src[y + (e % 32)] >> (e >> 5)) & 1;
      const dl = f(d * (scaleQ3K(e >> 4, src, y + 96) - 32));
      dst[i * QK_K + e] = f(dl * ((low | (high << 2)) - 4));
    }
  }
}
