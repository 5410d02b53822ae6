/** The WASM backend: ops recorded into a command list in WASM memory, executed by the thread pool. */
import { availableParallelism } from 'node:os';
import { RecordingBackend } from '../recorder.ts';
import type { GgmlType } from '../../gguf/types.ts';
import { repackPlan } from './repack.ts';
import { CommandList } from './commands.ts';
import { WasmCore, type CoreVariant } from './core.ts';
import { ThreadPool } from './pool.ts';

export { CoreTensor as WasmTensor, type OpProfile } from '../recorder.ts';

export interface WasmBackendOptions {
  threads?: number;
  variant?: 'auto' | CoreVariant;
  /** Repack Q4_0 matrices at load for the WASM MATMUL (repack.ts; default true). */
  repack?: boolean;
}

export class WasmBackend extends RecordingBackend {
  readonly name = 'wasm';

  private constructor(
    readonly core: WasmCore,
    private readonly pool: ThreadPool | null,
    cmds: CommandList,
    private readonly repackOn: boolean,
  ) {
    super(core, cmds);
  }

  protected override repackPlan(type: GgmlType, dims: readonly number[]) {
    return this.repackOn ? repackPlan(type, dims) : null;
  }

  protected override runNow(list: CommandList): void {
    this.core.run(list);
  }

  static async create(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
    const core = await WasmCore.load({ variant: opts.variant ?? 'auto' });
    const threads = Math.max(1, opts.threads ?? defaultThreads());
    const pool = threads > 1 ? await ThreadPool.create(core, threads) : null;
    return new WasmBackend(core, pool, new CommandList(core, 8192), opts.repack ?? true);
  }

  get nThreads(): number {
    return this.pool?.nThreads ?? 1;
  }

  get variant(): CoreVariant {
    return this.core.variant;
  }

  protected execute(first: number, count: number): void {
    if (this.pool) this.pool.run(this.cmds, first, count);
    else this.core.run(this.cmds, first, count);
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

/** Threads default to the number of cores. */
export function defaultThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? availableParallelism());
}
