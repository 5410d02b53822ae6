/**
 * Runs directly under Bun and Deno (`bun test/gguf/runtime-smoke.ts`, `deno run -A test/gguf/runtime-smoke.ts`):
 * write a GGUF, open it, read a tensor straight into a view over a SharedArrayBuffer (as the WASM memory is),
 * and print "ok <runtime>". Spawned by runtime.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGguf, readTensorInto } from '../../src/gguf/reader.ts';
import { GgmlType, gv } from '../../src/gguf/types.ts';
import { writeGguf } from '../../src/gguf/writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gguf-smoke-'));
try {
  const path = join(dir, 'smoke.gguf');
  const n = 3 << 20; // 12 MiB of f32, so the read is not a single tiny chunk
  const data = new Float32Array(n).map((_, i) => i % 1000);
  await writeGguf(path, { alignment: 64, metadata: { 'general.architecture': gv.str('llama') }, tensors: [
    { name: 'a', type: GgmlType.F32, dims: [3], data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
    { name: 'big', type: GgmlType.F32, dims: [1024, n / 1024], data: new Uint8Array(data.buffer) },
  ] });
  const f = await openGguf(path);
  const t = f.tensorByName.get('big')!;
  const mem = new SharedArrayBuffer(t.byteSize + 64);
  await readTensorInto(f, t, new Uint8Array(mem, 64, t.byteSize));
  const back = new Float32Array(mem, 64, n);
  for (let i = 0; i < n; i += 4099) if (back[i] !== i % 1000) throw new Error(`mismatch at ${i}: ${back[i]}`);
  if (back[n - 1] !== (n - 1) % 1000) throw new Error('last element mismatch');
  const runtime = 'Bun' in globalThis ? 'bun' : 'Deno' in globalThis ? 'deno' : 'node';
  console.log(`ok ${runtime}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
