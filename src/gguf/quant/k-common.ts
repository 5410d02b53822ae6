/**
 * Helpers shared by the K-quant reference (de)quantizers (q4_k.ts, q5_k.ts, q6_k.ts), ports of ggml-quants.c
 * (`nearest_int`, `make_qkx2_quants`, `make_qx_quants` with rmse_type 1 and no importance weights,
 * `get_scale_min_k4`). Every float operation C performs in float is rounded with Math.fround (no fused
 * multiply-add: ggml's reference is plain C; a build that contracts `a*b - c*d` may differ in rare ties).
 */

/** Values per K-quant super-block. */
export const QK_K = 256;

import { fp16BitsToFp32, fp32ToFp16Bits } from '../fp16.ts';

const f = Math.fround;

/** ggml `nearest_int`: round half to even through the float magic number (|x| ≤ 4194303). */
export function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

/** ggml `GROUP_MAX_EPS` (1e-15f). */
export const GROUP_MAX_EPS = f(1e-15);

/**
 * The value of largest magnitude among `x[at .. at+n)` (the first one on ties, 0 when all are 0), as ggml's
 * reference quantizers find their `max`; its |.| is their `amax`.
 */
export function signedAbsMax(x: ArrayLike<number>, at: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]);
    if (ax > amax) {
      amax = ax;
      max = x[at + i];
    }
  }
  return max;
}

/**
 * make_qkx2_quants: levels `L[at..at+n)` in 0..nmax and a scale/min pair minimising the weighted error of
 * `x[at + i] ≈ scale·L[i] − theMin`. Returns [scale, theMin] (theMin ≥ 0). `laux`: scratch of n.
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xAt: number, weights: Float32Array,
  L: Uint8Array, lAt: number, laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean,
): [number, number] {
  let min = x[xAt];
  let max = x[xAt];
  let sumW = weights[0];
  let sumX = f(sumW * x[xAt]);
  for (let i = 1; i < n; i++) {
    const xi = x[xAt + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lAt, lAt + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  const err = (d: number): number => (useMad ? Math.abs(d) : f(d * d));
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(f(iscale * f(x[xAt + i] - min)));
    L[lAt + i] = Math.max(0, Math.min(nmax, l));
    const diff = f(f(f(scale * L[lAt + i]) + min) - x[xAt + i]);
    bestError = f(bestError + f(weights[i] * err(diff)));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    // max − min with the current min: a better candidate found earlier replaces min (as in C).
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xAt + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
      laux[i] = l;
      const wl = f(weights[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * laux[i]) + thisMin) - x[xAt + i]);
        curError = f(curError + f(weights[i] * err(diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lAt + i] = laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights (weights x²): signed levels
 * `L[lAt + i]` − nmax in −nmax..nmax−1 (stored biased by +nmax) and the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xAt: number, L: Uint8Array, lAt: number): number {
  const max = signedAbsMax(x, xAt, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lAt, lAt + n);
    return 0;
  }
  const level = (iscale: number, xi: number): number => Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xAt + i];
    const l = level(iscale, xi);
    L[lAt + i] = l + nmax;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xAt + i];
      const l = level(iscale, xi);
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lAt + i] = nmax + level(iscale, x[xAt + i]);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `q[at..]`. */
export function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/** Packs 8 six-bit scales and mins into the 12 bytes at `q[at..]` (the inverse of scaleMinK4). */
export function packScaleMinK4(ls: ArrayLike<number>, lm: ArrayLike<number>, q: Uint8Array, at: number): void {
  q.fill(0, at, at + 12);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      q[at + j] = ls[j];
      q[at + j + 4] = lm[j];
    } else {
      q[at + j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      q[at + j - 4] |= (ls[j] >> 4) << 6;
      q[at + j] |= (lm[j] >> 4) << 6;
    }
  }
}

/** Scratch of `quantizeScaleMinBlock`, allocated once per row (not per block). */
export class ScaleMinScratch {
  readonly L = new Uint8Array(QK_K); // levels of the 256 values
  readonly laux = new Uint8Array(32);
  readonly weights = new Float32Array(32);
  readonly scales = new Float32Array(8);
  readonly mins = new Float32Array(8);
  readonly ls = new Uint8Array(8);
  readonly lm = new Uint8Array(8);
}

/**
 * The part Q4_K and Q5_K share (quantize_row_q{4,5}_K_ref): per 32-value sub-block, `make_qkx2_quants`
 * (levels 0..nmax, its rmin and nstep) weighted by `av_x + |x|`; the 8 scales and mins quantized to 6 bits
 * against their maxima and packed at `dst[y + 4 ..]`, d and dmin (fp16) at `dst[y ..]`; then every value's
 * level recomputed from the stored scales into `s.L`. The caller packs `s.L` into its bit layout.
 */
export function quantizeScaleMinBlock(src: Float32Array, x: number, dst: Uint8Array, y: number, nmax: number, rmin: number, nstep: number, s: ScaleMinScratch): void {
  const { L, laux, weights, scales, mins, ls, lm } = s;
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[x + 32 * j + l] * src[x + 32 * j + l]));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(src[x + 32 * j + l]));
    [scales[j], mins[j]] = makeQkx2Quants(32, nmax, src, x + 32 * j, weights, L, 32 * j, laux, rmin, f(0.1), nstep, false);
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    lm[j] = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
  }
  packScaleMinK4(ls, lm, dst, y + 4);
  const dBits = fp32ToFp16Bits(f(maxScale / 63));
  const mBits = fp32ToFp16Bits(f(maxMin / 63));
  dst[y] = dBits & 0xff;
  dst[y + 1] = dBits >> 8;
  dst[y + 2] = mBits & 0xff;
  dst[y + 3] = mBits >> 8;
  const d0 = fp16BitsToFp32(dBits);
  const m0 = fp16BitsToFp32(mBits);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, dst, y + 4);
    const d = f(d0 * sc);
    if (!d) continue;
    const dm = f(m0 * m);
    for (let ii = 0; ii < 32; ii++) {
      L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(f(f(src[x + 32 * j + ii] + dm) / d))));
    }
  }
}
