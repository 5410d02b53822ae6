/**
 * Smoke test of the native backend on one runtime: probe, load a tiny synthetic model on it, generate
 * greedily, print JSON. Run by test/engine/native-runtimes.test.ts under Bun and Deno (their own FFI:
 * bun:ffi, Deno.dlopen); Node (koffi) runs the same steps in the test process.
 * Usage: <runtime> test/runtime/native-smoke.ts MODEL [probe-only]
 */
import { createEngine } from '../../src/index.ts';
import { probeNative } from '../../src/backend/native/index.ts';
import { ffiKind } from '../../src/backend/native/ffi.ts';

const [model, mode] = (globalThis as { process?: { argv: string[] } }).process!.argv.slice(2);
const probe = await probeNative();
if (mode === 'probe-only' || !probe.available) {
  console.log(JSON.stringify({ ffi: ffiKind(), probe }));
} else {
  const engine = await createEngine({ model, threads: 2, backend: 'native' });
  const tokens: number[] = [];
  for await (const c of engine.generate({ prompt: 'Hello world', raw: true, options: { temperature: 0, num_predict: 8 } })) tokens.push(c.token);
  const backend = engine.info.backend;
  await engine.close();
  console.log(JSON.stringify({ ffi: ffiKind(), probe, backend, tokens }));
}
