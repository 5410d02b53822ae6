/**
 * Browser shims that let @wllama/wllama (a browser library) run under Deno. Import this before '@wllama/wllama'.
 *
 * Why Deno: wllama ≥ 3 ships one wasm build that needs memory64 and JSPI (WebAssembly.Suspending); Node 20 has
 * memory64 only behind a flag and Bun only with BUN_JSC_useWasmMemory64=1, while Deno 2 has both, plus module Web
 * Workers and blob: URLs that emscripten's pthreads need.
 *
 * What is shimmed:
 *  - `location`: wllama resolves asset URLs against self.location.href, which Deno leaves unset without --location.
 *  - JavaScript Blobs get a prelude, so every worker wllama starts (its main worker and emscripten's pthread workers,
 *    all created from text/javascript Blobs) sees:
 *      - no `process` global: Deno defines one, and emscripten then believes it runs in Node and calls require();
 *      - a Worker that is always a module worker: emscripten starts classic workers, which Deno does not support.
 */
const WORKER_PRELUDE = `
Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
if (globalThis.Worker) {
  const NativeWorker = globalThis.Worker;
  globalThis.Worker = class extends NativeWorker {
    constructor(url, options) {
      const { workerData, ...rest } = options ?? {};
      super(url, { ...rest, type: 'module' });
    }
  };
}
`;

const NativeBlob = globalThis.Blob;
globalThis.Blob = class extends NativeBlob {
  constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
    super(options?.type === 'text/javascript' ? [WORKER_PRELUDE, ...(parts ?? [])] : parts, options);
  }
} as typeof Blob;

Object.defineProperty(globalThis, 'location', { value: { href: import.meta.url }, configurable: true });

export {};
