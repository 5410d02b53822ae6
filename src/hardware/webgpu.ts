/**
 * A minimal WebGPU adapter probe (no device is created): adapter info, limits, and the features the
 * kernels care about (shader-f16, subgroups, timestamp-query). `navigator.gpu` where the runtime has it
 * (Deno, browsers); else the npm `webgpu` package (Dawn) on Node and Bun, in its OpenGL mode with a
 * surfaceless EGL display (Debian's Mesa is too old for Dawn's Vulkan mode; see shared DESIGN.md), and
 * the compatibility feature level.
 */

export interface WebGpuReport {
  available: boolean;
  reason: string;
  /** Where the adapter came from: 'navigator.gpu' or 'npm webgpu (opengl)'. */
  source?: string;
  info?: { vendor: string; architecture: string; device: string; description: string };
  features?: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean; all: string[] };
  limits?: Record<string, number>;
  /** A CPU rasterizer (llvmpipe, lavapipe, SwiftShader, WARP) or an adapter flagged as a fallback: it works, but slower than the WASM core. */
  software?: boolean;
}

/** Adapter names of CPU implementations of WebGPU's underlying APIs. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|microsoft basic render/i;

const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
] as const;

/* Minimal structural types (no @webgpu/types dependency). */
interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  features: Iterable<string>;
  limits: Record<string, number>;
}
interface GpuLike {
  requestAdapter(opts?: Record<string, unknown>): Promise<AdapterLike | null>;
}

async function findGpu(): Promise<{ gpu: GpuLike; source: string; opts: Record<string, unknown> }> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu', opts: {} };
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (env && !env.EGL_PLATFORM) env.EGL_PLATFORM = 'surfaceless';
  const mod = (await import('webgpu')) as unknown as { create: (flags: string[]) => GpuLike };
  return { gpu: mod.create(['backend=opengl']), source: 'npm webgpu (opengl)', opts: { featureLevel: 'compatibility' } };
}

/** Reads an adapter's report; throws when no WebGPU implementation loads. */
export async function probeWebGpu(): Promise<WebGpuReport> {
  const { gpu, source, opts } = await findGpu();
  const adapter = await gpu.requestAdapter(opts);
  if (!adapter) return { available: false, reason: `${source}: no adapter`, source };
  const all = [...adapter.features].sort();
  const limits: Record<string, number> = {};
  for (const k of LIMITS) if (typeof adapter.limits[k] === 'number') limits[k] = adapter.limits[k];
  const i = adapter.info ?? {};
  const info = { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '' };
  const software = Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter) || SOFTWARE_ADAPTER.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
  return {
    available: true,
    reason: `adapter ${info.description || info.vendor || 'unnamed'}${software ? ' (software)' : ''} via ${source}`,
    source,
    info,
    software,
    features: { shaderF16: all.includes('shader-f16'), subgroups: all.includes('subgroups'), timestampQuery: all.includes('timestamp-query'), all },
    limits,
  };
}
