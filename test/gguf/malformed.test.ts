/** Malformed files: every failure is a GgufError whose message names the file and the problem. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/errors.ts';
import { GgufError } from '../../src/gguf/errors.ts';
import { openGguf, parseGguf, readTensorInto } from '../../src/gguf/reader.ts';
import { GgmlType, type GgufValue, GgufValueType as T, gv } from '../../src/gguf/types.ts';
import { encodeGguf } from '../../src/gguf/writer.ts';
import { pattern } from './sample-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gguf-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();
function indexOf(hay: Uint8Array, needle: Uint8Array | string, from = 0): number {
  const n = typeof needle === 'string' ? enc.encode(needle) : needle;
  outer: for (let i = from; i <= hay.length - n.length; i++) {
    for (let j = 0; j < n.length; j++) if (hay[i + j] !== n[j]) continue outer;
    return i;
  }
  throw new Error(`needle not found`);
}
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Expects `fn` to throw a GgufError with `code`, a message starting with the path, and containing `parts`. */
function expectGgufError(fn: () => unknown, code: string, path: string, ...parts: string[]): GgufError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(GgufError);
  expect(err).toBeInstanceOf(TesseraError);
  const g = err as GgufError;
  expect(g.code, g.message).toBe(code);
  expect(g.message.startsWith(`${path}: `), g.message).toBe(true);
  for (const p of parts) expect(g.message).toContain(p);
  return g;
}

const TENSORS = [
  { name: 'ta', type: GgmlType.F32, dims: [4, 2], data: pattern(32, 1) },
  { name: 'tb', type: GgmlType.Q8_0, dims: [32], data: pattern(34, 2) },
];
function sample(metadata: Record<string, GgufValue> = { ka: gv.str('hello'), kb: gv.u32(5) }): Uint8Array {
  return encodeGguf({ metadata, tensors: TENSORS }).slice();
}
/** Byte offset of the tensor info of `name`: {type, n_dims, offset} field positions. */
function tensorInfoAt(b: Uint8Array, name: string) {
  const p = indexOf(b, name, 24);
  const nDims = dv(b).getUint32(p + name.length, true);
  const type = p + name.length + 4 + 8 * nDims;
  return { nDimsAt: p + name.length, dimsAt: p + name.length + 4, typeAt: type, offsetAt: type + 4, nameAt: p };
}

describe('malformed GGUF', () => {
  it('missing file → gguf_not_found naming the path', async () => {
    const path = join(dir, 'nope.gguf');
    await expect(openGguf(path)).rejects.toMatchObject({ code: 'gguf_not_found', message: `${path}: no such file` });
  });

  it('a directory → gguf_io', async () => {
    await expect(openGguf(dir)).rejects.toMatchObject({ code: 'gguf_io', name: 'GgufError' });
  });

  it('non-GGUF files → gguf_bad_magic', async () => {
    const path = join(dir, 'model.json');
    writeFileSync(path, '{"not": "a gguf file"}');
    await expect(openGguf(path)).rejects.toMatchObject({ code: 'gguf_bad_magic', message: expect.stringMatching(/model\.json: not a GGUF file \(magic 0x[0-9a-f]{8}/) });
    const empty = join(dir, 'empty.gguf');
    writeFileSync(empty, '');
    await expect(openGguf(empty)).rejects.toMatchObject({ code: 'gguf_bad_magic', message: `${empty}: not a GGUF file (0 bytes, too small)` });
  });

  it('v1, unknown versions and big-endian files are refused by name', () => {
    const b = sample();
    dv(b).setUint32(4, 1, true);
    expectGgufError(() => parseGguf(b, 'v1.gguf'), 'gguf_unsupported_version', 'v1.gguf', 'GGUF v1 is not supported');
    dv(b).setUint32(4, 4, true);
    expectGgufError(() => parseGguf(b, 'v4.gguf'), 'gguf_unsupported_version', 'v4.gguf', 'version 4');
    dv(b).setUint32(4, 3, false);
    expectGgufError(() => parseGguf(b, 'be.gguf'), 'gguf_big_endian', 'be.gguf', 'big-endian');
  });

  it('truncation anywhere before the end of the tensor data → gguf_truncated (or bad magic below 8 bytes)', () => {
    const b = sample();
    const f = parseGguf(b);
    const end = Math.max(...f.tensors.map((t) => t.offset + t.byteSize));
    const codes = new Set<string>();
    for (let n = 0; n < end; n++) {
      const e = expectGgufError(() => parseGguf(b.subarray(0, n), 'cut.gguf'), n < 8 ? 'gguf_bad_magic' : 'gguf_truncated', 'cut.gguf');
      codes.add(e.code);
    }
    expect(codes).toEqual(new Set(['gguf_bad_magic', 'gguf_truncated']));
    expect(parseGguf(b.subarray(0, end)).tensors.length).toBe(2); // the padding after the last tensor is optional
  });

  it('truncated messages give the offset, the need and what is left', () => {
    const b = encodeGguf({ metadata: { ka: gv.str('hello') }, tensors: [] });
    const at = indexOf(b, 'hello') - 8;
    expectGgufError(() => parseGguf(b.subarray(0, at + 10), 'model.gguf'), 'gguf_truncated', 'model.gguf',
      `truncated ka at offset ${at} (needs 5 bytes, 2 left)`);
  });

  it('absurd lengths and counts are errors, not allocations', () => {
    const b = sample();
    const strLen = indexOf(b, 'hello') - 8;
    const s = b.slice();
    dv(s).setBigUint64(strLen, 2n ** 60n, true);
    expectGgufError(() => parseGguf(s, 'm.gguf'), 'gguf_truncated', 'm.gguf', `truncated ka at offset ${strLen} (needs ${2n ** 60n} bytes`);
    const a = encodeGguf({ metadata: { arr: gv.arr(T.UINT32, [1, 2, 3]) }, tensors: [] }).slice();
    const countAt = indexOf(a, 'arr') + 3 + 4 + 4;
    dv(a).setBigUint64(countAt, 2n ** 60n, true);
    expectGgufError(() => parseGguf(a, 'm.gguf'), 'gguf_truncated', 'm.gguf', `array of ${2n ** 60n} UINT32 at offset ${countAt}`);
    const c = b.slice();
    dv(c).setBigUint64(8, 2n ** 40n, true);
    expectGgufError(() => parseGguf(c, 'm.gguf'), 'gguf_too_large', 'm.gguf', 'tensor count');
    dv(c).setBigUint64(8, 100000n, true);
    expectGgufError(() => parseGguf(c, 'm.gguf'), 'gguf_truncated', 'm.gguf', 'tensor count 100000');
    const d = b.slice();
    dv(d).setBigUint64(16, 2n ** 63n, true);
    expectGgufError(() => parseGguf(d, 'm.gguf'), 'gguf_too_large', 'm.gguf', 'metadata kv count');
  });

  it('unknown ggml tensor types and value types are named', () => {
    const b = sample();
    const { typeAt } = tensorInfoAt(b, 'tb');
    dv(b).setUint32(typeAt, 99, true);
    expectGgufError(() => parseGguf(b, 'model.gguf'), 'gguf_bad_type', 'model.gguf', 'tensor "tb" has unsupported ggml type unknown#99 (id 99)', `offset ${typeAt}`);
    dv(b).setUint32(typeAt, 31, true);
    expectGgufError(() => parseGguf(b, 'model.gguf'), 'gguf_bad_type', 'model.gguf', 'Q4_0_4_4 (removed) (id 31)');
    const v = sample();
    const vt = indexOf(v, 'kb') + 2;
    dv(v).setUint32(vt, 13, true);
    expectGgufError(() => parseGguf(v, 'model.gguf'), 'gguf_bad_type', 'model.gguf', 'metadata "kb" has unknown value type 13');
  });

  it('bad tensor infos: dims, block multiples, alignment, overlap, data past the end', () => {
    const mk = () => sample();
    let b = mk();
    dv(b).setUint32(tensorInfoAt(b, 'ta').nDimsAt, 5, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'tensor "ta" has 5 dims');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'ta').dimsAt, 0n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'bad dim 0 = 0');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'ta').dimsAt, 2n ** 62n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'bad dim 0');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'ta').dimsAt + 8, 2n ** 52n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_too_large', 'm.gguf', 'element count overflows');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'tb').dimsAt, 16n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'not a multiple of the Q8_0 block size 32');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'tb').offsetAt, 8n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'not aligned to 32');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'tb').offsetAt, 0n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_bad_tensor', 'm.gguf', 'overlaps tensor "ta"');
    b = mk();
    dv(b).setBigUint64(tensorInfoAt(b, 'tb').offsetAt, 1024n, true);
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_truncated', 'm.gguf', 'tensor "tb" data', 'extends past the end of the file');
  });

  it('duplicate keys and tensor names', () => {
    const b = sample();
    b.set(enc.encode('ka'), indexOf(b, 'kb'));
    expectGgufError(() => parseGguf(b, 'm.gguf'), 'gguf_duplicate_key', 'm.gguf', 'duplicate metadata key "ka"');
    const t = sample();
    t.set(enc.encode('ta'), tensorInfoAt(t, 'tb').nameAt);
    expectGgufError(() => parseGguf(t, 'm.gguf'), 'gguf_duplicate_tensor', 'm.gguf', 'duplicate tensor name "ta"');
  });

  it('general.alignment must be a u32 power of two', () => {
    const b = encodeGguf({ alignment: 64, metadata: {}, tensors: TENSORS }).slice();
    const at = indexOf(b, 'general.alignment') + 'general.alignment'.length;
    const c = b.slice();
    dv(c).setUint32(at + 4, 48, true);
    expectGgufError(() => parseGguf(c, 'm.gguf'), 'gguf_bad_alignment', 'm.gguf', 'general.alignment 48 is not a power of two');
    dv(c).setUint32(at + 4, 0, true);
    expectGgufError(() => parseGguf(c, 'm.gguf'), 'gguf_bad_alignment', 'm.gguf', 'general.alignment 0');
    const d = b.slice();
    dv(d).setUint32(at, T.INT32, true);
    expectGgufError(() => parseGguf(d, 'm.gguf'), 'gguf_bad_alignment', 'm.gguf', 'must be UINT32, got INT32');
  });

  it('arrays nested too deep are refused (no stack overflow)', () => {
    let v = gv.arr(T.UINT8, [1]);
    for (let i = 0; i < 15; i++) v = gv.arr(T.ARRAY, [v]);
    expect(parseGguf(encodeGguf({ metadata: { deep: v }, tensors: [] })).metadata.has('deep')).toBe(true);
    // 10,000 levels, hand-encoded (the writer refuses this): each level is item type ARRAY + count 1
    const levels = 10_000;
    const body = new Uint8Array(levels * 12);
    for (let i = 0; i < levels; i++) {
      dv(body).setUint32(i * 12, T.ARRAY, true);
      dv(body).setBigUint64(i * 12 + 4, 1n, true);
    }
    const head = encodeGguf({ metadata: { deep: gv.arr(T.UINT8, []) }, tensors: [] });
    const at = indexOf(head, 'deep') + 4 + 4; // after the key: value type ARRAY, then the array body
    const file = new Uint8Array(at + body.length);
    file.set(head.subarray(0, at));
    file.set(body, at);
    expectGgufError(() => parseGguf(file, 'deep.gguf'), 'gguf_too_large', 'deep.gguf', 'nested deeper than 16');
  });

  it('readTensorInto checks the destination size', async () => {
    const f = parseGguf(sample(), 'm.gguf');
    await expect(readTensorInto(f, f.tensors[0], new Uint8Array(5))).rejects.toMatchObject({ code: 'gguf_bad_dest' });
  });
});
