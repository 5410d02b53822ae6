/**
 * A model that cannot fit is refused before anything is allocated, with the bytes needed and the bytes
 * available; an unknown quant type names the tensor and the type. The big models here are sparse files: a
 * real header, tensor data never written (the refusal reads only the header).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ShardedBackend } from '../../src/backend/sharded/backend.ts';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { encodeGguf } from '../../src/gguf/writer.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { createEngine, ModelTooLargeError, TesseraError } from '../../src/index.ts';
import { planSynthLlama, synthLlamaMetadata, tinyLlamaVocab, writeSyntheticLlama, type SynthLlamaSpec } from '../../src/synth/index.ts';
import { writeSparseGguf } from '../helpers/sparse-gguf.ts';

const DIR = join(tmpdir(), 'tessera-too-large');

/** A llama header of `spec`'s shape with every matrix in `type`, data left sparse. */
function sparseLlama(path: string, spec: SynthLlamaSpec, type: GgmlType): number {
  const tensors = planSynthLlama(spec).map((w) => ({ name: w.name, type: w.dims.length > 1 ? type : GgmlType.F32, dims: w.dims, data: () => new Uint8Array(0) }));
  return writeSparseGguf(path, { metadata: synthLlamaMetadata(spec), tensors });
}

async function refusal(p: Promise<unknown>): Promise<TesseraError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(TesseraError);
  return e as TesseraError;
}

const bytesIn = (msg: string) => [...msg.matchAll(/(\d{6,}) bytes/g)].map((m) => Number(m[1]));

describe('a model that will not fit', () => {
  const created = { wasm: 0, sharded: 0 };
  beforeAll(() => {
    mkdirSync(DIR, { recursive: true });
    const w = WasmBackend.create.bind(WasmBackend);
    const s = ShardedBackend.create.bind(ShardedBackend);
    vi.spyOn(WasmBackend, 'create').mockImplementation((o) => (created.wasm++, w(o)));
    vi.spyOn(ShardedBackend, 'create').mockImplementation((o) => (created.sharded++, s(o)));
  });
  afterEach(() => {
    created.wasm = 0;
    created.sharded = 0;
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(DIR, { recursive: true, force: true });
  });

  it('more than the free memory (a 70B-shape F16 header): refused with bytes needed and available, no backend created', async () => {
    const path = join(DIR, '70b-f16.gguf');
    const spec = { nEmbd: 8192, nLayer: 80, nHead: 64, nHeadKv: 8, nFf: 28672, type: 'F16' as const, seed: 1, tokenizer: tinyLlamaVocab() };
    const fileBytes = sparseLlama(path, spec, GgmlType.F16);
    expect(fileBytes).toBeGreaterThan(100e9);
    const e = await refusal(createEngine({ model: path, threads: 1 }));
    expect(e).toBeInstanceOf(ModelTooLargeError);
    expect(e.code).toBe('model_too_large');
    const err = e as ModelTooLargeError;
    expect(err.needed).toBeGreaterThan(fileBytes * 0.99);
    expect(err.available).toBeLessThanOrEqual(freemem() * 1.5);
    expect(e.message).toContain('70b-f16.gguf');
    expect(e.message).toContain(`needs ${err.needed} bytes`);
    expect(e.message).toContain(`only ${err.available} bytes`);
    expect(created).toEqual({ wasm: 0, sharded: 0 });
  });

  it('memoryLimitBytes below what a small model needs: refused with both numbers', async () => {
    const path = join(DIR, 'small.gguf');
    await writeSyntheticLlama(path, { nEmbd: 64, nLayer: 2, nHead: 2, nHeadKv: 1, nFf: 128, type: 'Q8_0', seed: 3, tokenizer: tinyLlamaVocab() });
    const e = await refusal(createEngine({ model: path, threads: 1, numCtx: 128, memoryLimitBytes: 5_000_000 }));
    expect(e.code).toBe('model_too_large');
    const [needed, available] = bytesIn(e.message);
    expect(available).toBe(5_000_000);
    // what it needs: at least the weights (file size less header) plus a 1-thread instance's overhead
    expect(needed).toBeGreaterThan(5_000_000);
    expect(created).toEqual({ wasm: 0, sharded: 0 });
    // and the same model loads when the limit allows it
    const engine = await createEngine({ model: path, threads: 1, numCtx: 128, memoryLimitBytes: needed });
    expect(engine.info.memoryBytes).toBeLessThanOrEqual(needed);
    await engine.close();
  });

  it('one tensor larger than a WASM instance (an F32 ffn_gate of 4.6 GB): names the tensor, its bytes and the limit', async () => {
    const path = join(DIR, 'huge-ffn.gguf');
    const spec = { nEmbd: 8192, nLayer: 1, nHead: 64, nHeadKv: 8, nFf: 139264, type: 'F32' as const, seed: 1, tokenizer: tinyLlamaVocab() };
    sparseLlama(path, spec, GgmlType.F32);
    const e = await refusal(createEngine({ model: path, threads: 1, memoryLimitBytes: 2 ** 50 }));
    expect(e.code).toBe('model_too_large');
    expect(e.message).toContain("tensor 'blk.0.ffn_gate.weight'");
    const [needed, available] = bytesIn(e.message);
    expect(needed).toBe(8192 * 139264 * 4);
    expect(available).toBeLessThan(2 ** 32);
    expect(available).toBeGreaterThan(2 ** 31); // less the instance's stacks and activation buffers (~0.9 GB at this n_ff)
    expect(e.message).toContain(`ends at ${2 ** 32} bytes`);
    expect(created).toEqual({ wasm: 0, sharded: 0 });
  });

});

describe('an unknown quant type', () => {
  it('names the tensor and the type id', async () => {
    mkdirSync(DIR, { recursive: true });
    const spec = { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, type: 'Q8_0' as const, seed: 3, tokenizer: tinyLlamaVocab() };
    const nVocab = (tinyLlamaVocab()['tokenizer.ggml.tokens'].value as ArrayLike<unknown>).length;
    const bytes = encodeGguf({
      metadata: synthLlamaMetadata(spec),
      tensors: [{ name: 'token_embd.weight', type: GgmlType.Q8_0, dims: [64, nVocab], data: new Uint8Array((nVocab * 64 * 34) / 32) }],
    });
    // the tensor info: name, n_dims u32, dims u64 × 2, then the type u32: patch Q8_0 (8) to 99
    const name = new TextEncoder().encode('token_embd.weight');
    let at = -1;
    for (let i = 0; i < bytes.length - name.length && at < 0; i++) if (name.every((b, j) => bytes[i + j] === b)) at = i;
    const typeAt = at + name.length + 4 + 16;
    const dv = new DataView(bytes.buffer);
    expect(dv.getUint32(typeAt, true)).toBe(GgmlType.Q8_0);
    dv.setUint32(typeAt, 99, true);
    const path = join(DIR, 'type99.gguf');
    writeFileSync(path, bytes);
    expect(readFileSync(path).length).toBe(bytes.length);
    const e = await refusal(createEngine({ model: path, threads: 1 }));
    expect(e.message).toContain('type99.gguf');
    expect(e.message).toContain('"token_embd.weight"');
    expect(e.message).toMatch(/unknown#99|99/);
  });
});
