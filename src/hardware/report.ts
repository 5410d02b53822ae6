/**
 * The hardware report: what this process can compute on, each part from its own time-bounded probe
 * (src/hardware/probe.ts), so a probe that fails or hangs only marks its part unavailable.
 * Cached after the first detection (`hardwareReport()`); `tessera hw`, /api/version and backend
 * selection all read the same report. The fingerprint names the machine for stored tuning results.
 *
 * @example
 * const hw = await hardwareReport();
 * console.log(hw.cpu?.cores, hw.wasm.relaxedSimd, hw.cuda.available ? hw.cuda.devices[0].name : hw.cuda.reason);
 */
import { createHash } from 'node:crypto';
import { probeCpu, probeMemory, type CpuReport, type MemoryReport } from './cpu.ts';
import { probeCuda, type CudaReport } from './cuda.ts';
import { runProbe, type ProbeOutcome } from './probe.ts';
import { probeWasmFeatures, type WasmFeatureReport } from './wasm-features.ts';
import { probeWebGpu, type WebGpuReport } from './webgpu.ts';

export interface RuntimeReport {
  name: 'node' | 'bun' | 'deno' | 'unknown';
  version: string;
  platform: string;
}

/** The native FFI backend (the Rust core as a shared library, src/backend/native): loaded and checked by a known-answer run. */
export interface NativeReport {
  available: boolean;
  reason: string;
  /** The library variant picked for this CPU ('x86-64', 'x86-64-v3', 'x86-64-v4', 'aarch64' …). */
  simdLevel?: string;
  /** The library's quantized matmuls have SIMD paths for this CPU (else they run their scalar twins: slower than WASM SIMD). */
  simdKernels?: boolean;
}

export interface ProbeTiming {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface HardwareReport {
  runtime: RuntimeReport;
  /** null when the CPU probe failed (see probes.cpu). */
  cpu: CpuReport | null;
  memory: MemoryReport | null;
  wasm: WasmFeatureReport;
  webgpu: WebGpuReport;
  cuda: CudaReport;
  native: NativeReport;
  /** Per probe: whether it answered, in how many ms, and its error. */
  probes: Record<'cpu' | 'memory' | 'wasm' | 'webgpu' | 'cuda' | 'native', ProbeTiming>;
  /** sha256 (16 hex digits) of the stable facts: runtime, CPU, WASM features, GPU names. Keys tuning results. */
  fingerprint: string;
  detectedAt: string;
}

/** Probes as functions, so tests can make one fail or hang. */
export interface Probes {
  cpu: () => Promise<CpuReport>;
  memory: () => MemoryReport;
  wasm: () => WasmFeatureReport;
  webgpu: () => Promise<WebGpuReport>;
  cuda: () => Promise<CudaReport>;
  native: () => Promise<NativeReport>;
}

/** Native library levels with SIMD quantized-matmul tiles (wasm/src/ops/matmul/x86: AVX2, also used by the AVX-512 build, there with VNNI dots). */
const NATIVE_SIMD_LEVELS = new Set(['avx2', 'avx512']);

export const DEFAULT_PROBES: Probes = {
  cpu: probeCpu,
  memory: probeMemory,
  wasm: probeWasmFeatures,
  webgpu: probeWebGpu,
  cuda: () => probeCuda(),
  native: async () => {
    const { probeNative } = await import('../backend/native/index.ts');
    const p = await probeNative();
    return p.available
      ? { available: true, reason: `native library (${p.simdLevel}) passes its known-answer test`, simdLevel: p.simdLevel, simdKernels: NATIVE_SIMD_LEVELS.has(p.simdLevel) }
      : { available: false, reason: `native library unavailable: ${p.error ?? 'unknown'}`, simdLevel: p.simdLevel };
  },
};

export interface DetectOptions {
  /** Deadline per probe in ms (default: 5000 for webgpu and cuda, whose driver start can be slow; 2000 for the others). */
  timeoutMs?: Partial<Record<keyof Probes, number>>;
  probes?: Partial<Probes>;
}

export function runtimeReport(): RuntimeReport {
  const g = globalThis as { Deno?: { version: { deno: string }; build: { os: string } }; process?: { versions?: Record<string, string>; platform?: string } };
  if (g.Deno) return { name: 'deno', version: g.Deno.version.deno, platform: g.Deno.build.os };
  const v = g.process?.versions;
  if (v?.bun) return { name: 'bun', version: v.bun, platform: g.process!.platform ?? 'unknown' };
  if (v?.node) return { name: 'node', version: v.node, platform: g.process!.platform ?? 'unknown' };
  return { name: 'unknown', version: '', platform: 'unknown' };
}

const NO_WASM: WasmFeatureReport = { simd128: false, relaxedSimd: false, threads: false, memory64: false };

function timing(o: ProbeOutcome<unknown>): ProbeTiming {
  return o.ok ? { ok: true, ms: round(o.ms) } : { ok: false, ms: round(o.ms), error: o.error };
}
const round = (ms: number) => Math.round(ms * 10) / 10;

/** Runs every probe (in parallel, each under its deadline) and assembles the report. Never throws. */
export async function detectHardware(opts: DetectOptions = {}): Promise<HardwareReport> {
  const p: Probes = { ...DEFAULT_PROBES, ...opts.probes };
  const t = (k: keyof Probes, d: number) => opts.timeoutMs?.[k] ?? d;
  const [cpu, memory, wasm, webgpu, cuda, native] = await Promise.all([
    runProbe('cpu', t('cpu', 2000), p.cpu),
    runProbe('memory', t('memory', 2000), p.memory),
    runProbe('wasm', t('wasm', 2000), p.wasm),
    runProbe('webgpu', t('webgpu', 5000), p.webgpu),
    runProbe('cuda', t('cuda', 5000), p.cuda),
    runProbe('native', t('native', 2000), p.native),
  ]);
  const report: Omit<HardwareReport, 'fingerprint'> = {
    runtime: runtimeReport(),
    cpu: cpu.ok ? cpu.value : null,
    memory: memory.ok ? memory.value : null,
    wasm: wasm.ok ? wasm.value : NO_WASM,
    webgpu: webgpu.ok ? webgpu.value : { available: false, reason: webgpu.error },
    cuda: cuda.ok ? cuda.value : { available: false, reason: cuda.error, devices: [] },
    native: native.ok ? native.value : { available: false, reason: native.error },
    probes: { cpu: timing(cpu), memory: timing(memory), wasm: timing(wasm), webgpu: timing(webgpu), cuda: timing(cuda), native: timing(native) },
    detectedAt: new Date().toISOString(),
  };
  return { ...report, fingerprint: fingerprintOf(report) };
}

/** sha256 of the facts that decide speed and don't change between runs (not memory free, not probe times). */
export function fingerprintOf(r: Omit<HardwareReport, 'fingerprint'>): string {
  const facts = {
    runtime: [r.runtime.name, r.runtime.version, r.runtime.platform],
    cpu: r.cpu ? [r.cpu.model, r.cpu.cores, r.cpu.arch, r.cpu.simd] : null,
    wasm: r.wasm,
    webgpu: r.webgpu.available ? r.webgpu.info : null,
    cuda: r.cuda.devices.map((d) => [d.name, d.smCount, d.totalMemBytes]),
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 16);
}

let cached: Promise<HardwareReport> | undefined;

/** The process's hardware report, detected once (bounded: every probe has a deadline). */
export function hardwareReport(): Promise<HardwareReport> {
  cached ??= detectHardware();
  return cached;
}

/** Forget the cached report (tests). */
export function resetHardwareReport(): void {
  cached = undefined;
}
