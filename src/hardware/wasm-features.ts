/**
 * WebAssembly features, each by a known-answer test (a tiny hand-assembled module that must compute a
 * known result), never by runtime name: simd128 (i32x4.mul), relaxed-simd (the i8 dot of
 * src/backend/wasm/core.ts, whose known-wrong implementations it catches), threads (a shared memory,
 * i32.atomic.rmw.add, Atomics.wait on it) and memory64 (a 64-bit-indexed memory, store and load).
 */
import { detectWasmFeatures } from '../backend/wasm/core.ts';

export interface WasmFeatureReport {
  simd128: boolean;
  relaxedSimd: boolean;
  threads: boolean;
  memory64: boolean;
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const TYPE_TO_I32 = [0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]; // type section: () -> i32
const TYPE_VOID = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00]; // () -> ()
const ONE_FUNC = [0x03, 0x02, 0x01, 0x00];
const EXPORT_F = [0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00]; // export "f" = func 0
/** import "e" "m": memory, flags (0 plain, 3 shared with max), min 1 (max 1). */
function memImport(flags: number): number[] {
  const entry = [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, flags, 0x01, 0x01];
  if (flags === 0x00) entry.splice(-1, 1);
  return [0x02, entry.length, ...entry];
}
function code(body: number[]): number[] {
  return [0x0a, body.length + 2, 0x01, body.length, ...body];
}
function instantiate(bytes: number[], imports: WebAssembly.Imports = {}): WebAssembly.Exports | null {
  const b = new Uint8Array(bytes);
  if (!WebAssembly.validate(b)) return null;
  return new WebAssembly.Instance(new WebAssembly.Module(b), imports).exports;
}

/** mem[32..48] = i32x4.mul(mem[0..16], mem[16..32]). */
function simd128Kat(): boolean {
  const m = new WebAssembly.Memory({ initial: 1 });
  const ex = instantiate(
    [...HEADER, ...TYPE_VOID, ...memImport(0), ...ONE_FUNC, ...EXPORT_F,
      ...code([0x00, 0x41, 0x20, 0x41, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x41, 0x10, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0xb5, 0x01, 0xfd, 0x0b, 0x04, 0x00, 0x0b])],
    { e: { m } },
  );
  if (!ex) return false;
  const a = [3, -7, 65536, 2147483647];
  const b = [5, 9, 65536, 2];
  const v = new Int32Array(m.buffer);
  v.set(a, 0);
  v.set(b, 4);
  (ex.f as () => void)();
  return a.every((x, i) => v[8 + i] === Math.imul(x, b[i]));
}

/** On a shared memory: f() = i32.atomic.rmw.add(mem[0], 5) returns the old value; then Atomics.wait sees the new one. */
function threadsKat(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  if (!(m.buffer instanceof SharedArrayBuffer)) return false;
  const ex = instantiate(
    [...HEADER, ...TYPE_TO_I32, ...memImport(0x03), ...ONE_FUNC, ...EXPORT_F,
      ...code([0x00, 0x41, 0x00, 0x41, 0x05, 0xfe, 0x1e, 0x02, 0x00, 0x0b])],
    { e: { m } },
  );
  if (!ex) return false;
  const v = new Int32Array(m.buffer);
  v[0] = 37;
  if ((ex.f as () => number)() !== 37 || Atomics.load(v, 0) !== 42) return false;
  try {
    // Workers (where the pool waits) may always block; a browser main thread may not, which is fine.
    return Atomics.wait(v, 0, 41, 0) === 'not-equal' && Atomics.wait(v, 0, 42, 0) === 'timed-out';
  } catch {
    return true;
  }
}

/** A memory64 memory (flags 0x04): f() = store i32 1234 at i64 address 8, load it back. */
function memory64Kat(): boolean {
  const ex = instantiate([
    ...HEADER, ...TYPE_TO_I32, ...ONE_FUNC,
    0x05, 0x03, 0x01, 0x04, 0x01, // memory section: one i64-indexed memory, min 1 page
    ...EXPORT_F,
    ...code([0x00, 0x42, 0x08, 0x41, 0xd2, 0x09, 0x36, 0x02, 0x00, 0x42, 0x08, 0x28, 0x02, 0x00, 0x0b]),
  ]);
  return !!ex && (ex.f as () => number)() === 1234;
}

function guarded(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

/** Each feature's known-answer test (a failure, or a trap, reads as absent). */
export function probeWasmFeatures(): WasmFeatureReport {
  return {
    simd128: guarded(simd128Kat),
    relaxedSimd: guarded(() => detectWasmFeatures().relaxedSimd),
    threads: guarded(threadsKat),
    memory64: guarded(memory64Kat),
  };
}
