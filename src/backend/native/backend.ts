/** The native backend: the WASM backend's recorder over the native library's arena and threads. */
import { RecordingBackend } from '../recorder.ts';
import { CommandList } from '../wasm/commands.ts';
import { defaultThreads } from '../wasm/backend.ts';
import type { SimdLevel } from './abi.ts';
import { NativeCore } from './core.ts';

export interface NativeBackendOptions {
  /** Threads counting the caller (default: the number of cores). */
  threads?: number;
  /** 'auto' (default): the best library this CPU runs; a level forces that library (tests, benches). */
  simd?: 'auto' | SimdLevel;
  /** Arena reservation in MiB (default 4096). */
  reserveMiB?: number;
  /** A library file to open instead of the committed one (A/B benchmarks of two builds). */
  libraryFile?: string;
}

export class NativeBackend extends RecordingBackend {
  readonly name = 'native';

  private constructor(
    readonly core: NativeCore,
    cmds: CommandList,
  ) {
    super(core, cmds);
  }

  static async create(opts: NativeBackendOptions = {}): Promise<NativeBackend> {
    const core = await NativeCore.create({ threads: Math.max(1, opts.threads ?? defaultThreads()), simd: opts.simd, reserveMiB: opts.reserveMiB, libraryFile: opts.libraryFile });
    return new NativeBackend(core, new CommandList(core, 8192));
  }

  get nThreads(): number {
    return this.core.nThreads;
  }

  /** The SIMD level the loaded library was built for. */
  get simdLevel(): SimdLevel {
    return this.core.lib.level;
  }

  protected execute(first: number, count: number): void {
    this.core.run(this.cmds, first, count);
  }

  async close(): Promise<void> {
    this.core.close();
  }
}
