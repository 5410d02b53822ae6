/**
 * CUDA devices through the driver API (libcuda.so.1 / nvcuda.dll), loaded over FFI: cuInit,
 * cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute (SM count, memory clock, bus
 * width) and cuDeviceTotalMem_v2. Peak memory bandwidth = 2 · clock · busWidth / 8 (double data rate).
 * No library, no driver or no device reads as `{ available: false, reason }`, never as a throw.
 *
 * The binding is `koffi` on Node (and on Bun and Deno, which load Node-API modules); the calls are
 * behind `CudaDriver` so tests can stand in a fake driver.
 */

/** The few driver calls the probe makes; each returns a CUresult (0 = CUDA_SUCCESS). */
export interface CudaDriver {
  init(): number;
  deviceCount(out: [number]): number;
  device(out: [number], ordinal: number): number;
  name(dev: number): [number, string];
  attribute(out: [number], attr: number, dev: number): number;
  totalMem(out: [number], dev: number): number;
}

/** CUdevice_attribute values (cuda.h). */
export const CU_ATTR = { MULTIPROCESSOR_COUNT: 16, MEMORY_CLOCK_RATE: 36, GLOBAL_MEMORY_BUS_WIDTH: 37 } as const;

export interface CudaDevice {
  index: number;
  name: string;
  smCount: number;
  /** Peak memory clock in kHz (as the driver reports it). */
  memoryClockKHz: number;
  busWidthBits: number;
  totalMemBytes: number;
  /** 2 · clock · busWidth / 8, bytes per second. */
  bandwidthBytesPerSec: number;
}

export interface CudaReport {
  available: boolean;
  /** Why not (absent library, cuInit error, no device); or which library answered. */
  reason: string;
  devices: CudaDevice[];
}

/** Library names to try, per platform. */
export function cudaLibraryNames(platform: string): string[] {
  if (platform === 'win32') return ['nvcuda.dll'];
  if (platform === 'darwin') return [];
  return ['libcuda.so.1', 'libcuda.so'];
}

/** Binds the driver with koffi; throws when the library cannot be opened. */
export async function koffiCudaDriver(names: string[]): Promise<{ driver: CudaDriver; library: string }> {
  const koffi = ((await import('koffi')) as unknown as { default: typeof import('koffi') }).default;
  const errors: string[] = [];
  for (const library of names) {
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(library);
    } catch (e) {
      errors.push(`${library}: ${(e as Error).message}`);
      continue;
    }
    const cuInit = lib.func('int cuInit(unsigned int flags)');
    const cuDeviceGetCount = lib.func('int cuDeviceGetCount(_Out_ int *count)');
    const cuDeviceGet = lib.func('int cuDeviceGet(_Out_ int *dev, int ordinal)');
    const cuDeviceGetName = lib.func('int cuDeviceGetName(_Out_ void *name, int len, int dev)');
    const cuDeviceGetAttribute = lib.func('int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)');
    const cuDeviceTotalMem = lib.func('int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)');
    const driver: CudaDriver = {
      init: () => cuInit(0),
      deviceCount: (out) => cuDeviceGetCount(out),
      device: (out, ordinal) => cuDeviceGet(out, ordinal),
      name: (dev) => {
        const buf = new Uint8Array(256);
        const rc = cuDeviceGetName(buf, buf.length, dev) as number;
        const end = buf.indexOf(0);
        return [rc, new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end))];
      },
      attribute: (out, attr, dev) => cuDeviceGetAttribute(out, attr, dev),
      totalMem: (out, dev) => cuDeviceTotalMem(out, dev),
    };
    return { driver, library };
  }
  throw new Error(errors.length ? errors.join('; ') : 'no CUDA driver library on this platform');
}

/** Reads every device through `driver` (a fake in tests). Throws on a failed call after cuInit. */
export function readCudaDevices(driver: CudaDriver): CudaReport {
  const rcInit = driver.init();
  if (rcInit !== 0) return { available: false, reason: `cuInit failed (CUresult ${rcInit}): no usable driver or GPU`, devices: [] };
  const n: [number] = [0];
  const check = (rc: number, what: string) => {
    if (rc !== 0) throw new Error(`${what} failed (CUresult ${rc})`);
  };
  check(driver.deviceCount(n), 'cuDeviceGetCount');
  const devices: CudaDevice[] = [];
  for (let i = 0; i < n[0]; i++) {
    const d: [number] = [0];
    check(driver.device(d, i), 'cuDeviceGet');
    const [rcName, name] = driver.name(d[0]);
    check(rcName, 'cuDeviceGetName');
    const attr = (a: number) => {
      const v: [number] = [0];
      check(driver.attribute(v, a, d[0]), `cuDeviceGetAttribute(${a})`);
      return v[0];
    };
    const smCount = attr(CU_ATTR.MULTIPROCESSOR_COUNT);
    const memoryClockKHz = attr(CU_ATTR.MEMORY_CLOCK_RATE);
    const busWidthBits = attr(CU_ATTR.GLOBAL_MEMORY_BUS_WIDTH);
    const mem: [number] = [0];
    check(driver.totalMem(mem, d[0]), 'cuDeviceTotalMem_v2');
    devices.push({
      index: i, name, smCount, memoryClockKHz, busWidthBits, totalMemBytes: Number(mem[0]),
      bandwidthBytesPerSec: (2 * memoryClockKHz * 1000 * busWidthBits) / 8,
    });
  }
  if (devices.length === 0) return { available: false, reason: 'the CUDA driver reports no device', devices };
  return { available: true, reason: `${devices.length} device(s) via the CUDA driver API`, devices };
}

/** The CUDA part of the hardware report. `load` defaults to koffi on this platform's library names. */
export async function probeCuda(
  load: () => Promise<{ driver: CudaDriver; library: string }> = async () => koffiCudaDriver(cudaLibraryNames(platformName())),
): Promise<CudaReport> {
  let bound: { driver: CudaDriver; library: string };
  try {
    bound = await load();
  } catch (e) {
    return { available: false, reason: `CUDA driver library not loadable: ${(e as Error).message}`, devices: [] };
  }
  const r = readCudaDevices(bound.driver);
  return r.available ? { ...r, reason: `${r.reason} (${bound.library})` } : r;
}

function platformName(): string {
  const p = (globalThis as { process?: { platform?: string } }).process?.platform;
  if (p) return p;
  const deno = (globalThis as { Deno?: { build?: { os?: string } } }).Deno;
  return deno?.build?.os === 'windows' ? 'win32' : (deno?.build?.os ?? 'linux');
}
