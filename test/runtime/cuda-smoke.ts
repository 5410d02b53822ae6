/**
 * Smoke test of the CUDA bindings on one runtime (bun:ffi, Deno.dlopen, koffi): probes the GPU library (where there
 * is no GPU it must fail with the driver's message, as a string) and the host emulation, runs RMSNORM and a Q8_0
 * MATMUL on the emulation, prints JSON. Run by test/cuda/runtimes.test.ts under Node, Bun and Deno.
 */
import { createCudaBackend, probeCudaBackend } from '../../src/backend/cuda/index.ts';
import { ffiKind } from '../../src/backend/native/ffi.ts';
import { GgmlType } from '../../src/gguf/types.ts';

const emu = await probeCudaBackend({ library: 'emu' });
const gpu = await probeCudaBackend({ library: 'gpu' });
const be = await createCudaBackend({ library: 'emu', reserveMiB: 16 });
be.reserve({ maxTokens: 2, maxRowLen: 64, maxKv: 8 });
const x = be.buffer(GgmlType.F32, [64]);
be.f32(x).set(Array.from({ length: 64 }, (_, i) => Math.sin(i)));
const norm = be.buffer(GgmlType.F32, [64]);
be.rmsNorm(norm, x, null, 1e-5, 64, 1);
// Q8_0 weight [2 rows][64]: row r = blocks of d = 1/64 (f16 0x2400), qs = r + 1
const bytes = new Uint8Array(2 * 2 * 34);
for (let b = 0; b < 4; b++) {
  bytes[b * 34] = 0x00;
  bytes[b * 34 + 1] = 0x24;
  bytes.fill(b < 2 ? 1 : 2, b * 34 + 2, b * 34 + 34);
}
const w = await be.weight(GgmlType.Q8_0, [64, 2], async (d) => d.set(bytes));
const mm = be.buffer(GgmlType.F32, [2]);
be.matmul(mm, w, norm, 1);
be.compute();
console.log(JSON.stringify({ ffi: ffiKind(), emu, gpu, norm: Array.from(be.f32(norm).slice(0, 4)), mm: Array.from(be.f32(mm)) }));
await be.close();
