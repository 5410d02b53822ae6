/**
 * How much does one 8-bit rounding move a quantized model's log-probs? Moves one Q8_0 quantum of the
 * token embedding at prompt position P and prints, per later position, the max |Δ log-prob| over the
 * top 10. This is the noise floor any two implementations of 8-bit activation blocks meet once a
 * single rounding differs (test/e2e/llama-vs-llamacpp.test.ts explains why that matters).
 *
 *   npx bun bench/quant-sensitivity.ts <Q8_0 llama .gguf> [P=16]   (or node dist/bench/quant-sensitivity.js after npm run build)
 */
import { createEngine } from '../src/index.ts';
import { logSoftmax } from '../test/helpers/llamacpp.ts';
import type { WasmBackend, WasmTensor } from '../src/backend/wasm/backend.ts';

const path = process.argv[2];
const P = Number(process.argv[3] ?? 16);
if (!path) throw new Error('usage: bun bench/quant-sensitivity.ts <Q8_0 model.gguf> [position]');
const tokens = [1];
for (let s = 12345; tokens.length < 64; ) {
  s = (s * 1103515245 + 12345) >>> 0;
  tokens.push(300 + (s % 29000));
}
const e = await createEngine({ model: path, threads: 2, logitRows: 64, numCtx: 256 });
const base = (await e.evaluate(tokens)).map(logSoftmax);
// Internals on purpose: the experiment edits one weight byte in place.
const inner = e as unknown as { model: { tokEmbd: WasmTensor }; backend: WasmBackend };
const te = inner.model.tokEmbd;
if (te.type !== 8) throw new Error('token_embd must be Q8_0');
const mem = new Uint8Array(inner.backend.core.memory.buffer);
const rowBytes = te.byteSize / te.dims[1];
for (const elem of [0, 37, 100]) {
  const addr = te.ptr + tokens[P] * rowBytes + Math.floor(elem / 32) * 34 + 2 + (elem % 32);
  const old = mem[addr];
  const v = (old << 24) >> 24;
  mem[addr] = (v + (v < 127 ? 1 : -1)) & 0xff;
  const moved = (await e.evaluate(tokens)).map(logSoftmax);
  mem[addr] = old;
  const row: string[] = [];
  for (let i = P; i < tokens.length; i++) {
    const top = [...base[i].keys()].sort((a, b) => base[i][b] - base[i][a]).slice(0, 10);
    let d = 0;
    for (const id of top) d = Math.max(d, Math.abs(moved[i][id] - base[i][id]));
    row.push(d.toExponential(0));
  }
  console.log(`one quantum of embedding element ${elem} at position ${P}; max |Δ log-prob| at positions ${P}..63:\n  ${row.join(' ')}`);
}
await e.close();
