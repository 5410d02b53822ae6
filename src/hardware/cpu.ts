/**
 * CPU and host memory: logical cores, model name, architecture, the SIMD level a native (FFI) build of
 * the kernels could use (from the CPU's feature flags: /proc/cpuinfo on Linux; elsewhere 'unknown'),
 * total and free memory.
 */
import * as os from 'node:os';

export type SimdLevel = 'avx512' | 'avx2' | 'avx' | 'sse4.2' | 'sse2' | 'sve' | 'neon' | 'none' | 'unknown';

export interface CpuReport {
  cores: number;
  model: string;
  arch: string;
  /** The widest x86-64/aarch64 SIMD level whose flags the CPU reports (avx2 requires fma too). */
  simd: SimdLevel;
  /** The flags that decided `simd`, as the CPU reports them. */
  simdFlags: string[];
}

export interface MemoryReport {
  totalBytes: number;
  freeBytes: number;
}

const X86_FLAGS = ['avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx2', 'fma', 'avx', 'f16c', 'sse4_2', 'sse2'];
const ARM_FLAGS = ['asimd', 'asimddp', 'sve', 'sve2', 'i8mm', 'fphp'];

/** The SIMD level from a /proc/cpuinfo text (first processor's `flags` or `Features` line). */
export function simdFromCpuinfo(text: string, arch: string): { simd: SimdLevel; simdFlags: string[] } {
  const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  if (!line) return { simd: 'unknown', simdFlags: [] };
  const have = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  const known = arch === 'arm64' || arch === 'aarch64' ? ARM_FLAGS : X86_FLAGS;
  const simdFlags = known.filter((f) => have.has(f));
  let simd: SimdLevel = 'none';
  if (have.has('avx512f') && have.has('avx512bw')) simd = 'avx512';
  else if (have.has('avx2') && have.has('fma')) simd = 'avx2';
  else if (have.has('avx')) simd = 'avx';
  else if (have.has('sse4_2')) simd = 'sse4.2';
  else if (have.has('sse2')) simd = 'sse2';
  else if (have.has('sve')) simd = 'sve';
  else if (have.has('asimd')) simd = 'neon';
  return { simd, simdFlags };
}

export async function probeCpu(): Promise<CpuReport> {
  const cpus = os.cpus();
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const cores = os.availableParallelism?.() ?? nav?.hardwareConcurrency ?? cpus.length;
  const arch = os.arch();
  let simd: { simd: SimdLevel; simdFlags: string[] } = { simd: 'unknown', simdFlags: [] };
  if (os.platform() === 'linux') {
    try {
      const { readFile } = await import('node:fs/promises');
      simd = simdFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8'), arch);
    } catch {
      /* no /proc: unknown */
    }
  } else if (arch === 'arm64') {
    simd = { simd: 'neon', simdFlags: [] }; // every arm64 (AArch64) CPU has Advanced SIMD
  }
  return { cores, model: cpus[0]?.model?.trim() ?? 'unknown', arch, ...simd };
}

export function probeMemory(): MemoryReport {
  return { totalBytes: os.totalmem(), freeBytes: os.freemem() };
}
