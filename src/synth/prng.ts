import { rotl, Xoshiro128 as BaseXoshiro128 } from '../sampling/prng.ts';

/**
 * Deterministic, fast PRNG for synthetic weights: xoshiro128** seeded through splitmix32, plus Gaussian
 * samples by the ziggurat method. Same seed → same stream on every runtime.
 */

/** FNV-1a 32-bit hash of a string (used to derive a per-tensor seed from its name). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The sampler's xoshiro128** (src/sampling/prng.ts) plus fast Gaussian fills. A seed is taken as its 32-bit
 * pattern (negative seeds included), which gives exactly the splitmix32-seeded stream of a 32-bit seed.
 */
export class Xoshiro128 extends BaseXoshiro128 {
  constructor(seed: number) {
    super(seed >>> 0);
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() * 2.3283064365386963e-10;
  }

  /**
   * Fills `out` with N(mean, std²) samples: Marsaglia & Tsang's ziggurat (128 layers), which needs one 32-bit
   * draw per sample 99% of the time. The state lives in locals inside the loop for speed.
   */
  fillGaussian(out: Float32Array, std: number, mean = 0): void {
    const { kn, wn } = zigguratTables();
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const n = out.length;
    for (let i = 0; i < n; i++) {
      const hz = Math.imul(rotl(Math.imul(s1, 5), 7), 9); // signed int32
      const t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
      const iz = hz & 127;
      if (Math.abs(hz) < kn[iz]) {
        out[i] = mean + hz * wn[iz] * std;
      } else {
        this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
        out[i] = mean + this.zigguratTail(hz, iz) * std;
        s0 = this.s0; s1 = this.s1; s2 = this.s2; s3 = this.s3;
      }
    }
    this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
  }

  /** A standard normal sample from the slow path of the ziggurat (Marsaglia & Tsang's `nfix`). */
  private zigguratTail(hz: number, iz: number): number {
    const { kn, wn, fn } = zigguratTables();
    const r = ZIG_R;
    for (;;) {
      const x = hz * wn[iz];
      if (iz === 0) {
        let xx: number, y: number;
        do {
          xx = -Math.log(1 - this.nextFloat()) / r;
          y = -Math.log(1 - this.nextFloat());
        } while (y + y < xx * xx);
        return hz > 0 ? r + xx : -r - xx;
      }
      if (fn[iz] + this.nextFloat() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextU32() | 0;
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]) return hz * wn[iz];
    }
  }
}

/** Right edge of the base layer of the 128-layer normal ziggurat. */
const ZIG_R = 3.442619855899;
let zig: { kn: Float64Array; wn: Float64Array; fn: Float64Array } | undefined;

/** Ziggurat tables (Marsaglia & Tsang 2000, `zigset`), built once. */
function zigguratTables(): { kn: Float64Array; wn: Float64Array; fn: Float64Array } {
  if (zig) return zig;
  const kn = new Float64Array(128), wn = new Float64Array(128), fn = new Float64Array(128);
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R, tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return (zig = { kn, wn, fn });
}
