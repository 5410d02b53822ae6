/**
 * The pool's worker side, and the ONE place that decides how a worker is started:
 * node:worker_threads where it can be imported (Node, Bun, Deno: all three implement it, with
 * `eval` and `unref()`, so a forgotten pool never keeps the process alive), a Web Worker otherwise
 * (browsers). Deno's Web Workers have no unref, which is why they are not the first choice.
 *
 * The worker's code is the plain-JS string below, started from a Blob URL (Web) or with
 * `eval: true` (Node), so it needs no file next to this module and works the same from
 * src/ (.ts, Bun/Deno/vitest) and dist/ (.js, Node).
 *
 * Protocol: the pool posts one {@link WorkerInit}; the worker instantiates the module on the
 * shared memory, installs its own stack, replies `ready`, then loops: wait until the control
 * word GEN changes, exit if QUIT is set, else `tsr_graph_run(CMDS, N_CMDS, ith, nth, sync)`.
 */

/** i32 word indices of the pool's control block (CTRL_BYTES in shared memory). */
export const CTRL = { GEN: 0, CMDS: 1, N_CMDS: 2, QUIT: 3 } as const;
export const CTRL_BYTES = 64;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Top of this worker's stack (the stack grows down). */
  stackTop: number;
  /** Byte address of the control block. */
  ctrl: number;
  /** Barrier block passed to tsr_graph_run. */
  sync: number;
  ith: number;
  nth: number;
  /** GEN at start: the worker runs on every later change. */
  gen: number;
  /** Milliseconds a worker keeps polling GEN after a run before it sleeps in Atomics.wait. */
  spinMs: number;
}

export type WorkerReply = { type: 'ready' } | { type: 'closed' } | { type: 'error'; message: string };

const WORKER_BODY = `
function start(init) {
  try {
    const inst = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
    const ex = inst.exports;
    ex.__stack_pointer.value = init.stackTop;
    const c = new Int32Array(init.memory.buffer, init.ctrl, 4);
    const run = ex.tsr_graph_run, ith = init.ith, nth = init.nth, sync = init.sync, spinMs = init.spinMs;
    let seen = init.gen;
    post({ type: 'ready' });
    for (;;) {
      // Poll for up to spinMs (clock read every 1024 polls), then sleep until notified.
      const until = performance.now() + spinMs;
      for (let i = 1; Atomics.load(c, 0) === seen; i++) {
        if ((i & 1023) === 0 && performance.now() > until) break;
      }
      Atomics.wait(c, 0, seen);
      const g = Atomics.load(c, 0);
      if (g === seen) continue;
      seen = g;
      if (Atomics.load(c, 3) !== 0) break;
      run(Atomics.load(c, 1) >>> 0, Atomics.load(c, 2), ith, nth, sync);
    }
    post({ type: 'closed' });
  } catch (e) {
    post({ type: 'error', message: String((e && e.stack) || e) });
  }
}
`;

const NODE_SOURCE = `
const { parentPort } = require('node:worker_threads');
const post = (m) => parentPort.postMessage(m);
parentPort.once('message', (init) => start(init));
${WORKER_BODY}`;

const WEB_SOURCE = `
const post = (m) => self.postMessage(m);
self.onmessage = (e) => { self.onmessage = null; start(e.data); };
${WORKER_BODY}`;

/** A started worker, whatever the runtime's worker API. */
export interface PoolWorker {
  post(init: WorkerInit): void;
  onReply(cb: (r: WorkerReply) => void): void;
  /** Resolves when the thread is gone. */
  terminate(): Promise<void>;
  /** Don't keep the process alive for this worker (Node, Bun; no-op where unsupported). */
  unref(): void;
}

type WorkerThreads = typeof import('node:worker_threads');
let workerThreads: Promise<WorkerThreads | undefined> | undefined;

/** Starts one worker: node:worker_threads if the runtime has it, else a Web Worker. */
export async function spawnWorker(): Promise<PoolWorker> {
  workerThreads ??= import('node:worker_threads').catch(() => undefined);
  const wt = await workerThreads;
  if (wt) return spawnNodeWorker(wt);
  if (typeof globalThis.Worker === 'function') return spawnWebWorker();
  throw new Error('no worker API in this runtime (neither node:worker_threads nor Worker)');
}

function spawnWebWorker(): PoolWorker {
  const url = URL.createObjectURL(new Blob([WEB_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url, { type: 'module' });
  let onReply: (r: WorkerReply) => void = () => {};
  w.onmessage = (e: MessageEvent<WorkerReply>) => {
    if (e.data.type !== 'closed') URL.revokeObjectURL(url);
    onReply(e.data);
  };
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault?.();
    onReply({ type: 'error', message: e.message ?? String(e) });
  };
  return {
    post: (init) => w.postMessage(init),
    onReply: (cb) => (onReply = cb),
    terminate: async () => w.terminate(),
    unref: () => (w as unknown as { unref?: () => void }).unref?.(),
  };
}

function spawnNodeWorker(wt: WorkerThreads): PoolWorker {
  const w = new wt.Worker(NODE_SOURCE, { eval: true });
  let onReply: (r: WorkerReply) => void = () => {};
  w.on('message', (m: WorkerReply) => onReply(m));
  w.on('error', (e: Error) => onReply({ type: 'error', message: String(e.stack ?? e) }));
  return {
    post: (init) => w.postMessage(init),
    onReply: (cb) => (onReply = cb),
    terminate: async () => {
      await w.terminate();
    },
    unref: () => w.unref(),
  };
}
