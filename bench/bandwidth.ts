/**
 * Memory bandwidth of this machine, measured in the benchmark's own run: a streaming read (sum) over a buffer much
 * larger than the caches, split across T worker threads, best of several passes (interference only slows a pass).
 *
 * The kernel is a hand-assembled WASM SIMD function, so the number is what WASM code can read, with no compiler
 * needed: sum(start, end) adds the buffer as i32x4 vectors into 4 accumulators, 128 bytes per loop iteration.
 * The buffer is written before it is read; untouched pages would all map the kernel's zero page and read from cache.
 */
import { Worker } from 'node:worker_threads';
import { BenchError } from './errors.ts';

export interface BandwidthResult {
  threads: number;
  /** Best pass, 1e9 bytes per second. */
  gbPerS: number;
  /** Every pass, 1e9 bytes per second. */
  passes: number[];
  bufferBytes: number;
}

const PAGE = 65536;
/** Bytes consumed by one iteration of the kernel's loop. */
const STRIDE = 128;

/** WASM module: imports env.memory (shared, max 4 GiB); exports sum(start: i32, end: i32) → i32 (lane 0 of the vector sum). */
export function sumModuleBytes(): Uint8Array<ArrayBuffer> {
  const load = (acc: number, offset: number): number[] => [
    0x20, acc, 0x20, 0x00, 0xfd, 0x00, 0x04, offset, // local.get acc; local.get p; v128.load align=16 offset
    0xfd, 0xae, 0x01, 0x21, acc, //                       i32x4.add; local.set acc
  ];
  const body = [
    0x01, 0x04, 0x7b, // locals: 4 × v128 (indices 2..5)
    0x03, 0x40, // loop
    ...load(2, 0), ...load(3, 16), ...load(4, 32), ...load(5, 48),
    ...load(2, 64), ...load(3, 80), ...load(4, 96), ...load(5, 112),
    0x20, 0x00, 0x41, 0x80, 0x01, 0x6a, 0x22, 0x00, // p += 128 (local.tee p)
    0x20, 0x01, 0x49, 0x0d, 0x00, // br_if 0 (p < end, unsigned)
    0x0b, // end loop
    0x20, 0x02, 0x20, 0x03, 0xfd, 0xae, 0x01, 0x20, 0x04, 0xfd, 0xae, 0x01, 0x20, 0x05, 0xfd, 0xae, 0x01,
    0xfd, 0x1b, 0x00, // i32x4.extract_lane 0
    0x0b,
  ];
  const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
  const str = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]),
    ...section(2, [0x01, ...str('env'), ...str('memory'), 0x02, 0x03, ...leb(1), ...leb(65536)]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...str('sum'), 0x00, 0x00]),
    ...section(10, [0x01, ...leb(body.length), ...body]),
  ]);
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** The kernel's answer computed in JS: sum (mod 2^32) of the i32 words at indices ≡ 0 (mod 4) in [start, end). */
function referenceSum(words: Int32Array, start: number, end: number): number {
  let s = 0;
  for (let i = start / 4; i < end / 4; i += 4) s = (s + words[i]) | 0;
  return s;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, control, index, start, end } = workerData;
const sum = new WebAssembly.Instance(module, { env: { memory } }).exports.sum;
const ctl = new Int32Array(control); // [0] generation (-1: quit), [1] workers done, [2 + index] checksum
let generation = 0;
for (;;) {
  Atomics.wait(ctl, 0, generation);
  generation = Atomics.load(ctl, 0);
  if (generation < 0) break;
  ctl[2 + index] = sum(start, end);
  Atomics.add(ctl, 1, 1);
  Atomics.notify(ctl, 1);
}
`;

/** Measures read bandwidth for each thread count in `threadCounts`, on one buffer of `bufferBytes` (rounded down to 64 KiB). */
export async function measureBandwidth(threadCounts: number[], bufferBytes = 1 << 30, passes = 7): Promise<BandwidthResult[]> {
  const bytes = Math.floor(bufferBytes / PAGE) * PAGE;
  const module = new WebAssembly.Module(sumModuleBytes());
  // Data lives in [PAGE, PAGE + bytes); page 0 is left alone.
  const memory = new WebAssembly.Memory({ initial: bytes / PAGE + 1, maximum: bytes / PAGE + 1, shared: true });
  const words = new Int32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = (i * 2654435761) | 0;

  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports.sum as (s: number, e: number) => number;
  const check = [PAGE, PAGE + 64 * STRIDE];
  if (kernel(check[0], check[1]) !== referenceSum(words, check[0], check[1])) {
    throw new BenchError('bandwidth kernel disagrees with its JS reference');
  }

  const results: BandwidthResult[] = [];
  for (const t of threadCounts) {
    const slice = Math.floor(bytes / t / STRIDE) * STRIDE;
    const control = new SharedArrayBuffer(4 * (2 + t));
    const ctl = new Int32Array(control);
    const workers: Worker[] = [];
    const online: Promise<void>[] = [];
    for (let i = 0; i < t; i++) {
      const start = PAGE + i * slice;
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, module, control, index: i, start, end: start + slice } });
      online.push(new Promise((resolve, reject) => { w.once('online', () => resolve()); w.once('error', reject); }));
      workers.push(w);
    }
    await Promise.all(online);
    const gbs: number[] = [];
    for (let p = 0; p < passes + 1; p++) {
      Atomics.store(ctl, 1, 0);
      const t0 = performance.now();
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      for (let done = 0; done < t; done = Atomics.load(ctl, 1)) Atomics.wait(ctl, 1, done, 10_000);
      const ms = performance.now() - t0;
      if (p > 0) gbs.push((slice * t) / ms / 1e6); // pass 0 warms the workers' code
    }
    for (let i = 0; i < t; i++) {
      if (ctl[2 + i] !== referenceSum(words, PAGE + i * slice, PAGE + (i + 1) * slice)) {
        throw new BenchError(`bandwidth worker ${i} of ${t} read a wrong checksum`);
      }
    }
    Atomics.store(ctl, 0, -1);
    Atomics.notify(ctl, 0);
    await Promise.all(workers.map((w) => w.terminate()));
    results.push({ threads: t, gbPerS: Math.max(...gbs), passes: gbs, bufferBytes: slice * t });
  }
  return results;
}
