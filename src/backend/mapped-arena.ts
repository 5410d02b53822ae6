/**
 * An arena over memory a shared library reserves and maps into JS (the native and CUDA cores): u32 offsets from
 * the reservation's base, handed out by the WASM arena's allocator, and typed views of them. The mapping grows by
 * asking the library for a longer view (`view(bytes)`), up to `reserveBytes`; offsets stay valid as it grows.
 */
import { Arena } from './wasm/arena.ts';
import type { CoreMemory } from './recorder.ts';

const PAGE = 65536;

export abstract class MappedArena implements CoreMemory {
  readonly arena: Arena;
  /** The mapped bytes; an empty buffer once closed, so new views throw instead of reading unmapped memory. */
  protected buf: ArrayBuffer;

  protected constructor(
    view: (bytes: number) => ArrayBuffer,
    heapBase: number,
    readonly reserveBytes: number,
    /** Names the reservation in the exhaustion error ('native', 'cuda'). */
    label: string,
  ) {
    this.buf = view(heapBase + PAGE);
    const self = this;
    const memory = {
      get buffer() {
        return self.buf;
      },
      grow(pages: number): number {
        const have = self.buf.byteLength;
        if (have + pages * PAGE > self.reserveBytes) throw new RangeError(`${label} arena reservation (${self.reserveBytes} bytes) exhausted`);
        self.buf = view(Math.min(self.reserveBytes, Math.max(have + pages * PAGE, have * 2)));
        return have / PAGE;
      },
    };
    this.arena = new Arena(memory, heapBase);
  }

  alloc(bytes: number, align = 64): number {
    return this.arena.alloc(bytes, align);
  }
  mark(): number {
    return this.arena.mark();
  }
  release(mark: number): void {
    this.arena.release(mark);
  }

  u8(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.buf, ptr, len);
  }
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.buf, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.buf, ptr, n);
  }
  u32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.buf, ptr, n);
  }

  /** Drops the mapping's views (call when the library unmaps it). */
  protected unmap(): void {
    this.buf = new ArrayBuffer(0);
  }
}
