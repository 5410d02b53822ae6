/**
 * Deterministic, fast PRNG for synthetic weights: xoshiro128** seeded through splitmix32, plus Gaussian
 * samples by the Marsaglia polar method. Same seed → same stream on every runtime.
 */

/** splitmix32 step: returns [next state, output]. */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a 32-bit hash of a string (used to derive a per-tensor seed from its name). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let st = seed | 0;
    let o: number;
    [st, o] = splitmix32(st); this.s0 = o;
    [st, o] = splitmix32(st); this.s1 = o;
    [st, o] = splitmix32(st); this.s2 = o;
    [st, o] = splitmix32(st); this.s3 = o;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() * 2.3283064365386963e-10;
  }

  /**
   * Fills `out` with N(mean, std²) samples (Marsaglia polar method; each accepted pair gives two samples).
   * The state lives in locals inside the loop for speed.
   */
  fillGaussian(out: Float32Array, std: number, mean = 0): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const n = out.length;
    let i = 0;
    while (i < n) {
      // two uniforms in (-1, 1)
      let r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      let t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
      const u = r * 4.656612873077393e-10; // signed int32 / 2^31
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
      t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
      const v = r * 4.656612873077393e-10;
      const q = u * u + v * v;
      if (q >= 1 || q === 0) continue;
      const f = Math.sqrt((-2 * Math.log(q)) / q) * std;
      out[i++] = mean + u * f;
      if (i < n) out[i++] = mean + v * f;
    }
    this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
