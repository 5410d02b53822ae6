/**
 * Loads the WASM core: reads the committed module from wasm/dist, picks the variant by feature
 * detection and known-answer tests (never by runtime name), instantiates it on a shared memory
 * with its own stack, and offers the arena and typed views the backend builds on.
 *
 * @example
 * const core = await WasmCore.load();
 * const x = core.alloc(4 * 1024);
 * core.f32(x, 1024).fill(1);
 */
import { TesseraError } from '../../errors.ts';
import { ABI_VERSION, CMD_WORDS, STACK_BYTES, SYNC_BYTES, WASM_FILES, type CoreExports } from './abi.ts';
import { Arena } from './arena.ts';
import type { CommandList } from './commands.ts';

export type CoreVariant = 'simd' | 'relaxed';

/** The module file could not be read or compiled. */
export class WasmLoadError extends TesseraError {
  constructor(message: string, cause?: unknown) {
    super('wasm_load_failed', message, { cause });
  }
}
/** The module was built for another ABI than these bindings. */
export class AbiVersionError extends TesseraError {
  constructor(found: number) {
    super('wasm_abi_mismatch', `WASM core has ABI version ${found}, these bindings need ${ABI_VERSION}: rebuild with wasm/build.sh`);
  }
}
/** The runtime lacks what the chosen variant needs (simd128, threads, relaxed-simd). */
export class WasmUnsupportedError extends TesseraError {
  constructor(message: string) {
    super('wasm_unsupported', message);
  }
}
/** A kernel trapped (bad op code or arguments): a bug in the caller's command list. */
export class WasmTrapError extends TesseraError {
  constructor(cause: unknown) {
    super('wasm_trap', `WASM core trapped: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

// ---- feature detection ----

export interface WasmFeatures {
  simd128: boolean;
  /** relaxed-simd validates *and* its i8 dot product gives the known answer. */
  relaxedSimd: boolean;
  /** shared memory, atomics and SharedArrayBuffer. */
  threads: boolean;
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const TYPE_VOID = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00]; // type section: () -> ()
const ONE_FUNC = [0x03, 0x02, 0x01, 0x00];
function memImport(flags: number): number[] {
  const entry = [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, flags, 0x01, 0x01]; // "e" "m" memory min 1 (max 1)
  if (flags === 0x00) entry.splice(-1, 1);
  return [0x02, entry.length, ...entry];
}
function codeOf(body: number[]): number[] {
  return [0x0a, body.length + 2, 0x01, body.length, ...body];
}
/** (func v128.const 0 drop) */
const SIMD_PROBE = new Uint8Array([...HEADER, ...TYPE_VOID, ...ONE_FUNC, ...codeOf([0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x1a, 0x0b])]);
/** shared memory import + (func i32.const 0 i32.atomic.load drop) */
const THREADS_PROBE = new Uint8Array([
  ...HEADER, ...TYPE_VOID, ...memImport(0x03), ...ONE_FUNC,
  ...codeOf([0x00, 0x41, 0x00, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b]),
]);
/** (func (export "f") mem[48..64] = i32x4.relaxed_dot_i8x16_i7x16_add_s(mem[0..16], mem[16..32], mem[32..48])) */
const RELAXED_PROBE = new Uint8Array([
  ...HEADER, ...TYPE_VOID, ...memImport(0x00), ...ONE_FUNC,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
  ...codeOf([
    0x00, 0x41, 0x30, 0x41, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x41, 0x10, 0xfd, 0x00, 0x04, 0x00,
    0x41, 0x20, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0x93, 0x02, 0xfd, 0x0b, 0x04, 0x00, 0x0b,
  ]),
]);
// Same inputs as wasm/src/simd/mod.rs (KAT_A/B/C): a spans i8, b stays in 0..=127 (deterministic).
const KAT_A = [-128, -128, -1, 7, 127, -128, 100, -99, -1, -2, -3, -4, 64, -64, 0, 1];
const KAT_B = [127, 127, 127, 3, 127, 127, 1, 126, 127, 126, 125, 124, 127, 127, 5, 127];
const KAT_C = [1000, -7, 0, 123456];

function relaxedDotAnswerIsExact(): boolean {
  try {
    if (!WebAssembly.validate(RELAXED_PROBE)) return false;
    const m = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_PROBE), { e: { m } });
    const i8 = new Int8Array(m.buffer);
    const i32 = new Int32Array(m.buffer);
    i8.set(KAT_A, 0);
    i8.set(KAT_B, 16);
    i32.set(KAT_C, 8);
    (inst.exports.f as () => void)();
    for (let l = 0; l < 4; l++) {
      let want = KAT_C[l];
      for (let k = 0; k < 4; k++) want += KAT_A[4 * l + k] * KAT_B[4 * l + k];
      if (i32[12 + l] !== want) return false;
    }
    return true;
  } catch {
    return false;
  }
}

let features: WasmFeatures | undefined;

/** What this runtime's WebAssembly offers, by validation and known answers (cached). */
export function detectWasmFeatures(): WasmFeatures {
  if (!features) {
    let threads = false;
    try {
      threads =
        typeof SharedArrayBuffer === 'function' &&
        typeof Atomics === 'object' &&
        WebAssembly.validate(THREADS_PROBE) &&
        new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch {
      threads = false;
    }
    features = { simd128: WebAssembly.validate(SIMD_PROBE), relaxedSimd: relaxedDotAnswerIsExact(), threads };
  }
  return features;
}

// ---- module files ----

/** wasm/dist relative to this file: from src/backend/wasm (Bun, Deno, vitest) or dist/src/backend/wasm (Node). */
const DIST_CANDIDATES = ['../../../wasm/dist/', '../../../../wasm/dist/'];

async function readUrl(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The bytes of a variant's module, from the first candidate location that has it. */
export async function readCoreBytes(variant: CoreVariant): Promise<Uint8Array<ArrayBuffer>> {
  const errors: string[] = [];
  for (const dir of DIST_CANDIDATES) {
    const url = new URL(dir + WASM_FILES[variant], import.meta.url);
    try {
      return await readUrl(url);
    } catch (e) {
      errors.push(`${url.href}: ${(e as Error).message}`);
    }
  }
  throw new WasmLoadError(`cannot read ${WASM_FILES[variant]}:\n  ${errors.join('\n  ')}`);
}

const compiled = new Map<CoreVariant, Promise<{ bytes: Uint8Array<ArrayBuffer>; module: WebAssembly.Module }>>();

/**
 * On V8 (Node, Deno), compile with the optimizing tier only. Node 20's V8 mis-executes our
 * kernels in a worker while a function is being tiered up from Liftoff (a 2-thread MATMUL left the
 * worker's rows unwritten on its first run; `--no-liftoff` and `--no-wasm-tier-up` both fix it,
 * the 2-thread GQA F32 case of test/e2e/llama-vs-llamacpp.test.ts fails without this). Eager optimization also removes the warm-up from the first tokens.
 * Runtimes without `node:v8` flags (Bun) are unaffected.
 */
async function preferOptimizingCompiler(): Promise<void> {
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString?.('--no-liftoff');
  } catch {
    /* not V8, or flags unavailable */
  }
}

/** Reads, validates and compiles a variant once per process. */
export function compileCore(variant: CoreVariant): Promise<{ bytes: Uint8Array<ArrayBuffer>; module: WebAssembly.Module }> {
  let p = compiled.get(variant);
  if (!p) {
    p = (async () => {
      const bytes = await readCoreBytes(variant);
      if (!WebAssembly.validate(bytes)) {
        throw new WasmUnsupportedError(`this runtime cannot compile ${WASM_FILES[variant]} (needs ${variant === 'relaxed' ? 'relaxed-simd, ' : ''}simd128 and threads)`);
      }
      await preferOptimizingCompiler();
      try {
        return { bytes, module: await WebAssembly.compile(bytes) };
      } catch (e) {
        throw new WasmLoadError(`compiling ${WASM_FILES[variant]} failed`, e);
      }
    })();
    p.catch(() => compiled.delete(variant));
    compiled.set(variant, p);
  }
  return p;
}

/** Minimum pages of the module's `env.memory` import (read from the import section). */
export function memoryImportMinPages(bytes: Uint8Array): number {
  let p = 8;
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++];
      r += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return r;
      shift += 7;
    }
  };
  const skipName = () => {
    const n = leb();
    p += n;
  };
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        skipName();
        skipName();
        const kind = bytes[p++];
        if (kind === 0) leb();
        else if (kind === 1 || kind === 2) {
          if (kind === 1) p++;
          const flags = bytes[p++];
          const min = leb();
          if (flags & 1) leb();
          if (kind === 2) return min;
        } else if (kind === 3) p += 2;
        else if (kind === 4) {
          p++;
          leb();
        } else break;
      }
    }
    p = end;
  }
  throw new WasmLoadError('module does not import a memory');
}

/** Instantiates on `memory` (data segments are initialised only by the first instance) and installs the stack. */
export function instantiateCore(module: WebAssembly.Module, memory: WebAssembly.Memory, stackTop: number): CoreExports {
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  const ex = inst.exports as unknown as CoreExports;
  ex.__stack_pointer.value = stackTop;
  return ex;
}

let autoVariant: Promise<CoreVariant> | undefined;

/** 'relaxed' when it validates and its i8 dot passes both known-answer tests, else 'simd'. */
function pickVariant(): Promise<CoreVariant> {
  autoVariant ??= (async (): Promise<CoreVariant> => {
    if (!detectWasmFeatures().relaxedSimd) return 'simd';
    try {
      const { bytes, module } = await compileCore('relaxed');
      const pages = memoryImportMinPages(bytes);
      const probe = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      const ex = new WebAssembly.Instance(module, { env: { memory: probe } }).exports as unknown as CoreExports;
      return ex.tsr_abi_version() === ABI_VERSION && ex.tsr_kat_relaxed_dot() === 1 ? 'relaxed' : 'simd';
    } catch {
      return 'simd';
    }
  })();
  return autoVariant;
}

export interface LoadOptions {
  /** 'auto' (default) picks by known-answer test. */
  variant?: 'auto' | CoreVariant;
  /** A shared memory to use (max ≤ 4 GiB). One WasmCore per memory: the arena assumes it owns it. */
  memory?: WebAssembly.Memory;
}

export class WasmCore {
  private constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    readonly variant: CoreVariant,
    /** Exports of the main thread's instance. */
    readonly exports: CoreExports,
    readonly arena: Arena,
    /** The main thread's barrier block (unused by nth = 1, but a valid pointer). */
    readonly sync: number,
  ) {}

  static async load(opts: LoadOptions = {}): Promise<WasmCore> {
    const f = detectWasmFeatures();
    if (!f.simd128 || !f.threads) {
      throw new WasmUnsupportedError(`WASM core needs simd128 and threads (shared memory); this runtime has simd128=${f.simd128} threads=${f.threads}`);
    }
    const variant = !opts.variant || opts.variant === 'auto' ? await pickVariant() : opts.variant;
    const { bytes, module } = await compileCore(variant);
    const minPages = memoryImportMinPages(bytes);
    const memory = opts.memory ?? new WebAssembly.Memory({ initial: minPages, maximum: 65536, shared: true });
    if (!(memory.buffer instanceof SharedArrayBuffer)) throw new WasmLoadError('WasmCore.load: memory must be shared');
    let ex: CoreExports;
    try {
      // The start function (data-segment init) does not use the stack; install ours right after.
      ex = instantiateCore(module, memory, 0);
    } catch (e) {
      throw new WasmLoadError(`instantiating ${WASM_FILES[variant]} failed`, e);
    }
    const version = ex.tsr_abi_version();
    if (version !== ABI_VERSION) throw new AbiVersionError(version);
    const arena = new Arena(memory, ex.tsr_heap_base());
    const stack = arena.alloc(STACK_BYTES, 16);
    ex.__stack_pointer.value = stack + STACK_BYTES;
    const sync = arena.alloc(SYNC_BYTES, 64);
    new Uint8Array(memory.buffer, sync, SYNC_BYTES).fill(0);
    return new WasmCore(module, memory, variant, ex, arena, sync);
  }

  /** Arena allocation above the heap base; grows memory; throws OutOfMemoryError past 4 GiB. */
  alloc(bytes: number, align = 64): number {
    return this.arena.alloc(bytes, align);
  }
  mark(): number {
    return this.arena.mark();
  }
  release(mark: number): void {
    this.arena.release(mark);
  }

  // Fresh views each call: memory.buffer is replaced when the memory grows.
  u8(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, len);
  }
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
  u32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, ptr, n);
  }

  /** Forces every kernel onto its scalar twin (tests). Applies to all threads sharing this memory. */
  setScalar(on: boolean): void {
    this.exports.tsr_set_scalar(on ? 1 : 0);
  }

  /** Runs the list (or its commands `first .. first+count`) on this thread alone. */
  run(cmds: CommandList, first = 0, count = cmds.count - first): void {
    try {
      this.exports.tsr_graph_run(cmds.ptr + first * CMD_WORDS * 4, count, 0, 1, this.sync);
    } catch (e) {
      throw e instanceof WebAssembly.RuntimeError ? new WasmTrapError(e) : e;
    }
  }
}
