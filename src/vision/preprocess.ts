/**
 * Resize + normalise in the WASM core (op IMAGE_RESAMPLE, wasm/ABI.md): an image is copied into the
 * core's memory once, then any box of it is resampled to a model's input size as f32 CHW
 * `[3][outHeight][outWidth]`, `(v/255 − mean[c]) / std[c]` — Pillow's bilinear or bicubic filter
 * (antialiased when downscaling), as the models' Hugging Face processors and llama.cpp's clip do.
 *
 * @example
 * const core = await WasmCore.load();
 * using img = CoreImage.place(core, await decodeImage(bytes));
 * const chw = img.resample({ outWidth: 336, outHeight: 336, filter: 'bicubic', mean: [0.48, 0.46, 0.41], std: [0.27, 0.26, 0.28] });
 */
import { Op } from '../backend/wasm/abi.ts';
import { CommandList } from '../backend/wasm/commands.ts';
import type { WasmCore } from '../backend/wasm/core.ts';
import type { ThreadPool } from '../backend/wasm/pool.ts';
import { ValidationError } from '../errors.ts';
import type { DecodedImage } from './decode.ts';

export type ResampleFilter = 'bilinear' | 'bicubic';

/** A box of the image in pixels: `[x, x+width) × [y, y+height)`. */
export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ResampleSpec {
  /** Region of the image to resample (default: all of it). */
  box?: PixelBox;
  outWidth: number;
  outHeight: number;
  filter: ResampleFilter;
  /** Per channel, applied to v/255 (default 0 and 1: out = v/255). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

const FILTER_ID: Record<ResampleFilter, number> = { bilinear: 0, bicubic: 1 };
const SUPPORT: Record<ResampleFilter, number> = { bilinear: 1, bicubic: 2 };

/** Taps per output along an axis (wasm/src/ops/image.rs `taps`). */
function taps(nIn: number, nOut: number, filter: ResampleFilter): number {
  const k = 2 * Math.ceil(SUPPORT[filter] * Math.max(nIn / nOut, 1)) + 1;
  return (k + 3) & ~3;
}

/** Scratch bytes IMAGE_RESAMPLE needs per thread (wasm/src/ops/image.rs `scratch_floats`). */
export function resampleScratchBytes(box: PixelBox, outWidth: number, outHeight: number, channels: number, filter: ResampleFilter): number {
  const kx = taps(box.width, outWidth, filter);
  const ky = taps(box.height, outHeight, filter);
  return 4 * (outWidth * kx + outWidth + box.width * channels + 3 * (box.width + kx) + ky);
}

/** A decoded RGB image held in the core's memory (arena, released by {@link dispose}). */
export class CoreImage {
  private disposed = false;
  private readonly cl: CommandList;

  private constructor(
    private readonly core: WasmCore,
    private readonly mark: number,
    /** Byte address of the RGB u8 pixels `[height][width][3]`. */
    readonly ptr: number,
    readonly width: number,
    readonly height: number,
    private readonly pool?: ThreadPool,
  ) {
    this.cl = new CommandList(core, 1);
  }

  /** Copies the image into the core (one allocation of width·height·3 bytes). `pool`: run on its threads. */
  static place(core: WasmCore, img: Pick<DecodedImage, 'width' | 'height' | 'data'>, pool?: ThreadPool): CoreImage {
    if (img.data.length !== img.width * img.height * 3) throw new ValidationError(`image data holds ${img.data.length} bytes, expected ${img.width}×${img.height}×3`);
    const mark = core.mark();
    const ptr = core.alloc(Math.max(4, img.data.length), 16);
    core.u8(ptr, img.data.length).set(img.data);
    return new CoreImage(core, mark, ptr, img.width, img.height, pool);
  }

  /** Resamples `spec.box` to f32 CHW `[3][outHeight][outWidth]` (into `out` when given). */
  resample(spec: ResampleSpec, out?: Float32Array): Float32Array {
    if (this.disposed) throw new ValidationError('image was released');
    const box = spec.box ?? { x: 0, y: 0, width: this.width, height: this.height };
    const { outWidth: ow, outHeight: oh } = spec;
    const int = (v: number) => Number.isInteger(v) && v >= 0;
    if (![box.x, box.y, box.width, box.height, ow, oh].every(int) || box.width < 1 || box.height < 1 || ow < 1 || oh < 1) {
      throw new ValidationError(`resample: box and output size must be positive integers (box ${JSON.stringify(box)}, out ${ow}×${oh})`);
    }
    if (box.x + box.width > this.width || box.y + box.height > this.height) {
      throw new ValidationError(`resample: box ${JSON.stringify(box)} lies outside the ${this.width}×${this.height} image`);
    }
    if (!(spec.filter in FILTER_ID)) throw new ValidationError(`resample: unknown filter '${String(spec.filter)}' (bilinear or bicubic)`);
    const std = spec.std ?? [1, 1, 1];
    if (std.some((s) => !(Number.isFinite(s) && s !== 0))) throw new ValidationError('resample: std must be finite and non-zero');
    const n = 3 * ow * oh;
    if (out && out.length !== n) throw new ValidationError(`resample: out holds ${out.length} floats, expected ${n}`);
    const nth = this.pool?.nThreads ?? 1;
    const mark = this.core.mark();
    try {
      const dst = this.core.alloc(n * 4);
      const norm = this.core.alloc(24);
      this.core.f32(norm, 6).set([...(spec.mean ?? [0, 0, 0]), ...std]);
      const scratch = this.core.alloc(nth * resampleScratchBytes(box, ow, oh, 3, spec.filter));
      this.cl.reset();
      this.cl.push(Op.IMAGE_RESAMPLE, this.ptr, this.width, this.height, 3, box.x, box.y, box.width, box.height, dst, ow, oh, FILTER_ID[spec.filter], norm, scratch, 0);
      if (this.pool) this.pool.run(this.cl);
      else this.core.run(this.cl);
      const result = out ?? new Float32Array(n);
      result.set(this.core.f32(dst, n));
      return result;
    } finally {
      this.core.release(mark);
    }
  }

  /** Releases the image's memory (arena: everything allocated after it too). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.core.release(this.mark);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
