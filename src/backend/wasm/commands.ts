/**
 * A command list living in core memory (WASM, or the native arena): `capacity` commands of 16 u32 words
 * (word 0 op code, words 1..15 arguments; ABI.md). Allocated once and reused each forward:
 * `reset()` then `push(...)`; nothing is allocated per push.
 */
import { TesseraError } from '../../errors.ts';
import { CMD_WORDS } from './abi.ts';

/** More commands pushed than the list was created for. */
export class CommandListFullError extends TesseraError {
  constructor(capacity: number) {
    super('command_list_full', `command list is full (${capacity} commands)`);
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export class CommandList {
  readonly ptr: number;
  readonly capacity: number;
  count = 0;
  /** u32 [capacity][16]. A view on a shared buffer stays valid when the memory grows. */
  private readonly words: Uint32Array;

  /** `core`: where the list lives (a WasmCore, or the native core); its u32 view must stay valid. */
  constructor(core: { alloc(bytes: number, align: number): number; u32(ptr: number, n: number): Uint32Array }, capacity: number) {
    this.capacity = capacity;
    this.ptr = core.alloc(capacity * CMD_WORDS * 4, 64);
    this.words = core.u32(this.ptr, capacity * CMD_WORDS);
  }

  reset(): void {
    this.count = 0;
  }

  /** Appends one command; missing arguments are 0. Negative integers are stored as their u32 bits. */
  push(
    op: number,
    a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0,
    a9 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0, a14 = 0, a15 = 0,
  ): void {
    if (this.count >= this.capacity) throw new CommandListFullError(this.capacity);
    const w = this.words;
    const o = this.count * CMD_WORDS;
    w[o] = op;
    w[o + 1] = a1; w[o + 2] = a2; w[o + 3] = a3; w[o + 4] = a4; w[o + 5] = a5;
    w[o + 6] = a6; w[o + 7] = a7; w[o + 8] = a8; w[o + 9] = a9; w[o + 10] = a10;
    w[o + 11] = a11; w[o + 12] = a12; w[o + 13] = a13; w[o + 14] = a14; w[o + 15] = a15;
    this.count++;
  }

  /** Word `k` of command `i` (0: the op code). */
  word(i: number, k: number): number {
    return this.words[i * CMD_WORDS + k];
  }

  /** The bit pattern of `x` as an f32, for f32 arguments (eps, scale, ...). */
  static f32bits(x: number): number {
    f32Scratch[0] = x;
    return u32Scratch[0];
  }
}
