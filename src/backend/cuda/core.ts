/**
 * The CUDA core: the committed library for this platform (or its host emulation), one context per backend, and
 * the arena the recorder allocates from. Pointer words are offsets shared by the host mirror (what the views see)
 * and the device arena (what the kernels see); wasm/cuda/README.md describes when bytes cross between them.
 */
import { TesseraError } from '../../errors.ts';
import { CMD_WORDS } from '../wasm/abi.ts';
import type { CommandList } from '../wasm/commands.ts';
import { MappedArena } from '../mapped-arena.ts';
import { platformKey } from '../native/core.ts';
import { CUDA_ABI_VERSION, CUDA_FILES, CUDA_HEAP_BASE, type CudaExports } from './abi.ts';
import { openCudaLibrary } from './ffi.ts';

/** No CUDA library for this platform, it could not be opened, or it found no device. */
export class CudaLoadError extends TesseraError {
  constructor(message: string, cause?: unknown) {
    super('cuda_load_failed', message, { cause });
  }
}

/** A CUDA call failed while running (a kernel fault, out of device memory, an unsupported op). */
export class CudaRuntimeError extends TesseraError {
  constructor(message: string) {
    super('cuda_error', message);
  }
}

/** wasm/dist/cuda relative to this file: from src/backend/cuda (Bun, Deno, vitest) or dist/src/backend/cuda (Node). */
const DIST_CANDIDATES = ['../../../wasm/dist/cuda/', '../../../../wasm/dist/cuda/'];

export type CudaLibraryKind = 'gpu' | 'emu';

export interface CudaLibrary {
  exports: CudaExports;
  kind: CudaLibraryKind;
  file: string;
}

const opened = new Map<CudaLibraryKind, Promise<CudaLibrary>>();

/** Opens the GPU library or its host emulation, once per process. */
export function loadCudaLibrary(kind: CudaLibraryKind = 'gpu'): Promise<CudaLibrary> {
  let p = opened.get(kind);
  if (!p) {
    p = (async () => {
      const files = CUDA_FILES[platformKey()];
      if (!files) throw new CudaLoadError(`no CUDA library for ${platformKey()}`);
      const { existsSync } = await import('node:fs');
      const { fileURLToPath } = await import('node:url');
      const tried = DIST_CANDIDATES.map((d) => fileURLToPath(new URL(`${d}${platformKey()}/${files[kind]}`, import.meta.url)));
      const file = tried.find((f) => existsSync(f));
      if (!file) throw new CudaLoadError(`CUDA library not found (tried ${tried.join(', ')}): run npm run build:cuda`);
      let exports: CudaExports;
      try {
        exports = await openCudaLibrary(file);
      } catch (e) {
        throw new CudaLoadError(`cannot open ${file}: ${(e as Error)?.message ?? e}`, e);
      }
      const v = exports.abiVersion();
      if (v !== CUDA_ABI_VERSION) throw new CudaLoadError(`${file} has CUDA ABI ${v}, these bindings need ${CUDA_ABI_VERSION}: rebuild with npm run build:cuda`);
      return { exports, kind, file };
    })();
    p.catch(() => opened.delete(kind));
    opened.set(kind, p);
  }
  return p;
}


export interface CudaCoreOptions {
  /** 'gpu' (default) or 'emu': the host emulation of the same kernels (tests without a GPU). */
  library?: CudaLibraryKind;
  device?: number;
  /** Arena reservation in MiB (virtual host mirror; the device arena grows to what is used). Default 4096. */
  reserveMiB?: number;
}

export class CudaCore extends MappedArena {
  private closed = false;

  private constructor(
    readonly lib: CudaLibrary,
    readonly handle: number,
    reserveBytes: number,
  ) {
    super((bytes) => lib.exports.view(handle, bytes), CUDA_HEAP_BASE, reserveBytes, 'cuda');
  }

  static async create(opts: CudaCoreOptions = {}): Promise<CudaCore> {
    const lib = await loadCudaLibrary(opts.library ?? 'gpu');
    const mib = Math.min(4096, Math.max(1, Math.floor(opts.reserveMiB ?? 4096)));
    const h = lib.exports.create(mib, opts.device ?? 0);
    if (!h) throw new CudaLoadError(`tsr_cuda_create(${mib} MiB, device ${opts.device ?? 0}) failed: ${lib.exports.error()}`);
    return new CudaCore(lib, h, mib * 2 ** 20);
  }

  get emulated(): boolean {
    return this.lib.kind === 'emu';
  }

  private check(status: number, what: string): void {
    if (status !== 0) throw new CudaRuntimeError(`cuda ${what}: ${this.lib.exports.error()}`);
  }

  /** Copies host mirror bytes to the device now (weights, once at load). */
  upload(ptr: number, bytes: number): void {
    this.live();
    this.check(this.lib.exports.upload(this.handle, ptr, bytes, this.arena.mark()), 'upload');
  }

  /** Marks `[ptr, ptr+bytes)` host-visible: uploaded before runs until an op writes it, downloaded after runs that do. */
  hostRange(ptr: number, bytes: number): void {
    this.live();
    this.check(this.lib.exports.hostRange(this.handle, ptr, bytes, this.arena.mark()), 'host range');
  }

  run(cmds: CommandList, first: number, count: number): void {
    this.live();
    this.check(this.lib.exports.run(this.handle, cmds.ptr + first * CMD_WORDS * 4, count, this.arena.mark()), 'run');
  }

  /** MiB of device memory the arena holds. */
  deviceMiB(): number {
    return this.lib.exports.deviceMiB(this.handle);
  }

  private live(): void {
    if (this.closed) throw new CudaRuntimeError('cuda core used after close()');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unmap();
    this.lib.exports.destroy(this.handle);
  }
}
