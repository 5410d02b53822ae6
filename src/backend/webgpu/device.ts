/// <reference types="@webgpu/types" />
/**
 * GPU adapter and device acquisition on the three runtimes:
 * - Deno (and browsers): the built-in `navigator.gpu` (Deno's wgpu; on this machine Mesa lavapipe over Vulkan).
 * - Node and Bun: the npm `webgpu` package (Dawn), by default in OpenGL mode (`backend=opengl`, EGL surfaceless,
 *   `featureLevel: 'compatibility'`), the mode that runs on machines without a Vulkan GPU driver.
 * The device asks for the adapter's own limits where our kernels need more than the defaults (storage buffers
 * per stage, invocations per workgroup, binding and buffer sizes) and for `shader-f16` / `subgroups` /
 * `timestamp-query` when the adapter has them (the kernels have variants without them).
 */
import { TesseraError } from '../../errors.ts';

export class WebGpuUnavailableError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('webgpu_unavailable', message, options);
  }
}

export interface GpuCaps {
  f16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  caps: GpuCaps;
  /** Where the adapter came from: 'navigator.gpu' (Deno, browsers) or 'dawn-node' (npm webgpu). */
  source: 'navigator.gpu' | 'dawn-node';
  info: { vendor: string; architecture: string; device: string; description: string };
  /** A software rasterizer (llvmpipe, lavapipe, SwiftShader): kernels without barriers run faster there. */
  software: boolean;
}

export interface DeviceOptions {
  /** Dawn (Node/Bun) backend: 'opengl' (default: runs on Mesa's llvmpipe), 'vulkan' or 'default' (Dawn's choice). */
  dawnBackend?: 'opengl' | 'vulkan' | 'default';
  /** Ignore `shader-f16` even when the adapter has it (tests the f16-less shader variants). */
  disableF16?: boolean;
  /** Ignore `subgroups` even when the adapter has it. */
  disableSubgroups?: boolean;
}

type GpuLike = { requestAdapter(o?: Record<string, unknown>): Promise<GPUAdapter | null> };

let dawnGpu: Map<string, GpuLike> | null = null;

async function gpuEntry(opts: DeviceOptions): Promise<{ gpu: GpuLike; source: GpuContext['source'] }> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  const backend = opts.dawnBackend ?? 'opengl';
  dawnGpu ??= new Map();
  let gpu = dawnGpu.get(backend);
  if (!gpu) {
    const proc = (globalThis as { process?: { env: Record<string, string | undefined> } }).process;
    if (proc && backend === 'opengl' && !proc.env.EGL_PLATFORM) proc.env.EGL_PLATFORM = 'surfaceless';
    let mod: { create(o: string[]): GpuLike; globals: object };
    try {
      mod = (await import('webgpu')) as unknown as typeof mod;
    } catch (e) {
      throw new WebGpuUnavailableError('webgpu: no navigator.gpu and the npm package `webgpu` (Dawn) did not load', { cause: e });
    }
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, GPUShaderStage…
    gpu = mod.create(backend === 'default' ? [] : [`backend=${backend}`]);
    dawnGpu.set(backend, gpu);
  }
  return { gpu, source: 'dawn-node' };
}

async function adapterOf(gpu: GpuLike, source: GpuContext['source'], opts: DeviceOptions): Promise<GPUAdapter> {
  const compat = source === 'dawn-node' && (opts.dawnBackend ?? 'opengl') === 'opengl';
  const a = (await gpu.requestAdapter(compat ? { featureLevel: 'compatibility' } : {})) ?? (await gpu.requestAdapter({ featureLevel: 'compatibility' }));
  if (!a) throw new WebGpuUnavailableError(`webgpu: no adapter (${source})`);
  return a;
}

function infoOf(a: GPUAdapter): GpuContext['info'] {
  const i = (a as { info?: Partial<GPUAdapterInfo> }).info ?? {};
  return { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '' };
}

/** Acquires a device with the limits and features the kernels use. Throws WebGpuUnavailableError. */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  const { gpu, source } = await gpuEntry(opts);
  const adapter = await adapterOf(gpu, source, opts);
  const L = adapter.limits;
  const has = (f: string) => adapter.features.has(f);
  const f16 = has('shader-f16') && !opts.disableF16;
  const subgroups = has('subgroups') && !opts.disableSubgroups;
  const timestampQuery = has('timestamp-query');
  const requiredFeatures = [f16 && 'shader-f16', subgroups && 'subgroups', timestampQuery && 'timestamp-query'].filter(Boolean) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new WebGpuUnavailableError(`webgpu: requestDevice failed (${source})`, { cause: e });
  }
  const D = device.limits;
  const caps: GpuCaps = {
    f16,
    subgroups,
    timestampQuery,
    maxStorageBufferBindingSize: D.maxStorageBufferBindingSize,
    maxBufferSize: D.maxBufferSize,
    maxStorageBuffersPerShaderStage: D.maxStorageBuffersPerShaderStage,
    maxComputeInvocationsPerWorkgroup: D.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupsPerDimension: D.maxComputeWorkgroupsPerDimension,
  };
  const info = infoOf(adapter);
  return { device, adapter, caps, source, info, software: isSoftware(info) };
}

function isSoftware(info: GpuContext['info']): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software/.test(text) || (/mesa/.test(text) && !/nvidia|amd|radeon|intel|apple|nouveau|freedreno|panfrost/.test(text));
}

export interface WebGpuProbe {
  available: boolean;
  /** Why not, when not available. */
  reason?: string;
  source?: GpuContext['source'];
  info?: GpuContext['info'];
  features?: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxStorageBuffersPerShaderStage: number; maxComputeInvocationsPerWorkgroup: number; maxComputeWorkgroupStorageSize: number };
  /** True when the adapter is a software rasterizer (lavapipe, llvmpipe, SwiftShader). */
  software?: boolean;
}

/** Adapter info, limits and features, within `timeoutMs`; never throws (available: false and a reason instead). */
export async function probeWebGpu(opts: DeviceOptions & { timeoutMs?: number } = {}): Promise<WebGpuProbe> {
  const work = (async (): Promise<WebGpuProbe> => {
    const { gpu, source } = await gpuEntry(opts);
    const a = await adapterOf(gpu, source, opts);
    const L = a.limits;
    const info = infoOf(a);
    return {
      available: true,
      source,
      info,
      features: { shaderF16: a.features.has('shader-f16'), subgroups: a.features.has('subgroups'), timestampQuery: a.features.has('timestamp-query') },
      limits: {
        maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
        maxBufferSize: L.maxBufferSize,
        maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
        maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      },
      software: isSoftware(info),
    };
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<WebGpuProbe>((resolve) => {
    timer = setTimeout(() => resolve({ available: false, reason: `timed out after ${opts.timeoutMs ?? 5000} ms` }), opts.timeoutMs ?? 5000);
  });
  try {
    return await Promise.race([work.catch((e: unknown) => ({ available: false, reason: e instanceof Error ? e.message : String(e) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
