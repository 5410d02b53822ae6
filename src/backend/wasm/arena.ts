/**
 * Bump allocator over the core's shared memory: everything above `tsr_heap_base()` is handed
 * out here (weights, activations, stacks, command lists). It grows the memory as needed, up to
 * wasm32's 4 GiB. Nothing is freed individually; `mark()`/`release()` rewind like a stack.
 */
import { TesseraError } from '../../errors.ts';

const PAGE = 65536;
/** wasm32 limit: 65536 pages. */
export const MAX_MEMORY_BYTES = 2 ** 32;

/** The arena cannot satisfy an allocation: past 4 GiB, or the engine refused to grow. */
export class OutOfMemoryError extends TesseraError {
  readonly requested: number;
  readonly inUse: number;
  constructor(requested: number, inUse: number, cause?: unknown) {
    super(
      'out_of_memory',
      `WASM memory exhausted: ${requested} bytes requested with ${inUse} in use (limit ${MAX_MEMORY_BYTES})`,
      { cause },
    );
    this.requested = requested;
    this.inUse = inUse;
  }
}

export class Arena {
  private top: number;

  /** `base`: first byte the arena may hand out (the module's heap base). */
  /** `memory`: a WebAssembly.Memory, or anything that grows the same way (the native arena's view). */
  constructor(
    readonly memory: { readonly buffer: ArrayBufferLike; grow(pages: number): number },
    readonly base: number,
  ) {
    this.top = base;
  }

  /** Bytes handed out since `base`. */
  get used(): number {
    return this.top - this.base;
  }

  /** Returns a pointer to `bytes` bytes aligned to `align` (a power of two). Fresh memory is zero; rewound memory is not. */
  alloc(bytes: number, align = 64): number {
    if (!(bytes >= 0) || !Number.isInteger(bytes)) throw new RangeError(`alloc: bad size ${bytes}`);
    if (!(align > 0) || (align & (align - 1)) !== 0) throw new RangeError(`alloc: bad alignment ${align}`);
    const start = Math.ceil(this.top / align) * align;
    const end = start + bytes;
    if (end > MAX_MEMORY_BYTES) throw new OutOfMemoryError(bytes, this.used);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw new OutOfMemoryError(bytes, this.used, e);
      }
    }
    this.top = end;
    return start;
  }

  /** Current position, for `release`. */
  mark(): number {
    return this.top;
  }

  /** Rewinds to a `mark()`: everything allocated after it is free again (not zeroed). */
  release(mark: number): void {
    if (mark < this.base || mark > this.top) throw new RangeError(`release: mark ${mark} outside ${this.base}..${this.top}`);
    this.top = mark;
  }
}
