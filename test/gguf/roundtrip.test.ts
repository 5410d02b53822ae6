/** Write → read round trips: every value type, arrays of every type, nested arrays, v2/v3, alignment 32/64/16. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { openGguf, parseGguf, readTensor, readTensorInto } from '../../src/gguf/reader.ts';
import { GgmlType, type GgufValue, GgufValueType as T, gv } from '../../src/gguf/types.ts';
import { encodeGguf, writeGguf } from '../../src/gguf/writer.ts';
import { allTypesMetadata, pattern, sampleTensors } from './sample-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gguf-rt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the reader is documented to return for a written value. */
function expectedPlain(v: GgufValue): unknown {
  if (v.type !== T.ARRAY) {
    if (typeof v.value === 'bigint') return v.value > BigInt(Number.MAX_SAFE_INTEGER) || v.value < -BigInt(Number.MAX_SAFE_INTEGER) ? v.value : Number(v.value);
    if (v.type === T.FLOAT32) return Math.fround(v.value as number);
    return v.value;
  }
  const items = Array.from(v.value);
  if (v.itemType === T.ARRAY) return items.map((x) => expectedPlain(x as GgufValue));
  return items.map((x) => expectedPlain({ type: v.itemType, value: x } as GgufValue));
}

/** Typed arrays → plain arrays, recursively (nested arrays hold typed arrays). */
function plain(x: unknown): unknown {
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<unknown>);
  if (Array.isArray(x)) return x.map(plain);
  return x;
}

const TYPED: Partial<Record<T, Function>> = {
  [T.UINT8]: Uint8Array, [T.INT8]: Int8Array, [T.UINT16]: Uint16Array, [T.INT16]: Int16Array,
  [T.UINT32]: Uint32Array, [T.INT32]: Int32Array, [T.FLOAT32]: Float32Array, [T.FLOAT64]: Float64Array,
};

function checkMetadata(meta: Map<string, unknown>, types: Map<string, unknown>, written: Record<string, GgufValue>): void {
  for (const [k, v] of Object.entries(written)) {
    expect(meta.has(k), k).toBe(true);
    const got = meta.get(k);
    if (v.type === T.ARRAY) {
      expect(types.get(k)).toEqual({ array: v.itemType });
      const Typed = TYPED[v.itemType];
      if (Typed) expect(got, k).toBeInstanceOf(Typed);
      else expect(Array.isArray(got), k).toBe(true);
      expect(plain(got), k).toEqual(expectedPlain(v));
    } else {
      expect(types.get(k), k).toBe(v.type);
      expect(got, k).toEqual(expectedPlain(v));
    }
  }
}

describe('gguf round trip', () => {
  for (const version of [2, 3] as const) {
    for (const alignment of [32, 64, 16]) {
      it(`v${version}, alignment ${alignment}: metadata and tensors survive encode → parse`, () => {
        const metadata = allTypesMetadata();
        const tensors = sampleTensors();
        const bytes = encodeGguf({ version, alignment, metadata, tensors });
        const f = parseGguf(bytes, 'rt.gguf');
        expect(f.version).toBe(version);
        expect(f.alignment).toBe(alignment);
        expect(f.has('general.alignment')).toBe(alignment !== 32);
        if (alignment !== 32) expect(f.getU32('general.alignment')).toBe(alignment);
        checkMetadata(f.metadata, f.metadataTypes, metadata);
        expect(f.metadata.size).toBe(Object.keys(metadata).length + (alignment !== 32 ? 1 : 0));
        expect(f.dataOffset % alignment).toBe(0);
        expect(f.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
        for (const [i, t] of f.tensors.entries()) {
          const spec = tensors[i];
          expect(t.type).toBe(spec.type);
          expect(t.dims).toEqual(spec.dims);
          expect(t.offset % alignment).toBe(0);
          expect(t.nElements).toBe(spec.dims.reduce((a, b) => a * b, 1));
          expect(t.byteSize).toBe((spec.data as Uint8Array).length);
          expect(bytes.subarray(t.offset, t.offset + t.byteSize)).toEqual(spec.data);
          expect(f.tensorByName.get(t.name)).toBe(t);
        }
        const last = f.tensors[f.tensors.length - 1];
        expect(bytes.length).toBe(Math.ceil((last.offset + last.byteSize) / alignment) * alignment);
      });
    }
  }

  it('writeGguf (streaming, lazy tensor data) → openGguf → readTensorInto a SharedArrayBuffer view', async () => {
    const path = join(dir, 'rt.gguf');
    const metadata = allTypesMetadata();
    const tensors = sampleTensors().map((t) => ({ ...t, data: async () => t.data as Uint8Array }));
    await writeGguf(path, { alignment: 64, metadata, tensors });
    const f = await openGguf(path);
    expect(f.fileSize).toBe(statSync(path).size);
    expect(f.path).toBe(path);
    checkMetadata(f.metadata, f.metadataTypes, metadata);
    const mem = parseGguf(encodeGguf({ alignment: 64, metadata, tensors: sampleTensors() }));
    expect(f.tensors).toEqual(mem.tensors);
    const sab = new SharedArrayBuffer(4096);
    for (const [i, t] of f.tensors.entries()) {
      const dest = new Uint8Array(sab, 8 + i * 256, t.byteSize); // deliberately unaligned, inside a larger buffer
      await readTensorInto(f, t, dest);
      expect(new Uint8Array(dest)).toEqual(sampleTensors()[i].data);
      expect(await readTensor(f, t)).toEqual(sampleTensors()[i].data);
    }
  });

  it('openGguf reads a header larger than its first 1 MiB read (200k-entry string array)', async () => {
    const path = join(dir, 'big-header.gguf');
    const tokens = Array.from({ length: 200_000 }, (_, i) => `tok${i}`);
    await writeGguf(path, { metadata: { 'tokenizer.ggml.tokens': gv.arr(T.STRING, tokens), after: gv.u32(9) }, tensors: [{ name: 't', type: GgmlType.F32, dims: [4], data: pattern(16, 9) }] });
    expect(statSync(path).size).toBeGreaterThan(2 << 20);
    const f = await openGguf(path);
    expect(f.getArr('tokenizer.ggml.tokens')).toEqual(tokens);
    expect(f.getU32('after')).toBe(9);
    expect(await readTensor(f, f.tensors[0])).toEqual(pattern(16, 9));
  });

  it('typed getters', () => {
    const f = parseGguf(encodeGguf({ metadata: allTypesMetadata(), tensors: [] }), 'g.gguf');
    expect(f.getU32('v.u32')).toBe(4294967295);
    expect(f.getU32('v.u8')).toBe(255);
    expect(f.getU32('v.u64.small')).toBe(123456789);
    expect(f.getF32('v.f32')).toBe(-1.5);
    expect(f.getF32('v.f64')).toBe(Math.PI);
    expect(f.getStr('v.str.empty')).toBe('');
    expect(f.getBool('v.bool.f')).toBe(false);
    expect(f.getArr('a.f32')).toEqual([0.5, -2.25, Math.fround(1e30)]);
    expect(f.getU32('missing', 7)).toBe(7);
    expect(f.getStr('missing', 'd')).toBe('d');
    expect(() => f.getU32('missing')).toThrow(expect.objectContaining({ code: 'gguf_missing_key', message: expect.stringContaining('g.gguf: missing metadata key missing') }));
    expect(() => f.getU32('v.i32')).toThrow(expect.objectContaining({ code: 'gguf_wrong_type' }));
    expect(() => f.getU32('v.str')).toThrow(expect.objectContaining({ code: 'gguf_wrong_type', message: expect.stringContaining('v.str: expected u32, got STRING') }));
    expect(() => f.getStr('v.u32')).toThrow(expect.objectContaining({ code: 'gguf_wrong_type' }));
    expect(() => f.getArr('v.u32')).toThrow(expect.objectContaining({ code: 'gguf_wrong_type' }));
    expect(() => f.getF32('a.f32')).toThrow(expect.objectContaining({ code: 'gguf_wrong_type' }));
  });

  it("node-llama-cpp's independent GGUF reader agrees with what we wrote", async () => {
    const path = join(dir, 'nlc.gguf');
    const metadata: Record<string, GgufValue> = {
      'general.architecture': gv.str('llama'), 'general.name': gv.str('rt ✓'), 'llama.context_length': gv.u32(4096),
      'llama.rope.freq_base': gv.f32(500000), 'test.i64': gv.i64(-7), 'test.flag': gv.bool(true),
      'test.list': gv.arr(T.INT32, [3, -1, 4]), 'test.names': gv.arr(T.STRING, ['a', 'bb']),
    };
    await writeGguf(path, { version: 3, alignment: 64, metadata, tensors: sampleTensors() });
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const m = info.metadata as any;
    expect(info.version).toBe(3);
    expect(m.general.architecture).toBe('llama');
    expect(m.general.name).toBe('rt ✓');
    expect(m.general.alignment).toBe(64);
    expect(m.llama.context_length).toBe(4096);
    expect(m.llama.rope.freq_base).toBe(500000);
    expect(Number(m.test.i64)).toBe(-7);
    expect(m.test.flag).toBe(true);
    expect(Array.from(m.test.list)).toEqual([3, -1, 4]);
    expect(m.test.names).toEqual(['a', 'bb']);
    const ours = await openGguf(path);
    expect(info.tensorInfo!.map((t) => [t.name, t.ggmlType, t.dimensions.map(Number), Number(t.offset) + ours.dataOffset])).toEqual(
      ours.tensors.map((t) => [t.name, t.type, t.dims, t.offset]),
    );
  });

  it('writer refuses what llama.cpp would refuse', () => {
    const ok = { name: 't', type: GgmlType.F32, dims: [2], data: new Uint8Array(8) };
    const bad = (spec: Parameters<typeof encodeGguf>[0]) => expect(() => encodeGguf(spec)).toThrow(expect.objectContaining({ code: 'gguf_bad_spec' }));
    bad({ metadata: {}, tensors: [ok, ok] });
    bad({ metadata: {}, tensors: [{ ...ok, data: new Uint8Array(7) }] });
    bad({ metadata: {}, tensors: [{ ...ok, type: GgmlType.Q4_0, dims: [16], data: new Uint8Array(9) }] });
    bad({ metadata: {}, tensors: [{ ...ok, dims: [1, 1, 1, 1, 2] }] });
    bad({ metadata: {}, tensors: [{ ...ok, name: 'x'.repeat(64) }] });
    bad({ metadata: {}, tensors: [{ ...ok, type: 31 as GgmlType }] });
    bad({ alignment: 48, metadata: {}, tensors: [] });
    bad({ alignment: 64, metadata: { 'general.alignment': gv.u32(32) }, tensors: [] });
    bad({ metadata: { x: gv.u8(256) }, tensors: [] });
    bad({ metadata: { x: gv.i32(1.5) }, tensors: [] });
    bad({ metadata: { x: gv.u64(-1) }, tensors: [] });
    bad({ metadata: { x: gv.arr(T.ARRAY, [[1, 2]]) }, tensors: [] });
  });
});
