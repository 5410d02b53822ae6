/** The WebGPU backend's public entry points (the engine's backend selection calls these). */
import { WebGpuBackend, type WebGpuBackendOptions } from './backend.ts';

export { WebGpuBackend, WebGpuError, type WebGpuBackendOptions } from './backend.ts';
export { probeWebGpu, WebGpuUnavailableError, type WebGpuProbe, type DeviceOptions } from './device.ts';
export { WebGpuLimitError } from './buffers.ts';

/** A WebGPU backend on this runtime's adapter (Deno: navigator.gpu; Node/Bun: Dawn, OpenGL mode by default). */
export function createWebGpuBackend(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  return WebGpuBackend.create(opts);
}
