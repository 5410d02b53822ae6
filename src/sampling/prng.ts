/**
 * Seeded pseudo-random numbers for sampling: xoshiro128** (Blackman & Vigna), 32-bit state words,
 * seeded through splitmix32 so that nearby seeds give unrelated streams. No allocation per draw.
 */

/** splitmix32 step: returns the next output for state `x` (the caller advances x by 0x9e3779b9). */
function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Xoshiro128 {
  protected s0 = 0;
  protected s1 = 0;
  protected s2 = 0;
  protected s3 = 0;

  /** @param seed any safe integer ≥ 0 (its low 53 bits are used). */
  constructor(seed: number) {
    this.reseed(seed);
  }

  reseed(seed: number): void {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    let x = (lo ^ Math.imul(hi, 0x27d4eb2d)) | 0;
    x = (x + 0x9e3779b9) | 0; this.s0 = mix32(x);
    x = (x + 0x9e3779b9) | 0; this.s1 = mix32(x ^ hi);
    x = (x + 0x9e3779b9) | 0; this.s2 = mix32(x);
    x = (x + 0x9e3779b9) | 0; this.s3 = mix32(x ^ hi);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Set the raw state words (known-answer tests against the reference C implementation). */
  setState(s0: number, s1: number, s2: number, s3: number): void {
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
  }

  /** Next 32-bit unsigned output. */
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

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }
}

export function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A random 32-bit seed from the platform's CSPRNG (Web Crypto: Node ≥ 20, Bun, Deno). */
export function randomSeed(): number {
  const buf = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buf);
  return buf[0]!;
}
