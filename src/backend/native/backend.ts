/** The native backend: the WASM backend's recorder over the native library's arena and threads. */
import { RecordingBackend } from '../recorder.ts';
import { CommandList } from '../wasm/commands.ts';
import { defaultThreads } from '../wasm/backend.ts';
import type { SimdLevel } from './abi.ts';
import { NativeCore } from './core.ts';
import { repackPlan } from '../wasm/repack.ts';
import { GgmlType } from '../../gguf/types.ts';

/** Types the AVX2 tiles read in a 4-row layout (Q4_0X4; the K-quants interleaved: wasm/src/ops/matmul/x86): repacked at load where they run. */
const X4_TYPES = new Set<GgmlType>([GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K]);

export interface NativeBackendOptions {
  /** Threads counting the caller (default: the number of cores). */
  threads?: number;
  /** 'auto' (default): the best library this CPU runs; a level forces that library (tests, benches). */
  simd?: 'auto' | SimdLevel;
  /** Arena reservation in MiB (default 4096). */
  reserveMiB?: number;
  /** A library file to open instead of the committed one (A/B benchmarks of two builds). */
  libraryFile?: string;
  /** Repack Q4_0/Q4_K/Q6_K matrices at load into their 4-row layouts (default: where the AVX2 tiles run). */
  repack?: boolean;
}

export class NativeBackend extends RecordingBackend {
  readonly name = 'native';

  private constructor(
    readonly core: NativeCore,
    cmds: CommandList,
    private readonly repackOn: boolean,
  ) {
    super(core, cmds);
  }

  protected override repackPlan(type: GgmlType, dims: readonly number[]) {
    return this.repackOn && X4_TYPES.has(type) ? repackPlan(type, dims) : null;
  }

  protected override runNow(list: CommandList): void {
    this.core.run(list, 0, list.count, 1);
  }

  static async create(opts: NativeBackendOptions = {}): Promise<NativeBackend> {
    const core = await NativeCore.create({ threads: Math.max(1, opts.threads ?? defaultThreads()), simd: opts.simd, reserveMiB: opts.reserveMiB, libraryFile: opts.libraryFile });
    const simdTiles = core.lib.level === 'avx2' || core.lib.level === 'avx512';
    return new NativeBackend(core, new CommandList(core, 8192), opts.repack ?? simdTiles);
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
