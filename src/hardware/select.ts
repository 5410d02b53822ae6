/**
 * Backend registry and selection. Each backend kind registers `{ probe, create }`: `probe` reads the
 * hardware report (and the model's size) and says whether the kind can run this model here and why;
 * `create` builds it (null: not in this build). 'auto' takes the first usable kind in preference order
 * (cuda, webgpu, native, wasm); a kind that fails to start falls back to wasm with the failure recorded.
 * An explicitly requested kind that is unusable or fails to start is a BackendUnavailableError.
 *
 * @example
 * const { backend, info } = await openBackend('auto', await hardwareReport(), { threads: 4, modelBytes });
 * console.log(info.kind, info.reason);
 */
import type { Backend } from '../backend/backend.ts';
import { ShardedBackend } from '../backend/sharded/backend.ts';
import { WasmBackend } from '../backend/wasm/backend.ts';
import { ValidationError } from '../errors.ts';
import { BackendUnavailableError } from './errors.ts';
import type { HardwareReport } from './report.ts';
import type { TuningResult } from './tune.ts';
import { GgmlType } from '../gguf/types.ts';
import { ggmlTypeName as typeName } from '../gguf/ggml-types.ts';

/**
 * Matrix types whose native matmul has SIMD tiles (wasm/src/ops/matmul/x86: AVX2 Q4_0, Q8_0, Q4_K, Q6_K; F32 is
 * plain float code the compiler vectorizes). Any other type runs its scalar twin there, slower than WASM SIMD.
 */
export const NATIVE_SIMD_WEIGHT_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K]);

export const BACKEND_KINDS = ['wasm', 'webgpu', 'native', 'cuda'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];
export type BackendRequest = 'auto' | BackendKind;

export interface BackendCreateOptions {
  threads: number;
  /** Bytes the model needs (weights + KV + activations, as planned). */
  modelBytes: number;
  /** WASM variant override (tests, benchmarks). */
  wasmVariant?: 'auto' | 'simd' | 'relaxed';
  /** More than one WASM instance: the layer split (src/model/memory-plan.ts). */
  shards?: { shards: number; layerShard: number[] };
  /** The ggml types of the model's matrices (tensors of 2+ dims): 'auto' takes a CPU backend only where its kernels for them are SIMD. */
  weightTypes?: readonly number[];
}

/** What 'auto' knows of the model beside its size. */
export interface ModelTraits {
  /** See BackendCreateOptions.weightTypes; absent: unknown (the native library is then taken only by name). */
  weightTypes?: readonly number[];
  /** More than one WASM instance planned (the model does not fit one 4 GiB arena). */
  sharded?: boolean;
}

export interface ProbeVerdict {
  usable: boolean;
  reason: string;
  /** Usable when asked for by name, but 'auto' passes it over (a software GPU adapter: slower than the WASM core). */
  notForAuto?: boolean;
}

export interface BackendEntry {
  kind: BackendKind;
  probe(hw: HardwareReport, modelBytes: number, model?: ModelTraits): ProbeVerdict;
  /** null: the kind is known but not in this build. */
  create: ((opts: BackendCreateOptions) => Promise<Backend>) | null;
}

/** What was chosen and why: the engine's `backendInfo`, shown by /api/ps and `tessera ps`. */
export interface BackendInfo {
  kind: BackendKind;
  requested: BackendRequest;
  /** One line: why this kind runs the model. */
  reason: string;
  /** Every kind considered, in preference order, with its verdict. */
  considered: { kind: BackendKind; usable: boolean; reason: string; notForAuto?: boolean }[];
  /** Set when the preferred kind failed to start and wasm took over. */
  fallback: { from: BackendKind; error: string } | null;
  /** The detected facts the choice rests on. */
  facts: BackendFacts;
  /** The autotuner's result (null: not tuned, e.g. before load finished or a backend without tunables). */
  tuning: TuningResult | null;
}

export interface BackendFacts {
  fingerprint: string;
  cores: number | null;
  cpuSimd: string | null;
  wasm: HardwareReport['wasm'];
  freeMemoryBytes: number | null;
  modelBytes: number;
  threads: number;
  webgpu: string;
  cuda: string;
}

const GiB = 2 ** 30;

const wasmEntry: BackendEntry = {
  kind: 'wasm',
  probe: (hw) =>
    hw.wasm.simd128 && hw.wasm.threads
      ? { usable: true, reason: `WASM simd128${hw.wasm.relaxedSimd ? ' + relaxed-simd' : ''} + threads pass their known-answer tests` }
      : { usable: false, reason: `WASM needs simd128 and threads (simd128=${hw.wasm.simd128}, threads=${hw.wasm.threads})` },
  create: (o) =>
    o.shards && o.shards.shards > 1
      ? ShardedBackend.create({ shards: o.shards.shards, layerShard: o.shards.layerShard, threads: o.threads, variant: o.wasmVariant })
      : WasmBackend.create({ threads: o.threads, variant: o.wasmVariant }),
};

/** A GPU kind's verdict: detected, fits, and built. */
function gpuVerdict(detected: boolean, why: string, fits: boolean, fitWhy: string, built: boolean): ProbeVerdict {
  if (!detected) return { usable: false, reason: why };
  if (!fits) return { usable: false, reason: fitWhy };
  if (!built) return { usable: false, reason: `${why}, but this build has no factory for it yet` };
  return { usable: true, reason: `${why}; ${fitWhy}` };
}

const cudaEntry: BackendEntry = {
  kind: 'cuda',
  probe(hw, modelBytes) {
    const d = hw.cuda.devices[0];
    if (!hw.cuda.available || !d) return { usable: false, reason: hw.cuda.reason };
    // The CUDA arena is addressed by u32 offsets (wasm/cuda/README.md): at most 4 GiB with activations and KV.
    const fits = modelBytes <= d.totalMemBytes * 0.9 && modelBytes <= 3.5 * GiB;
    const fitWhy = modelBytes > 3.5 * GiB
      ? `model ${(modelBytes / GiB).toFixed(2)} GiB exceeds the CUDA backend's 3.5 GiB arena`
      : `model ${(modelBytes / GiB).toFixed(2)} GiB ${fits ? 'fits' : 'exceeds 90% of'} ${(d.totalMemBytes / GiB).toFixed(1)} GiB on ${d.name}`;
    return gpuVerdict(true, `${d.name}: ${d.smCount} SMs, ${(d.bandwidthBytesPerSec / 1e9).toFixed(0)} GB/s`, fits, fitWhy, this.create !== null);
  },
  create: async () => {
    const { createCudaBackend } = await import('../backend/cuda/index.ts');
    return createCudaBackend();
  },
};

const webgpuEntry: BackendEntry = {
  kind: 'webgpu',
  probe(hw, modelBytes) {
    if (!hw.webgpu.available) return { usable: false, reason: hw.webgpu.reason };
    const maxBuf = hw.webgpu.limits?.maxBufferSize ?? 0;
    // Weights are bound in slices; the device must still hold the whole model (no memory size in WebGPU: use host memory as the bound).
    const fits = maxBuf > 0 && modelBytes <= (hw.memory?.freeBytes ?? Infinity);
    const v = gpuVerdict(true, hw.webgpu.reason, fits, fits ? 'model fits free memory' : 'model larger than free memory', this.create !== null);
    return hw.webgpu.software && v.usable ? { ...v, notForAuto: true, reason: `${v.reason}; a software adapter, so auto prefers the CPU backends` } : v;
  },
  create: async () => {
    const { createWebGpuBackend } = await import('../backend/webgpu/index.ts');
    return createWebGpuBackend();
  },
};

const nativeEntry: BackendEntry = {
  kind: 'native',
  probe(hw, _modelBytes, model) {
    if (!hw.native.available) return { usable: false, reason: `${hw.native.reason} (CPU SIMD: ${hw.cpu?.simd ?? 'unknown'})` };
    const v = gpuVerdict(true, `${hw.native.reason} (CPU SIMD: ${hw.cpu?.simd ?? 'unknown'})`, true, 'runs in host memory', this.create !== null);
    if (!v.usable) return v;
    // Where the library's matmuls for this model would run their scalar twins, WASM SIMD is faster: only by name.
    if (!hw.native.simdKernels) return { ...v, notForAuto: true, reason: `${v.reason}; its quantized matmuls are scalar on this CPU, so auto prefers WASM SIMD` };
    if (!model?.weightTypes) return { ...v, notForAuto: true, reason: `${v.reason}; the model's weight types are unknown, so auto prefers WASM SIMD` };
    const scalar = [...new Set(model.weightTypes)].filter((t) => !NATIVE_SIMD_WEIGHT_TYPES.has(t));
    if (scalar.length) return { ...v, notForAuto: true, reason: `${v.reason}; no SIMD kernels for ${scalar.map(typeName).join(', ')}, so auto prefers WASM SIMD` };
    if (model.sharded) return { ...v, notForAuto: true, reason: `${v.reason}; the model needs more than one 4 GiB arena, so auto prefers sharded WASM` };
    return { ...v, reason: `${v.reason}; SIMD kernels for every weight type of this model` };
  },
  create: async (o) => {
    const { createNativeBackend } = await import('../backend/native/index.ts');
    return createNativeBackend({ threads: o.threads });
  },
};

const registry = new Map<BackendKind, BackendEntry>([
  ['cuda', cudaEntry],
  ['webgpu', webgpuEntry],
  ['native', nativeEntry],
  ['wasm', wasmEntry],
]);
/** Preference order for 'auto'. */
const AUTO_ORDER: BackendKind[] = ['cuda', 'webgpu', 'native', 'wasm'];

/** Registers (or replaces) a kind's probe and factory; returns a function that restores the previous entry. */
export function registerBackend(entry: BackendEntry): () => void {
  const prev = registry.get(entry.kind);
  registry.set(entry.kind, entry);
  return () => {
    if (prev) registry.set(entry.kind, prev);
    else registry.delete(entry.kind);
  };
}

export function parseBackendRequest(v: unknown, where: string): BackendRequest {
  if (v === undefined || v === null || v === '') return 'auto';
  if (v === 'auto' || (BACKEND_KINDS as readonly unknown[]).includes(v)) return v as BackendRequest;
  throw new ValidationError(`${where}: backend must be one of auto, ${BACKEND_KINDS.join(', ')}; got ${JSON.stringify(v)}`);
}

function factsOf(hw: HardwareReport, o: BackendCreateOptions): BackendFacts {
  return {
    fingerprint: hw.fingerprint,
    cores: hw.cpu?.cores ?? null,
    cpuSimd: hw.cpu?.simd ?? null,
    wasm: hw.wasm,
    freeMemoryBytes: hw.memory?.freeBytes ?? null,
    modelBytes: o.modelBytes,
    threads: o.threads,
    webgpu: hw.webgpu.available ? hw.webgpu.reason : `unavailable: ${hw.webgpu.reason}`,
    cuda: hw.cuda.available ? hw.cuda.reason : `unavailable: ${hw.cuda.reason}`,
  };
}

/** The verdict of every kind, in preference order. */
export function considerBackends(hw: HardwareReport, modelBytes: number, model?: ModelTraits): BackendInfo['considered'] {
  return AUTO_ORDER.filter((k) => registry.has(k)).map((kind) => {
    const e = registry.get(kind)!;
    let v: ProbeVerdict;
    try {
      v = e.probe(hw, modelBytes, model);
    } catch (err) {
      v = { usable: false, reason: `probe failed: ${(err as Error).message}` };
    }
    if (v.usable && !e.create) v = { usable: false, reason: `${v.reason}; not in this build` };
    return { kind, ...v };
  });
}

/** Chooses and creates the backend for one model; see the module doc for the rules. */
export async function openBackend(requested: BackendRequest, hw: HardwareReport, o: BackendCreateOptions): Promise<{ backend: Backend; info: BackendInfo }> {
  const considered = considerBackends(hw, o.modelBytes, { weightTypes: o.weightTypes, sharded: (o.shards?.shards ?? 1) > 1 });
  const facts = factsOf(hw, o);
  const verdict = (k: BackendKind) => considered.find((c) => c.kind === k);
  let kind: BackendKind;
  let reason: string;
  if (requested === 'auto') {
    const first = considered.find((c) => c.usable && !c.notForAuto);
    if (!first) throw new BackendUnavailableError('auto', considered.map((c) => `${c.kind}: ${c.reason}`).join('; '));
    kind = first.kind;
    const skipped = considered.slice(0, considered.indexOf(first)).map((c) => `${c.kind}: ${c.reason}`);
    reason = `auto: ${first.reason}${skipped.length ? ` (skipped ${skipped.join('; ')})` : ''}`;
  } else {
    const v = verdict(requested);
    if (!v) throw new BackendUnavailableError(requested, 'no such backend is registered');
    if (!v.usable) throw new BackendUnavailableError(requested, v.reason);
    kind = requested;
    reason = `requested: ${v.reason}`;
  }
  try {
    const backend = await registry.get(kind)!.create!(o);
    return { backend, info: { kind, requested, reason, considered, fallback: null, facts, tuning: null } };
  } catch (e) {
    const error = (e as Error)?.message ?? String(e);
    if (requested !== 'auto' || kind === 'wasm') throw new BackendUnavailableError(kind, `failed to start: ${error}`);
    const w = verdict('wasm');
    if (!w?.usable) throw new BackendUnavailableError(kind, `failed to start (${error}), and wasm is not usable: ${w?.reason ?? 'not registered'}`);
    const backend = await registry.get('wasm')!.create!(o);
    return {
      backend,
      info: { kind: 'wasm', requested, reason: `fallback: ${kind} failed to start (${error}); ${w.reason}`, considered, fallback: { from: kind, error }, facts, tuning: null },
    };
  }
}
