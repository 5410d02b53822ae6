/**
 * The contract with the Rust core (wasm/ABI.md): version, op codes, type ids, command layout
 * and the exports every instance has. Change together with `ABI_VERSION` in wasm/src/lib.rs.
 */

export const ABI_VERSION = 2;

/** u32 words per command: word 0 the op code, words 1..15 its arguments. */
export const CMD_WORDS = 16;

/** Bytes of MATMUL's `scratch` that cover `nTok` rows of `nIn` values for every weight type (ABI.md, MATMUL: Q8 blocks with their wasm i16 copy take up to 3.5 per value, Q8_K 292/256, F16/BF16 2). */
export function matmulScratchBytes(nTok: number, nIn: number): number {
  return nTok * nIn * 4;
}
/** Bytes of a barrier block (`sync` argument of tsr_graph_run), zeroed at allocation. */
export const SYNC_BYTES = 64;
/** Stack given to every instance (main thread and each worker); see wasm/README.md "Stacks". */
export const STACK_BYTES = 1 << 20;

/** Op codes (ABI.md "Command lists"); arguments are listed there. */
export const Op = {
  MATMUL: 1,
  GET_ROWS: 2,
  RMSNORM: 3,
  ROPE: 4,
  SOFTMAX: 5,
  SILU: 6,
  SWIGLU: 7,
  GELU: 8,
  ADD: 9,
  MUL: 10,
  SCALE: 11,
  KV_STORE: 12,
  ATTENTION: 13,
  SOFTCAP: 14,
  NORM: 15,
  REPACK: 16,
  IMAGE_RESAMPLE: 40,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** ggml type ids the core understands (same numbers as `GgmlType` in src/gguf/types.ts). */
export const CoreType = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, IQ4_NL: 20, IQ4_XS: 23, BF16: 30 } as const;
export type CoreTypeId = (typeof CoreType)[keyof typeof CoreType];

/** `tsr_features()` bits. */
export const Feature = { RELAXED_SIMD: 1 } as const;

/** What an instance of either variant exports. Pointers and counts are u32. */
export interface CoreExports {
  tsr_abi_version(): number;
  tsr_heap_base(): number;
  tsr_features(): number;
  tsr_set_scalar(on: number): void;
  tsr_graph_run(cmds: number, nCmds: number, ith: number, nth: number, sync: number): void;
  tsr_kat_relaxed_dot(): number;
  /** wasm-ld's shadow stack pointer, exported so each instance can get its own stack. */
  __stack_pointer: WebAssembly.Global;
}

/** Export names the loader and tests rely on (ABI.md "Exports" plus the stack pointer). */
export const EXPORT_NAMES = [
  'tsr_abi_version',
  'tsr_heap_base',
  'tsr_features',
  'tsr_set_scalar',
  'tsr_graph_run',
  'tsr_kat_relaxed_dot',
  '__stack_pointer',
] as const;

/** File names under wasm/dist. */
export const WASM_FILES = { simd: 'tessera-simd.wasm', relaxed: 'tessera-relaxed.wasm' } as const;
