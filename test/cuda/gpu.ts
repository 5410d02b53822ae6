/**
 * Whether this machine runs the CUDA library: the driver probe (src/hardware/cuda.ts), then the backend's
 * known-answer run. `reason` says why not; the suites print it as "no CUDA device: <reason>" and skip.
 */
import { probeCuda } from '../../src/hardware/cuda.ts';
import { probeCudaBackend } from '../../src/backend/cuda/index.ts';

export async function cudaGpu(): Promise<{ gpu: boolean; reason: string }> {
  const hw = await probeCuda();
  if (!hw.available) return { gpu: false, reason: hw.reason };
  const be = await probeCudaBackend({ library: 'gpu', timeoutMs: 60_000 });
  if (!be.available) return { gpu: false, reason: `${hw.reason}, but the CUDA backend failed: ${be.error}` };
  return { gpu: true, reason: `${hw.devices[0]?.name ?? 'device 0'} (${hw.reason})` };
}
