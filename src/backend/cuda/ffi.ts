/**
 * Opens the CUDA library with the runtime's own FFI, as the native backend does (../native/ffi.ts): `bun:ffi`,
 * `Deno.dlopen` (--allow-ffi) or koffi (Node).
 */
import { ffiKind } from '../native/ffi.ts';
import type { CudaExports } from './abi.ts';

type Sig = { args: string[]; ret: 'u32' | 'void' | 'ptr' | 'cstr' };
const SIGS: Record<string, Sig> = {
  tsr_cuda_abi_version: { args: [], ret: 'u32' },
  tsr_cuda_emulated: { args: [], ret: 'u32' },
  tsr_cuda_error: { args: [], ret: 'cstr' },
  tsr_cuda_device_count: { args: [], ret: 'u32' },
  tsr_cuda_create: { args: ['u32', 'u32'], ret: 'u32' },
  tsr_cuda_base: { args: ['u32'], ret: 'ptr' },
  tsr_cuda_device_bytes: { args: ['u32'], ret: 'u32' },
  tsr_cuda_upload: { args: ['u32', 'u32', 'u32', 'u32'], ret: 'u32' },
  tsr_cuda_host_range: { args: ['u32', 'u32', 'u32', 'u32'], ret: 'u32' },
  tsr_cuda_run: { args: ['u32', 'u32', 'u32', 'u32'], ret: 'u32' },
  tsr_cuda_destroy: { args: ['u32'], ret: 'void' },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...a: any[]) => any;

function wrap(f: Record<string, Fn>, view: (base: unknown, len: number) => ArrayBuffer, cstr: (p: unknown) => string): CudaExports {
  return {
    abiVersion: f.tsr_cuda_abi_version,
    emulated: f.tsr_cuda_emulated,
    error: () => cstr(f.tsr_cuda_error()),
    deviceCount: f.tsr_cuda_device_count,
    create: f.tsr_cuda_create,
    deviceMiB: f.tsr_cuda_device_bytes,
    upload: f.tsr_cuda_upload,
    hostRange: f.tsr_cuda_host_range,
    run: f.tsr_cuda_run,
    destroy: f.tsr_cuda_destroy,
    view: (h, len) => view(f.tsr_cuda_base(h), len),
  };
}

/** Opens `path` and binds the exports; throws what the FFI throws. */
export async function openCudaLibrary(path: string): Promise<CudaExports> {
  const kind = ffiKind();
  if (kind === 'bun') {
    const spec = 'bun:ffi';
    const ffi = await import(spec);
    const map = (t: string) => (t === 'ptr' || t === 'cstr' ? 'ptr' : t === 'void' ? 'void' : 'u32');
    const defs = Object.fromEntries(Object.entries(SIGS).map(([k, s]) => [k, { args: s.args.map(map), returns: map(s.ret) }]));
    const lib = ffi.dlopen(path, defs);
    return wrap(lib.symbols, (base, len) => ffi.toArrayBuffer(base, 0, len), (p) => new ffi.CString(p).toString());
  }
  if (kind === 'deno') {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const Deno = (globalThis as any).Deno;
    const map = (t: string) => (t === 'ptr' || t === 'cstr' ? 'pointer' : t);
    const defs = Object.fromEntries(Object.entries(SIGS).map(([k, s]) => [k, { parameters: s.args.map(map), result: map(s.ret) }]));
    const lib = Deno.dlopen(path, defs);
    return wrap(lib.symbols, (base, len) => Deno.UnsafePointerView.getArrayBuffer(base, len), (p) => (p ? Deno.UnsafePointerView.getCString(p) : ''));
  }
  const spec = 'koffi';
  const mod = await import(spec);
  const koffi = mod.default ?? mod;
  const lib = koffi.load(path);
  const ctype = (t: string) => (t === 'ptr' ? 'void *' : t === 'cstr' ? 'const char *' : t === 'void' ? 'void' : 'uint32_t');
  const f: Record<string, Fn> = {};
  for (const [k, s] of Object.entries(SIGS)) f[k] = lib.func(k, ctype(s.ret), s.args.map(ctype));
  (f as { lib?: unknown }).lib = lib; // koffi unloads a library nothing refers to
  return wrap(f, (base, len) => koffi.view(base, len), (s) => String(s ?? ''));
}
