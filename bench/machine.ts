/** Facts about the machine and runtimes, recorded next to every result. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { packageVersion } from './paths.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  /** SIMD extensions the CPU reports (x86: avx2, fma, avx512f, …), from /proc/cpuinfo where there is one. */
  simd: string[];
  memGiB: number;
  os: string;
  node: string;
  deno: string;
  nodeLlamaCpp: string;
  wllama: string;
  /** 1-minute load average at start: other processes on the machine skew every number. */
  loadAvgAtStart: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    simd: cpuFlags().filter((f) => /^(sse4_2|avx|avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|neon|asimd|dotprod)$/.test(f)),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    deno: packageVersion('deno'),
    nodeLlamaCpp: packageVersion('node-llama-cpp'),
    wllama: packageVersion('@wllama/wllama'),
    loadAvgAtStart: os.loadavg()[0],
  };
}

function cpuFlags(): string[] {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    return line ? line.split(':')[1].trim().split(/\s+/) : [];
  } catch {
    return [];
  }
}
