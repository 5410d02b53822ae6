/**
 * Loading an mmproj's vision weights into backend memory, hashing every byte read (the encoder digest that
 * keys the image cache), with the reshapes the ViT needs:
 * - v.patch_embd.weight `[p, p, 3, n_embd]` (a conv kernel) is loaded as a matrix `[3·p·p] → [n_embd]`
 *   (same bytes: input index c·p·p + ky·p + kx), so the conv is a matmul over unfolded patches;
 * - mm.input_projection.weight `[n_out, n_embd]` (Gemma 3, used transposed by llama.cpp) is transposed at
 *   load into an F32 matrix `[n_embd] → [n_out]`.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Backend, Tensor } from '../../backend/backend.ts';
import type { GgufFile } from '../../gguf/reader.ts';
import { readTensor, readTensorInto } from '../../gguf/reader.ts';
import { dequantize } from '../../gguf/quant.ts';
import { GgmlType } from '../../gguf/types.ts';
import { ModelFormatError } from '../../model/hparams.ts';
import { UnsupportedTensorTypeError } from '../../model/weights.ts';

export class VisionWeightLoader {
  private readonly hash: Hash = createHash('sha256');

  constructor(
    private readonly file: GgufFile,
    private readonly be: Backend,
  ) {
    const meta = [...file.metadata.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    this.hash.update(JSON.stringify(meta, (_k, v) => (typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
  }

  has(name: string): boolean {
    return this.file.tensorByName.has(name);
  }

  private info(name: string, dims: number[]) {
    const info = this.file.tensorByName.get(name);
    if (!info) throw new ModelFormatError(this.file.path, `missing tensor '${name}'`);
    if (info.dims.length !== dims.length || info.dims.some((d, i) => d !== dims[i])) {
      throw new ModelFormatError(this.file.path, `tensor '${name}' has shape [${info.dims.join(', ')}], expected [${dims.join(', ')}]`);
    }
    this.hash.update(`${name}|${info.type}|${info.dims.join(',')}|`);
    return info;
  }

  /** Loads `name` (GGUF dims `dims`) as a backend tensor of dims `as` (same bytes; default `dims`). */
  async load(name: string, dims: number[], as: number[] = dims): Promise<Tensor> {
    const info = this.info(name, dims);
    const isVector = dims.length === 1;
    if (isVector ? info.type !== GgmlType.F32 : !this.be.supportsWeightType(info.type)) {
      throw new UnsupportedTensorTypeError(this.file.path, name, info.type, this.be.name);
    }
    return this.be.weight(info.type, as, async (dest) => {
      await readTensorInto(this.file, info, dest);
      this.hash.update(dest);
    });
  }

  async loadOptional(name: string, dims: number[]): Promise<Tensor | null> {
    return this.has(name) ? this.load(name, dims) : null;
  }

  /** Loads a matrix of GGUF dims `[a, b]` transposed: an F32 tensor of dims `[b, a]`. */
  async loadTransposed(name: string, a: number, b: number): Promise<Tensor> {
    const info = this.info(name, [a, b]);
    const bytes = await readTensor(this.file, info);
    this.hash.update(bytes);
    const src = dequantize(info.type, bytes, a * b); // [b rows][a]
    return this.be.weight(GgmlType.F32, [b, a], async (dest) => {
      const out = new Float32Array(dest.buffer, dest.byteOffset, a * b); // [a rows][b]
      for (let r = 0; r < b; r++) for (let c = 0; c < a; c++) out[c * b + r] = src[r * a + c]!;
    });
  }

  /**
   * Loads a matrix of GGUF dims `[nIn, nOut]` with its input columns reordered: an F32 tensor whose row r
   * holds `src[r][perm[c]]` at column c (Pixtral's patch merger, whose unfolded input we gather tap-major).
   */
  async loadPermutedCols(name: string, nIn: number, nOut: number, perm: Int32Array): Promise<Tensor> {
    const info = this.info(name, [nIn, nOut]);
    const bytes = await readTensor(this.file, info);
    this.hash.update(bytes);
    const src = dequantize(info.type, bytes, nIn * nOut);
    return this.be.weight(GgmlType.F32, [nIn, nOut], async (dest) => {
      const out = new Float32Array(dest.buffer, dest.byteOffset, nIn * nOut);
      for (let r = 0; r < nOut; r++) for (let c = 0; c < nIn; c++) out[r * nIn + c] = src[r * nIn + perm[c]!]!;
    });
  }

  /** sha256 (hex) of the metadata and every tensor loaded so far. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
