/**
 * The contract with the native library (wasm/ABI.md "Native library"): its exports, the arena
 * layout and where the committed libraries live. Change with `NATIVE_ABI_VERSION` in
 * wasm/src/native/ctx.rs.
 */

export const NATIVE_ABI_VERSION = 1;

/** First arena offset handed out: 0 stays the null pointer word. */
export const NATIVE_HEAP_BASE = 4096;

/** Default arena reservation (virtual; pages are committed on first touch). u32 offsets: at most 4 GiB. */
export const NATIVE_RESERVE_MIB = 4096;

/** `tsr_native_simd_level` / `tsr_native_cpu_level` numbering. */
export const SIMD_LEVELS = ['scalar', 'avx2', 'avx512', 'neon'] as const;
export type SimdLevel = (typeof SIMD_LEVELS)[number];

/** Library file per platform and SIMD level (wasm/build-native.sh); the first of each platform is the baseline that probes the CPU. */
export const NATIVE_FILES: Record<string, Partial<Record<SimdLevel, string>>> = {
  'linux-x64': { scalar: 'libtessera-x86-64.so', avx2: 'libtessera-x86-64-v3.so', avx512: 'libtessera-x86-64-v4.so' },
  'linux-arm64': { neon: 'libtessera-armv8.so' },
  'darwin-arm64': { neon: 'libtessera-armv8.dylib' },
};

/** The exports every FFI binding offers, as JS functions over u32s (`view` wraps the base pointer). */
export interface NativeExports {
  abiVersion(): number;
  simdLevel(): number;
  cpuLevel(): number;
  create(reserveMiB: number, nThreads: number): number;
  threads(h: number): number;
  /** Runs on `nth` threads (clamped to the context's). */
  run(h: number, cmds: number, nCmds: number, nth: number, sync: number): void;
  destroy(h: number): void;
  setScalar(on: number): void;
  /** An ArrayBuffer over arena bytes `[0, len)` of context `h` (no copy). */
  view(h: number, len: number): ArrayBuffer;
}
