/**
 * Helpers for tests of the WASM core's kernels: load a variant, copy arrays in and out,
 * run one op on 1..n threads, scalar twin or SIMD.
 *
 * @example
 * const core = await loadCore('simd');
 * const x = writeF32(core, new Float32Array([1, 2, 3]));
 * const y = core.alloc(12);
 * await runOp(core, Op.SILU, [x, y, 3], { scalar: true });
 * readF32(core, y, 3);
 */
import { afterAll } from 'vitest';
import { CommandList } from '../../src/backend/wasm/commands.ts';
import { WasmCore, detectWasmFeatures, type CoreVariant } from '../../src/backend/wasm/core.ts';
import { ThreadPool } from '../../src/backend/wasm/pool.ts';
import { NativeCore, nativeLibraryPresent } from '../../src/backend/native/core.ts';

export { Op } from '../../src/backend/wasm/abi.ts';
export const f32bits = CommandList.f32bits;

/** A core variant under test: a WASM build, or 'native' (the shared library over FFI, same kernels and commands). */
export type TestVariant = CoreVariant | 'native';
/** What the kernel tests drive: both offer alloc, typed views, `memory.buffer`, setScalar and run. */
export type TestCore = WasmCore | NativeCore;

/** Most threads a test asks of the native core (its context is created with this many). */
const NATIVE_TEST_THREADS = 4;

/**
 * Variants this runtime can run (relaxed only where its known-answer test passes), plus 'native' where
 * the committed library for this platform exists (TESSERA_TEST_NATIVE=0 leaves it out).
 */
export function availableVariants(): TestVariant[] {
  const v: TestVariant[] = detectWasmFeatures().relaxedSimd ? ['simd', 'relaxed'] : ['simd'];
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.TESSERA_TEST_NATIVE !== '0' && nativeLibraryPresent()) v.push('native');
  return v;
}

const cores = new Map<string, Promise<TestCore>>();
const pools = new Map<TestCore, Map<number, Promise<ThreadPool>>>();
const lists = new Map<TestCore, CommandList>();

/** One core per variant per test file (cached); pools created by runOp are closed after the file. */
export function loadCore(variant: 'native'): Promise<NativeCore>;
export function loadCore(variant?: CoreVariant | 'auto'): Promise<WasmCore>;
export function loadCore(variant: TestVariant | 'auto'): Promise<TestCore>;
export function loadCore(variant: TestVariant | 'auto' = 'auto'): Promise<TestCore> {
  let c = cores.get(variant);
  if (!c) {
    c = variant === 'native' ? NativeCore.create({ threads: NATIVE_TEST_THREADS }) : WasmCore.load({ variant });
    cores.set(variant, c);
  }
  return c;
}

afterAll(async () => {
  for (const byN of pools.values()) for (const p of byN.values()) await (await p).close();
  pools.clear();
  const native = cores.get('native');
  cores.delete('native');
  if (native) (await native as NativeCore).close();
});

/** Copies `data` into fresh arena memory; returns its pointer. */
export function writeF32(core: TestCore, data: ArrayLike<number>): number {
  const ptr = core.alloc(Math.max(4, data.length * 4));
  core.f32(ptr, data.length).set(data);
  return ptr;
}
export function writeI32(core: TestCore, data: ArrayLike<number>): number {
  const ptr = core.alloc(Math.max(4, data.length * 4));
  core.i32(ptr, data.length).set(data);
  return ptr;
}
export function writeBytes(core: TestCore, data: Uint8Array): number {
  const ptr = core.alloc(Math.max(1, data.length));
  core.u8(ptr, data.length).set(data);
  return ptr;
}
/** A copy of n floats at ptr. */
export function readF32(core: TestCore, ptr: number, n: number): Float32Array {
  return core.f32(ptr, n).slice();
}

/** Runs a command list on `threads` threads: a ThreadPool (WASM) or the native core's own. */
export interface TestPool {
  run(cmds: CommandList, first?: number, count?: number): void;
}

/** A pool of `threads` on `core`, shared by the test file (native: its context's threads). */
export function poolFor(core: WasmCore, threads: number): Promise<ThreadPool>;
export function poolFor(core: TestCore, threads: number): Promise<TestPool>;
export function poolFor(core: TestCore, threads: number): Promise<TestPool> {
  if (core instanceof NativeCore) {
    if (threads > core.maxThreads) throw new RangeError(`native test core has ${core.maxThreads} threads, ${threads} asked`);
    return Promise.resolve({ run: (cl, first = 0, count = cl.count - first) => core.run(cl, first, count, threads) });
  }
  let byN = pools.get(core);
  if (!byN) pools.set(core, (byN = new Map()));
  let p = byN.get(threads);
  if (!p) {
    p = ThreadPool.create(core, threads);
    byN.set(threads, p);
  }
  return p;
}

/**
 * Runs one command `op args…` (args: words 1.., f32 arguments already as `f32bits`).
 * threads > 1 runs it on a pool; scalar forces the scalar twins for this call.
 */
export async function runOp(
  core: TestCore,
  op: number,
  args: number[],
  opts: { threads?: number; scalar?: boolean } = {},
): Promise<void> {
  let cl = lists.get(core);
  if (!cl) lists.set(core, (cl = new CommandList(core, 1)));
  cl.reset();
  const a = (i: number) => args[i] ?? 0;
  cl.push(op, a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11), a(12), a(13), a(14));
  const threads = opts.threads ?? 1;
  core.setScalar(opts.scalar ?? false);
  try {
    if (threads > 1) (await poolFor(core, threads)).run(cl);
    else if (core instanceof NativeCore) core.run(cl, 0, cl.count, 1);
    else core.run(cl);
  } finally {
    core.setScalar(false);
  }
}

/** Deterministic uniform floats in [lo, hi) (mulberry32). */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}
