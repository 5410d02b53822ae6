/**
 * Hardware detection (src/hardware/): the report's shape, each WASM feature's known-answer test against
 * what this runtime's WebAssembly does with hand-checked modules, the CUDA probe on a machine without
 * libcuda (clean "not available", no throw), the same probe against a fake driver library built here
 * (bandwidth = 2·clock·busWidth/8 computed independently), and probes that fail or hang only removing
 * their own part of the report.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaLibraryNames, koffiCudaDriver, probeCuda, readCudaDevices, type CudaDriver } from '../../src/hardware/cuda.ts';
import { simdFromCpuinfo } from '../../src/hardware/cpu.ts';
import { detectHardware } from '../../src/hardware/report.ts';
import { probeWasmFeatures } from '../../src/hardware/wasm-features.ts';

describe('hardware report', () => {
  it('has every part, probe timings and a stable fingerprint', async () => {
    const a = await detectHardware();
    expect(a.runtime.name).toBe('node');
    expect(a.cpu!.cores).toBeGreaterThanOrEqual(1);
    expect(a.memory!.totalBytes).toBeGreaterThan(0);
    expect(typeof a.wasm.memory64).toBe('boolean');
    expect(typeof a.webgpu.available).toBe('boolean');
    expect(a.webgpu.reason.length).toBeGreaterThan(0);
    for (const k of ['cpu', 'memory', 'wasm', 'webgpu', 'cuda', 'native'] as const) expect(a.probes[k].ms).toBeGreaterThanOrEqual(0);
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const b = await detectHardware();
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('a probe that throws or hangs removes only its part, with the reason', async () => {
    const t0 = performance.now();
    const r = await detectHardware({
      probes: { cuda: async () => { throw new Error('driver exploded'); }, webgpu: () => new Promise(() => {}) },
      timeoutMs: { webgpu: 200 },
    });
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(r.cuda).toMatchObject({ available: false, devices: [] });
    expect(r.cuda.reason).toContain('driver exploded');
    expect(r.webgpu.available).toBe(false);
    expect(r.webgpu.reason).toContain('timed out after 200 ms');
    expect(r.probes.webgpu.ok).toBe(false);
    expect(r.wasm.simd128).toBe(true); // the others still answer
    expect(r.cpu).not.toBeNull();
  });
});

describe('WASM feature known-answer tests', () => {
  it('agree with what this runtime compiles', () => {
    const f = probeWasmFeatures();
    // Node 20's V8: simd128, threads; relaxed-simd only behind a flag (and its dot fails the KAT); memory64 behind a flag.
    expect(f.simd128).toBe(true);
    expect(f.threads).toBe(true);
    const relaxedFlag = process.execArgv.some((a) => a.includes('relaxed-simd'));
    if (!relaxedFlag) expect(f.relaxedSimd).toBe(false);
    const mem64Flag = process.execArgv.some((a) => a.includes('memory64'));
    if (!mem64Flag && Number(process.versions.node.split('.')[0]) < 24) expect(f.memory64).toBe(false);
  });
});

describe('CPU SIMD level from /proc/cpuinfo', () => {
  it('reads x86-64 and aarch64 flag lines', () => {
    expect(simdFromCpuinfo('processor : 0\nflags : fpu sse2 sse4_2 avx avx2 fma avx512f avx512bw\n', 'x64').simd).toBe('avx512');
    expect(simdFromCpuinfo('flags\t\t: sse2 sse4_2 avx avx2 fma\n', 'x64')).toEqual({ simd: 'avx2', simdFlags: ['avx2', 'fma', 'avx', 'sse4_2', 'sse2'] });
    expect(simdFromCpuinfo('flags : sse2 avx2\n', 'x64').simd).toBe('sse2'); // avx2 without fma (and without avx) is not avx2
    expect(simdFromCpuinfo('Features\t: fp asimd asimddp sve\n', 'arm64').simd).toBe('sve');
    expect(simdFromCpuinfo('Features\t: fp asimd\n', 'arm64').simd).toBe('neon');
    expect(simdFromCpuinfo('nothing here', 'x64').simd).toBe('unknown');
  });
});

describe('CUDA probe', () => {
  it('without libcuda (this machine): not available, with the loader error, no throw', async () => {
    const names = cudaLibraryNames(process.platform);
    if (names.some((n) => ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) => existsSync(join(d, n))))) return; // a machine with the driver: covered below
    const r = await probeCuda();
    expect(r.available).toBe(false);
    expect(r.devices).toEqual([]);
    expect(r.reason).toMatch(/CUDA driver library not loadable: libcuda\.so\.1/);
  });

  it('cuInit failing (driver without a GPU) and zero devices read as not available', () => {
    const driver = (init: number, count: number): CudaDriver => ({
      init: () => init, deviceCount: (o) => ((o[0] = count), 0), device: () => 1, name: () => [1, ''], attribute: () => 1, totalMem: () => 1,
    });
    expect(readCudaDevices(driver(100, 0))).toMatchObject({ available: false, reason: expect.stringContaining('cuInit failed (CUresult 100)') });
    expect(readCudaDevices(driver(0, 0))).toMatchObject({ available: false, reason: 'the CUDA driver reports no device' });
  });

  const cc = ['/usr/bin/cc', '/usr/bin/gcc'].find(existsSync);
  it.skipIf(!cc)(`through koffi against a fake libcuda built here${cc ? "" : " (skipped: no C compiler)"}`, async () => {
    const dir = join(tmpdir(), 'tessera-fake-cuda');
    mkdirSync(dir, { recursive: true });
    const so = join(dir, 'libcuda.so.1');
    execFileSync(cc!, ['-shared', '-fPIC', '-O1', '-o', so, join(import.meta.dirname, 'fake-libcuda.c')]);
    const r = await probeCuda(() => koffiCudaDriver(['/nonexistent/libcuda.so.1', so]));
    expect(r.available).toBe(true);
    expect(r.reason).toContain(so);
    expect(r.devices.map((d) => [d.name, d.smCount, d.memoryClockKHz, d.busWidthBits, d.totalMemBytes])).toEqual([
      ['Fake H100 80GB HBM3', 132, 2619000, 5120, 85520809984],
      ['Fake L4', 58, 6251000, 192, 23580639232],
    ]);
    // 2 · 2.619 GHz · 5120 bit / 8 = 3352.32 GB/s; 2 · 6.251 GHz · 192 / 8 = 300.048 GB/s
    expect(r.devices[0].bandwidthBytesPerSec).toBe(3352.32e9);
    expect(r.devices[1].bandwidthBytesPerSec).toBeCloseTo(300.048e9, -3);
  });
});
