/**
 * Runs command lists on several threads: the main thread is `ith = 0`, workers `1..n-1`, all
 * instances of the same module on the same shared memory, each with its own stack.
 * `run` is synchronous: it wakes the workers (control block + Atomics.notify), runs its own
 * share, and returns after the list's final barrier, i.e. when every thread has finished it.
 * Nothing is allocated per run.
 *
 * @example
 * const pool = await ThreadPool.create(core, 2);
 * pool.run(cmds);
 * await pool.close();
 */
import { TesseraError } from '../../errors.ts';
import { CMD_WORDS, STACK_BYTES, SYNC_BYTES } from './abi.ts';
import type { CommandList } from './commands.ts';
import { WasmTrapError, type WasmCore } from './core.ts';
import { CTRL, CTRL_BYTES, spawnWorker, type PoolWorker, type WorkerReply } from './worker.ts';

/** A worker failed to start or died, or the pool was used after close(). */
export class ThreadPoolError extends TesseraError {
  constructor(message: string) {
    super('thread_pool', message);
  }
}

export interface ThreadPoolOptions {
  /**
   * How long (ms) an idle worker keeps polling for the next run before it sleeps. Waking a
   * sleeping worker costs ~0.25–0.4 ms on an idle 16-core x86 box (Node 20), polling costs one
   * core per worker meanwhile. Default 2: covers the gap between decode steps.
   */
  spinMs?: number;
}

/** Hardware threads of this machine (navigator.hardwareConcurrency, or node:os). */
export async function defaultThreadCount(): Promise<number> {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  if (n && n > 0) return n;
  try {
    const os = await import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  } catch {
    return 1;
  }
}

export class ThreadPool {
  private closed = false;
  private failure: string | undefined;

  private constructor(
    private readonly core: WasmCore,
    readonly nThreads: number,
    private readonly workers: PoolWorker[],
    /** i32 view of the control block (CTRL word indices). */
    private readonly ctrl: Int32Array,
    private readonly sync: number,
    private readonly exited: Promise<void>[],
  ) {}

  static async create(core: WasmCore, nThreads?: number, opts: ThreadPoolOptions = {}): Promise<ThreadPool> {
    const n = Math.max(1, Math.floor(nThreads ?? (await defaultThreadCount())));
    const ctrlPtr = core.alloc(CTRL_BYTES, 64);
    const sync = core.alloc(SYNC_BYTES, 64);
    core.u8(ctrlPtr, CTRL_BYTES).fill(0);
    core.u8(sync, SYNC_BYTES).fill(0);
    const ctrl = core.i32(ctrlPtr, CTRL_BYTES / 4);
    const workers: PoolWorker[] = [];
    const exited: Promise<void>[] = [];
    const pool = new ThreadPool(core, n, workers, ctrl, sync, exited);
    try {
      const ready: Promise<void>[] = [];
      for (let ith = 1; ith < n; ith++) {
        const w = await spawnWorker();
        workers.push(w);
        let settle!: (r: WorkerReply) => void;
        const first = new Promise<WorkerReply>((res) => (settle = res));
        let onExit!: () => void;
        exited.push(new Promise<void>((res) => (onExit = res)));
        w.onReply((r) => {
          if (r.type === 'error') pool.failure ??= `worker ${ith}: ${r.message}`;
          if (r.type === 'closed' || r.type === 'error') onExit();
          settle(r);
        });
        const stack = core.alloc(STACK_BYTES, 16);
        w.post({
          module: core.module, memory: core.memory, stackTop: stack + STACK_BYTES, ctrl: ctrlPtr, sync,
          ith, nth: n, gen: Atomics.load(ctrl, CTRL.GEN), spinMs: opts.spinMs ?? 2,
        });
        ready.push(
          first.then((r) => {
            if (r.type !== 'ready') throw new ThreadPoolError(`worker ${ith} failed to start: ${r.type === 'error' ? r.message : r.type}`);
          }),
        );
      }
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    for (const w of workers) w.unref();
    return pool;
  }

  /** Runs the list (or its commands `first .. first+count`) on all threads; returns when every thread has finished. */
  run(cmds: CommandList, first = 0, count = cmds.count - first): void {
    if (this.closed) throw new ThreadPoolError('thread pool is closed');
    if (this.failure) throw new ThreadPoolError(this.failure);
    if (this.nThreads === 1) return this.core.run(cmds, first, count);
    if (count <= 0) return;
    const c = this.ctrl;
    const at = cmds.ptr + first * CMD_WORDS * 4;
    Atomics.store(c, CTRL.CMDS, at | 0);
    Atomics.store(c, CTRL.N_CMDS, count);
    Atomics.add(c, CTRL.GEN, 1);
    Atomics.notify(c, CTRL.GEN);
    try {
      this.core.exports.tsr_graph_run(at, count, 0, this.nThreads, this.sync);
    } catch (e) {
      // Workers may now be stuck at a barrier: the pool is unusable.
      this.failure = `main thread trapped: ${(e as Error).message}`;
      void this.close();
      throw e instanceof WebAssembly.RuntimeError ? new WasmTrapError(e) : e;
    }
  }

  /** Stops the workers and waits until they are gone. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, CTRL.QUIT, 1);
    Atomics.add(this.ctrl, CTRL.GEN, 1);
    Atomics.notify(this.ctrl, CTRL.GEN);
    // A ref'd timer keeps the event loop alive while the unref'd workers say goodbye.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((res) => (timer = setTimeout(res, 1000)));
    await Promise.race([Promise.all(this.exited), grace]);
    clearTimeout(timer);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
