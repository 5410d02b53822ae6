/**
 * Opens the native library with the runtime's own FFI: `bun:ffi` (Bun), `Deno.dlopen` (Deno,
 * needs --allow-ffi) or koffi (Node). Each binding exposes the same `NativeExports`.
 */
import type { NativeExports } from './abi.ts';

type Sig = { args: string[]; ret: string };
const SIGS: Record<string, Sig> = {
  tsr_native_abi_version: { args: [], ret: 'u32' },
  tsr_native_simd_level: { args: [], ret: 'u32' },
  tsr_native_cpu_level: { args: [], ret: 'u32' },
  tsr_native_create: { args: ['u32', 'u32'], ret: 'u32' },
  tsr_native_threads: { args: ['u32'], ret: 'u32' },
  tsr_native_base: { args: ['u32'], ret: 'ptr' },
  tsr_native_run: { args: ['u32', 'u32', 'u32', 'u32', 'u32'], ret: 'void' },
  tsr_native_destroy: { args: ['u32'], ret: 'void' },
  tsr_set_scalar: { args: ['u32'], ret: 'void' },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...a: any[]) => any;

function wrap(f: Record<string, Fn>, view: (base: unknown, len: number) => ArrayBuffer): NativeExports {
  return {
    abiVersion: f.tsr_native_abi_version,
    simdLevel: f.tsr_native_simd_level,
    cpuLevel: f.tsr_native_cpu_level,
    create: f.tsr_native_create,
    threads: f.tsr_native_threads,
    run: f.tsr_native_run,
    destroy: f.tsr_native_destroy,
    setScalar: f.tsr_set_scalar,
    view: (h, len) => view(f.tsr_native_base(h), len),
  };
}

export type FfiKind = 'bun' | 'deno' | 'koffi';

/** Which FFI this runtime gets. */
export function ffiKind(): FfiKind {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  return g.Bun ? 'bun' : g.Deno ? 'deno' : 'koffi';
}

/** Opens `path` and binds the exports; throws what the FFI throws. */
export async function openLibrary(path: string): Promise<NativeExports> {
  const kind = ffiKind();
  if (kind === 'bun') {
    const spec = 'bun:ffi';
    const ffi = await import(spec);
    const map = (t: string) => (t === 'ptr' ? 'ptr' : t === 'void' ? 'void' : 'u32');
    const defs = Object.fromEntries(Object.entries(SIGS).map(([k, s]) => [k, { args: s.args.map(map), returns: map(s.ret) }]));
    const lib = ffi.dlopen(path, defs);
    return wrap(lib.symbols, (base, len) => ffi.toArrayBuffer(base, 0, len));
  }
  if (kind === 'deno') {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const Deno = (globalThis as any).Deno;
    const map = (t: string) => (t === 'ptr' ? 'pointer' : t);
    const defs = Object.fromEntries(Object.entries(SIGS).map(([k, s]) => [k, { parameters: s.args.map(map), result: map(s.ret) }]));
    const lib = Deno.dlopen(path, defs);
    return wrap(lib.symbols, (base, len) => Deno.UnsafePointerView.getArrayBuffer(base, len));
  }
  const spec = 'koffi';
  const mod = await import(spec);
  const koffi = mod.default ?? mod;
  const lib = koffi.load(path);
  const ctype = (t: string) => (t === 'ptr' ? 'void *' : t === 'void' ? 'void' : 'uint32_t');
  const f: Record<string, Fn> = {};
  for (const [k, s] of Object.entries(SIGS)) f[k] = lib.func(k, ctype(s.ret), s.args.map(ctype));
  // Keep the library referenced: koffi unloads it when nothing refers to it.
  (f as { lib?: unknown }).lib = lib;
  return wrap(f, (base, len) => koffi.view(base, len));
}
