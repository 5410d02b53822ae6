/**
 * The native core: the committed shared library for this platform (the best SIMD level the CPU
 * runs), one context per core (an arena this library maps, and its threads), and the arena and
 * host views the recorder builds on. Pointer words are arena offsets (wasm/ABI.md "Native library").
 */
import { TesseraError } from '../../errors.ts';
import { CMD_WORDS, SYNC_BYTES } from '../wasm/abi.ts';
import type { CommandList } from '../wasm/commands.ts';
import { MappedArena } from '../mapped-arena.ts';
import { NATIVE_ABI_VERSION, NATIVE_FILES, NATIVE_HEAP_BASE, NATIVE_RESERVE_MIB, SIMD_LEVELS, type NativeExports, type SimdLevel } from './abi.ts';
import { openLibrary } from './ffi.ts';

/** No library for this platform, or it could not be opened (FFI missing, permission, bad file). */
export class NativeLoadError extends TesseraError {
  constructor(message: string, cause?: unknown) {
    super('native_load_failed', message, { cause });
  }
}

/** wasm/dist/native relative to this file: from src/backend/native (Bun, Deno, vitest) or dist/src/backend/native (Node). */
const DIST_CANDIDATES = ['../../../wasm/dist/native/', '../../../../wasm/dist/native/'];

export function platformKey(): string {
  const p = (globalThis as { process?: { platform?: string; arch?: string } }).process;
  return `${p?.platform ?? 'unknown'}-${p?.arch ?? 'unknown'}`;
}

async function findFile(name: string): Promise<string> {
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const tried: string[] = [];
  for (const dir of DIST_CANDIDATES) {
    const path = fileURLToPath(new URL(`${dir}${platformKey()}/${name}`, import.meta.url));
    if (existsSync(path)) return path;
    tried.push(path);
  }
  throw new NativeLoadError(`native library ${name} not found (tried ${tried.join(', ')}): run npm run build:native`);
}

/** Whether the committed library for this platform is on disk (synchronous; no loading). */
export function nativeLibraryPresent(): boolean {
  const files = NATIVE_FILES[platformKey()];
  if (!files) return false;
  const name = Object.values(files)[0]!;
  try {
    const fs = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process?.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
    if (!fs) return true; // cannot tell: let loading report it
    return DIST_CANDIDATES.some((dir) => fs.existsSync(new URL(`${dir}${platformKey()}/${name}`, import.meta.url)));
  } catch {
    return false;
  }
}

export interface NativeLibrary {
  exports: NativeExports;
  level: SimdLevel;
  file: string;
}

const opened = new Map<string, Promise<NativeLibrary>>();

/** Opens the library of `level` ('auto': the best this CPU runs), once per process. */
export function loadNativeLibrary(level: 'auto' | SimdLevel = 'auto'): Promise<NativeLibrary> {
  let p = opened.get(level);
  if (!p) {
    p = (async () => {
      const files = NATIVE_FILES[platformKey()];
      if (!files) throw new NativeLoadError(`no native library for ${platformKey()}`);
      const open = async (lv: SimdLevel): Promise<NativeLibrary> => {
        const name = files[lv];
        if (!name) throw new NativeLoadError(`no ${lv} native library for ${platformKey()}`);
        return openNativeFile(await findFile(name));
      };
      if (level !== 'auto') {
        const lib = await open(level);
        const cpu = (await loadNativeLibrary('auto')).exports.cpuLevel();
        if (!runs(cpu, level)) throw new NativeLoadError(`this CPU cannot run the ${level} native library`);
        return lib;
      }
      // The baseline library (first listed) only uses instructions every CPU of the platform has.
      const levels = Object.keys(files) as SimdLevel[];
      const base = await open(levels[0]);
      const cpu = base.exports.cpuLevel();
      const best = [...levels].reverse().find((lv) => runs(cpu, lv));
      return best && best !== levels[0] ? open(best) : base;
    })();
    p.catch(() => opened.delete(level));
    opened.set(level, p);
  }
  return p;
}

/** Opens a library file directly (not cached; the caller checks the CPU runs it). */
export async function openNativeFile(file: string): Promise<NativeLibrary> {
  let exports: NativeExports;
  try {
    exports = await openLibrary(file);
  } catch (e) {
    throw new NativeLoadError(`cannot open ${file}: ${(e as Error)?.message ?? e}`, e);
  }
  const v = exports.abiVersion();
  if (v !== NATIVE_ABI_VERSION) throw new NativeLoadError(`${file} has native ABI ${v}, these bindings need ${NATIVE_ABI_VERSION}: rebuild with npm run build:native`);
  return { exports, level: SIMD_LEVELS[exports.simdLevel()] ?? 'scalar', file };
}

/** Whether a CPU of level `cpu` (tsr_native_cpu_level) runs code built for `lv`. */
function runs(cpu: number, lv: SimdLevel): boolean {
  const need = SIMD_LEVELS.indexOf(lv);
  if (lv === 'neon') return cpu === 3;
  return cpu !== 3 && cpu >= need;
}

export interface NativeCoreOptions {
  threads: number;
  simd?: 'auto' | SimdLevel;
  /** A library file to open instead of the committed one (A/B benchmarks of two builds). */
  libraryFile?: string;
  /** Arena reservation in MiB (virtual; default 4096, the u32 offset limit). */
  reserveMiB?: number;
}

/**
 * One context: arena + threads. The arena never moves, so views made before a growth stay valid
 * (unlike WASM memory); the `buffer` below only widens to cover what was handed out.
 */
export class NativeCore extends MappedArena {
  readonly sync: number;
  /** Threads of the context, counting the caller. */
  readonly maxThreads: number;
  private closed = false;

  private constructor(
    readonly lib: NativeLibrary,
    readonly handle: number,
    reserveBytes: number,
  ) {
    super((bytes) => lib.exports.view(handle, bytes), NATIVE_HEAP_BASE, reserveBytes, 'native');
    this.maxThreads = lib.exports.threads(handle);
    this.sync = this.arena.alloc(SYNC_BYTES, 64);
  }

  static async create(opts: NativeCoreOptions): Promise<NativeCore> {
    const lib = opts.libraryFile ? await openNativeFile(opts.libraryFile) : await loadNativeLibrary(opts.simd ?? 'auto');
    const mib = Math.min(4096, Math.max(1, Math.floor(opts.reserveMiB ?? NATIVE_RESERVE_MIB)));
    const h = lib.exports.create(mib, Math.max(1, opts.threads));
    if (!h) throw new NativeLoadError(`tsr_native_create(${mib} MiB, ${opts.threads} threads) failed: no address space or threads`);
    return new NativeCore(lib, h, mib * 2 ** 20);
  }

  get nThreads(): number {
    return this.maxThreads;
  }


  /** Forces every kernel onto its scalar twin (tests). Process-wide for this library. */
  setScalar(on: boolean): void {
    this.lib.exports.setScalar(on ? 1 : 0);
  }

  /** Runs commands `first .. first+count` of the list on `nth` threads (default: all the context's). */
  run(cmds: CommandList, first = 0, count = cmds.count - first, nth = this.maxThreads): void {
    if (this.closed) throw new NativeLoadError('native core used after close()');
    this.lib.exports.run(this.handle, cmds.ptr + first * CMD_WORDS * 4, count, nth, this.sync);
  }

  /** Duck-types WebAssembly.Memory's `buffer` for code that views the whole memory (tests, sharding). */
  get memory(): { readonly buffer: ArrayBuffer } {
    return { buffer: this.buf };
  }

  /** Joins the threads and unmaps the arena: every view of it is invalid afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unmap(); // new views throw instead of reading unmapped memory
    this.lib.exports.destroy(this.handle);
  }
}
