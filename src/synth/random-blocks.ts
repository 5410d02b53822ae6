/**
 * Fast synthetic weights for big models: quantized blocks filled directly with random bits and sane scales,
 * instead of generating floats and running the K-quantizer (which would take hours for an 8B model in JS).
 * Values are uniform on a symmetric grid with the requested standard deviation, so activations stay O(1) as
 * with `generateWeight`. The blocks are valid ggml blocks: any reader dequantizes them the same way.
 *
 * Q4_K block (144 B): f16 d, f16 dmin, 12 B of 6-bit (scale, min) pairs, 128 B of 4-bit q. Every sub-block
 *   gets scale 2 and min 15 with dmin = d, so a value is d·(2q − 15), q uniform in 0..15: odd steps −15..15,
 *   mean 0, std 9.22·d.
 * Q6_K block (210 B): 128 B low 4 bits, 64 B high 2 bits, 16 i8 scales, f16 d. Scales alternate +2/−2 over the
 *   sixteen 16-value groups, a value is d·(±2)·(q − 32), q uniform in 0..63: std 36.9·d, mean 0 over a block.
 */
import { ValidationError } from '../errors.ts';
import { writeGguf, type GgufTensorSpec } from '../gguf/writer.ts';
import { fp32ToFp16Bits } from '../gguf/fp16.ts';
import { GgmlType } from '../gguf/types.ts';
import { ggmlByteSize } from '../gguf/ggml-types.ts';
import { planTypes } from '../quantize/plan.ts';
import { quantTarget } from '../quantize/ftypes.ts';
import { generateWeight, planSynthLlama, synthLlamaMetadata, type SynthLlamaSpec } from './llama.ts';
import { Xoshiro128, fnv1a } from './prng.ts';

/** Std of d·(2q − 15), q uniform 0..15, per unit d: 2·√((16² − 1)/12). */
const Q4K_STD_PER_D = 2 * Math.sqrt(255 / 12);
/** Std of d·2·(q − 32), q uniform 0..63, per unit d (mean −0.5 per group cancels between ±2 scales). */
const Q6K_STD_PER_D = 2 * Math.sqrt((64 * 64 - 1) / 12 + 0.25);

/** Types `fillRandomBlocks` writes. */
export const RANDOM_BLOCK_TYPES: ReadonlySet<GgmlType> = new Set([GgmlType.Q4_K, GgmlType.Q6_K]);

/** Fills `out` (whole blocks of `type`) with random valid blocks whose values have mean ≈ 0 and std ≈ `std`. */
export function fillRandomBlocks(type: GgmlType, out: Uint8Array, std: number, rng: Xoshiro128): void {
  const n4 = out.byteLength >> 2;
  const words = new Uint32Array(out.buffer, out.byteOffset, n4);
  for (let i = 0; i < n4; i++) words[i] = rng.nextU32();
  for (let i = n4 << 2; i < out.byteLength; i++) out[i] = rng.nextU32() & 0xff;
  if (type === GgmlType.Q4_K) {
    const d = fp32ToFp16Bits(std / Q4K_STD_PER_D);
    if (out.byteLength % 144 !== 0) throw new RangeError(`Q4_K: ${out.byteLength} bytes is not whole blocks`);
    for (let o = 0; o < out.byteLength; o += 144) {
      out[o] = d & 0xff;
      out[o + 1] = d >> 8;
      out[o + 2] = d & 0xff; // dmin = d
      out[o + 3] = d >> 8;
      // get_scale_min_k4: j < 4: sc = s[j] & 63, m = s[j+4] & 63; j ≥ 4: low nibbles of s[j+4], high bits 0
      for (let j = 0; j < 4; j++) {
        out[o + 4 + j] = 2;
        out[o + 8 + j] = 15;
        out[o + 12 + j] = 2 | (15 << 4);
      }
    }
  } else if (type === GgmlType.Q6_K) {
    const d = fp32ToFp16Bits(std / Q6K_STD_PER_D);
    if (out.byteLength % 210 !== 0) throw new RangeError(`Q6_K: ${out.byteLength} bytes is not whole blocks`);
    for (let o = 0; o < out.byteLength; o += 210) {
      for (let j = 0; j < 16; j++) out[o + 192 + j] = j & 1 ? 0xfe : 2; // i8 −2 / +2
      out[o + 208] = d & 0xff;
      out[o + 209] = d >> 8;
    }
  } else {
    throw new ValidationError(`fillRandomBlocks: type ${GgmlType[type]} is not one of Q4_K, Q6_K`);
  }
}

/**
 * Writes a synthetic llama with llama.cpp's Q4_K_M type mix (src/quantize/plan.ts: Q6_K output, attn_v and
 * ffn_down of some layers, Q4_K elsewhere) from random blocks, streaming one tensor at a time. `spec.type` and
 * `typeOverrides` are ignored. Deterministic for a seed. Needs n_embd and n_ff multiples of 256.
 */
export async function writeRandomQ4KMLlama(path: string, spec: SynthLlamaSpec): Promise<void> {
  const plan = planSynthLlama({ ...spec, type: 'F32', typeOverrides: {} });
  const target = quantTarget('Q4_K_M');
  if (!target) throw new Error('Q4_K_M target missing');
  const nGqa = spec.nHead / spec.nHeadKv;
  const types = planTypes(plan.map((w) => ({ name: w.name, dims: w.dims, type: GgmlType.F32 })), { arch: spec.arch ?? 'llama', nGqa }, target);
  const tensors: GgufTensorSpec[] = plan.map((w) => {
    const type = types.get(w.name) ?? w.type;
    if (w.dims.length > 1 && !RANDOM_BLOCK_TYPES.has(type)) throw new ValidationError(`writeRandomQ4KMLlama: ${w.name} would be ${GgmlType[type]} (row of ${w.dims[0]}): use multiples of 256`);
    return {
      name: w.name,
      type,
      dims: w.dims,
      data: () => {
        if (w.dims.length === 1) return generateWeight(w, spec.seed);
        const out = new Uint8Array(ggmlByteSize(type, w.dims[0] * w.dims[1]));
        fillRandomBlocks(type, out, w.std, new Xoshiro128((spec.seed ^ fnv1a(w.name)) | 0));
        return out;
      },
    };
  });
  const meta = synthLlamaMetadata({ ...spec, type: 'Q4_K' });
  meta['general.file_type'] = { type: 4, value: 15 }; // LLAMA_FTYPE_MOSTLY_Q4_K_M
  await writeGguf(path, { metadata: meta, tensors });
}
