/// <reference types="@webgpu/types" />
/**
 * GPU memory of the WebGPU backend.
 * - Activations (`buffer()`): offsets into one arena buffer (created at the first compute, when every buffer is
 *   known), so that an op whose input and output are the same tensor binds one buffer (WebGPU forbids binding a
 *   buffer twice when one binding is writable). Host views (f32/i32/u32) are shadow arrays per root buffer,
 *   uploaded before each compute and, when an op wrote the buffer, downloaded after it.
 * - Weights (`weight()`): buffers of their own, split by rows into slices of at most maxStorageBufferBindingSize
 *   bytes (each slice a whole number of rows, a multiple of 4 bytes).
 * - KV pages (`allocPages()`): one pool buffer per call; page handle = pool << 20 | index.
 */
import type { Tensor } from '../backend.ts';
import { GgmlType } from '../../gguf/types.ts';
import { TesseraError } from '../../errors.ts';

export class WebGpuLimitError extends TesseraError {
  constructor(message: string) {
    super('webgpu_limit', message);
  }
}

const BLOCK: Partial<Record<GgmlType, [number, number]>> = {
  [GgmlType.F32]: [1, 4], [GgmlType.I32]: [1, 4], [GgmlType.F16]: [1, 2], [GgmlType.BF16]: [1, 2],
  [GgmlType.Q8_0]: [32, 34], [GgmlType.Q4_0]: [32, 18], [GgmlType.Q4_1]: [32, 20], [GgmlType.Q5_0]: [32, 22],
  [GgmlType.Q5_1]: [32, 24], [GgmlType.IQ4_NL]: [32, 18], [GgmlType.Q4_K]: [256, 144], [GgmlType.Q5_K]: [256, 176],
  [GgmlType.Q6_K]: [256, 210], [GgmlType.Q3_K]: [256, 110], [GgmlType.Q2_K]: [256, 84], [GgmlType.IQ4_XS]: [256, 136],
};

export function byteSizeOf(type: GgmlType, dims: readonly number[]): number {
  const b = BLOCK[type];
  if (!b) throw new Error(`webgpu backend: no layout for type ${GgmlType[type]}`);
  const n = dims.reduce((a, d) => a * d, 1);
  return (n / b[0]) * b[1];
}

/** A root activation buffer: its arena byte offset, size, and host shadow once a view was asked for. */
export class ActRoot {
  shadow: ArrayBuffer | null = null;
  /** Byte range [lo, hi) of it that ops recorded since the last compute write (downloaded when it has a shadow). */
  lo = Infinity;
  hi = 0;
  /** Once an op wrote it, the GPU owns it: its shadow is a copy of GPU results, never uploaded (host views read-only). */
  gpuOwned = false;
  get written(): boolean {
    return this.hi > this.lo;
  }
  mark(lo: number, hi: number): void {
    this.lo = Math.min(this.lo, lo);
    this.hi = Math.max(this.hi, hi);
  }
  clear(): void {
    this.lo = Infinity;
    this.hi = 0;
  }
  constructor(readonly off: number, readonly bytes: number) {}
}

export class ActTensor implements Tensor {
  readonly kind = 'act';
  constructor(
    readonly type: GgmlType,
    readonly dims: readonly number[],
    readonly byteSize: number,
    readonly root: ActRoot,
    /** Byte offset inside the root. */
    readonly rel: number,
  ) {}
  /** Word offset in the arena. */
  get word(): number {
    return (this.root.off + this.rel) >> 2;
  }
}

export interface WeightSlice {
  buf: GPUBuffer;
  id: number;
  /** First row of the tensor in this slice, rows in it, byte offset of that row in `buf`. */
  row0: number;
  rows: number;
  off: number;
}

export class WeightTensor implements Tensor {
  readonly kind = 'weight';
  constructor(
    readonly type: GgmlType,
    readonly dims: readonly number[],
    readonly byteSize: number,
    readonly rowBytes: number,
    readonly slices: readonly WeightSlice[],
  ) {}
  get nRows(): number {
    return this.dims.length > 1 ? this.dims[this.dims.length - 1] : 1;
  }
  /** The slice of a 1-row (or small) tensor: norms, biases, freq factors. */
  get only(): WeightSlice {
    if (this.slices.length !== 1) throw new WebGpuLimitError('webgpu: an f32 vector weight spans several buffers');
    return this.slices[0];
  }
  rowsView(row: number, rows: number): WeightTensor {
    const out: WeightSlice[] = [];
    for (const s of this.slices) {
      const a = Math.max(row, s.row0);
      const b = Math.min(row + rows, s.row0 + s.rows);
      if (a < b) out.push({ buf: s.buf, id: s.id, row0: a - row, rows: b - a, off: s.off + (a - s.row0) * this.rowBytes });
    }
    const dims = [...this.dims.slice(0, -1), rows];
    return new WeightTensor(this.type, dims, this.rowBytes * rows, this.rowBytes, out);
  }
}

export const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Rows per slice: ≤ maxBytes, and a multiple of 4 rows (so a slice's size is a multiple of 4 bytes). */
export function rowsPerSlice(rowBytes: number, nRows: number, maxBytes: number): number {
  if (rowBytes * nRows <= maxBytes) return nRows;
  const r = Math.floor(maxBytes / rowBytes / 4) * 4;
  if (r < 4) throw new WebGpuLimitError(`webgpu: a weight row of ${rowBytes} bytes exceeds the binding limit ${maxBytes}`);
  return r;
}

export interface PagePool {
  buf: GPUBuffer;
  id: number;
  pageBytes: number;
  nPages: number;
}
