/**
 * The contract with the CUDA library (wasm/cuda/tessera_cuda.cu, wasm/cuda/README.md): its exports and where
 * the committed libraries live. Change with `TSR_CUDA_ABI_VERSION` there.
 */

export const CUDA_ABI_VERSION = 1;

/** Op code of the device-side page copy the CUDA interpreter adds to the core's command list (copyPageBytes). */
export const OP_COPY = 64;

/** First arena offset handed out: 0 stays the null pointer word. */
export const CUDA_HEAP_BASE = 4096;

/** wasm/build-cuda.sh outputs per platform: the GPU library and its host emulation (tests without a GPU). */
export const CUDA_FILES: Record<string, { gpu: string; emu: string }> = {
  'linux-x64': { gpu: 'libtessera-cuda.so', emu: 'libtessera-cuda-emu.so' },
};

/** The exports, as JS functions over u32s. Calls returning a status give 0 on success, else see `error()`. */
export interface CudaExports {
  abiVersion(): number;
  emulated(): number;
  error(): string;
  deviceCount(): number;
  /** A context with a host mirror of `reserveMiB` MiB on CUDA device `device`; 0 on failure. */
  create(reserveMiB: number, device: number): number;
  /** MiB of device memory the context's arena holds. */
  deviceMiB(h: number): number;
  upload(h: number, off: number, bytes: number, top: number): number;
  hostRange(h: number, off: number, bytes: number, top: number): number;
  run(h: number, cmds: number, nCmds: number, top: number): number;
  destroy(h: number): void;
  /** An ArrayBuffer over host mirror bytes `[0, len)` of context `h` (no copy). */
  view(h: number, len: number): ArrayBuffer;
}
