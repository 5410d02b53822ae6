/**
 * The CUDA backend (wasm/cuda over FFI): a factory and a probe for backend selection. `probeCudaBackend()` never
 * throws and is bounded in time.
 */
import { GgmlType } from '../../gguf/types.ts';
import { CudaBackend, type CudaBackendOptions } from './backend.ts';

export { CudaBackend, CUDA_WEIGHT_TYPES, type CudaBackendOptions } from './backend.ts';
export { CudaLoadError, CudaRuntimeError, loadCudaLibrary, type CudaLibraryKind } from './core.ts';

/** A CUDA backend (throws CudaLoadError when the library or a device is missing). */
export function createCudaBackend(opts: CudaBackendOptions = {}): Promise<CudaBackend> {
  return CudaBackend.create(opts);
}

export interface CudaBackendProbe {
  available: boolean;
  emulated: boolean;
  error?: string;
}

const probed = new Map<string, Promise<CudaBackendProbe>>();

/**
 * Whether the CUDA backend works here: opens the library, creates a small context and runs a known-answer
 * SCALE through it. Cached per library kind; resolves within `timeoutMs` (default 10000: the first CUDA call
 * initialises the driver) with `available: false` and the reason otherwise.
 */
export function probeCudaBackend(opts: { library?: 'gpu' | 'emu'; timeoutMs?: number } = {}): Promise<CudaBackendProbe> {
  const kind = opts.library ?? 'gpu';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let p = probed.get(kind);
  if (!p) {
    p = (async (): Promise<CudaBackendProbe> => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<CudaBackendProbe>((res) => {
        timer = setTimeout(() => res({ available: false, emulated: kind === 'emu', error: `probe timed out after ${timeoutMs} ms` }), timeoutMs);
      });
      try {
        return await Promise.race([knownAnswer(kind), timeout]);
      } catch (e) {
        return { available: false, emulated: kind === 'emu', error: (e as Error)?.message ?? String(e) };
      } finally {
        clearTimeout(timer);
      }
    })();
    probed.set(kind, p);
  }
  return p;
}

async function knownAnswer(kind: 'gpu' | 'emu'): Promise<CudaBackendProbe> {
  const be = await CudaBackend.create({ library: kind, reserveMiB: 16 });
  try {
    const x = be.buffer(GgmlType.F32, [4]);
    be.f32(x).set([1, -2, 3.5, 0.25]);
    be.scale(x, x, 2, 4);
    be.compute();
    const got = Array.from(be.f32(x));
    if (got.join() !== '2,-4,7,0.5') return { available: false, emulated: be.emulated, error: `known-answer test failed: ${got}` };
    return { available: true, emulated: be.emulated };
  } finally {
    await be.close();
  }
}
