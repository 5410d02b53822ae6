import * as fs from 'node:fs/promises';
import { ByteWriter } from './byte-writer.ts';
import { GgufError } from './errors.ts';
import { ggmlTypeName, ggmlTypeTraits } from './ggml-types.ts';
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, type GgufArrayValue, type GgufValue, GgufValueType, ggufValueTypeName,
} from './types.ts';

/** Tensor bytes, or a producer called once, in file order, when the tensor is written (lets writers stream). */
export type GgufTensorData = Uint8Array | (() => Uint8Array | Promise<Uint8Array>);

export interface GgufTensorSpec {
  name: string;
  type: GgmlType;
  /** ggml order: dims[0] is the contiguous (innermost) dimension; 1 to 4 dims. */
  dims: number[];
  /** Already in the target type's byte layout; exactly ggmlByteSize(type, product(dims)) bytes. */
  data: GgufTensorData;
}

export interface GgufWriteSpec {
  /** GGUF version, default 3 (v2 and v3 are byte-identical for little-endian files). */
  version?: 2 | 3;
  /** Tensor data alignment, default 32; written as `general.alignment` (u32) only when it is not 32. */
  alignment?: number;
  /** Keys in insertion order. */
  metadata: Record<string, GgufValue>;
  tensors: GgufTensorSpec[];
}

/** llama.cpp refuses tensor names of GGML_MAX_NAME (64) bytes or more. */
const MAX_TENSOR_NAME_BYTES = 63;
const MAX_NESTING = 16;
const textEncoder = new TextEncoder();

/** Header bytes (magic … tensor infos, padded to alignment) and the data layout that follows them. */
interface EncodedHeader {
  header: Uint8Array;
  alignment: number;
  /** Byte size of each tensor's data, in spec order; each is followed by zero padding to `alignment`. */
  sizes: number[];
}

function fail(path: string, message: string): never {
  throw new GgufError('gguf_bad_spec', path, message);
}

function resolveAlignment(spec: GgufWriteSpec, path: string): { alignment: number; addKey: boolean } {
  const meta = spec.metadata['general.alignment'];
  let metaAlign: number | undefined;
  if (meta !== undefined) {
    if (meta.type !== GgufValueType.UINT32) fail(path, `general.alignment must be UINT32, got ${ggufValueTypeName(meta.type)}`);
    metaAlign = Number(meta.value);
  }
  const alignment = spec.alignment ?? metaAlign ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment > 0x80000000 || (alignment & (alignment - 1)) !== 0) {
    fail(path, `alignment must be a power of two, got ${alignment}`);
  }
  if (metaAlign !== undefined && metaAlign !== alignment) fail(path, `alignment ${alignment} disagrees with general.alignment ${metaAlign}`);
  return { alignment, addKey: metaAlign === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT };
}

function checkInt(v: unknown, lo: number, hi: number, what: string, path: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) fail(path, `${what}: ${String(v)} is not an integer in [${lo}, ${hi}]`);
  return n;
}

function checkBig(v: unknown, lo: bigint, hi: bigint, what: string, path: string): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else fail(path, `${what}: ${String(v)} is not an integer`);
  if (b < lo || b > hi) fail(path, `${what}: ${b} is out of range`);
  return b;
}

function writeScalar(w: ByteWriter, type: GgufValueType, v: unknown, what: string, path: string): void {
  switch (type) {
    case GgufValueType.UINT8: return w.u8(checkInt(v, 0, 0xff, what, path));
    case GgufValueType.INT8: return w.i8(checkInt(v, -0x80, 0x7f, what, path));
    case GgufValueType.UINT16: return w.u16(checkInt(v, 0, 0xffff, what, path));
    case GgufValueType.INT16: return w.i16(checkInt(v, -0x8000, 0x7fff, what, path));
    case GgufValueType.UINT32: return w.u32(checkInt(v, 0, 0xffffffff, what, path));
    case GgufValueType.INT32: return w.i32(checkInt(v, -0x80000000, 0x7fffffff, what, path));
    case GgufValueType.UINT64: return w.u64(checkBig(v, 0n, 0xffffffffffffffffn, what, path));
    case GgufValueType.INT64: return w.i64(checkBig(v, -0x8000000000000000n, 0x7fffffffffffffffn, what, path));
    case GgufValueType.FLOAT32:
      if (typeof v !== 'number') fail(path, `${what}: expected a number`);
      return w.f32(v);
    case GgufValueType.FLOAT64:
      if (typeof v !== 'number') fail(path, `${what}: expected a number`);
      return w.f64(v);
    case GgufValueType.BOOL:
      if (typeof v !== 'boolean') fail(path, `${what}: expected a boolean`);
      return w.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof v !== 'string') fail(path, `${what}: expected a string`);
      return w.str(v);
    default:
      fail(path, `${what}: unknown value type ${ggufValueTypeName(type)}`);
  }
}

/** Typed-array constructors whose little-endian bytes are exactly the GGUF encoding of the item type. */
const FAST_ARRAYS: Partial<Record<GgufValueType, Function>> = {
  [GgufValueType.UINT8]: Uint8Array, [GgufValueType.INT8]: Int8Array, [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array, [GgufValueType.UINT32]: Uint32Array, [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array, [GgufValueType.FLOAT64]: Float64Array,
};

function writeArray(w: ByteWriter, a: GgufArrayValue, what: string, path: string, depth: number): void {
  if (depth > MAX_NESTING) fail(path, `${what}: arrays nested deeper than ${MAX_NESTING}`);
  const items = a.value;
  if (items == null || typeof items.length !== 'number') fail(path, `${what}: array value must be array-like`);
  w.u32(a.itemType);
  w.u64(BigInt(items.length));
  const fast = FAST_ARRAYS[a.itemType];
  if (fast && items instanceof fast && new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
    const view = items as unknown as ArrayBufferView;
    w.bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (a.itemType === GgufValueType.ARRAY) {
      const inner = item as GgufArrayValue;
      if (inner == null || inner.type !== GgufValueType.ARRAY) fail(path, `${what}[${i}]: nested array items must be GgufArrayValue`);
      writeArray(w, inner, `${what}[${i}]`, path, depth + 1);
    } else {
      writeScalar(w, a.itemType, item, `${what}[${i}]`, path);
    }
  }
}

function writeValue(w: ByteWriter, v: GgufValue, what: string, path: string): void {
  if (v == null || typeof v !== 'object') fail(path, `${what}: not a GgufValue`);
  w.u32(v.type);
  if (v.type === GgufValueType.ARRAY) writeArray(w, v as GgufArrayValue, what, path, 1);
  else writeScalar(w, v.type, v.value, what, path);
}

function encodeHeader(spec: GgufWriteSpec, path: string): EncodedHeader {
  const version = spec.version ?? 3;
  if (version !== 2 && version !== 3) fail(path, `version must be 2 or 3, got ${String(version)}`);
  const { alignment, addKey } = resolveAlignment(spec, path);
  const keys = Object.keys(spec.metadata);
  const w = new ByteWriter(1 << 16);
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(BigInt(spec.tensors.length));
  w.u64(BigInt(keys.length + (addKey ? 1 : 0)));
  for (const key of keys) {
    w.str(key);
    writeValue(w, spec.metadata[key], key, path);
  }
  if (addKey) {
    w.str('general.alignment');
    writeValue(w, { type: GgufValueType.UINT32, value: alignment }, 'general.alignment', path);
  }
  const sizes: number[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const t of spec.tensors) {
    const traits = ggmlTypeTraits(t.type);
    if (!traits) fail(path, `tensor ${t.name}: unknown ggml type ${ggmlTypeName(t.type)}`);
    if (names.has(t.name)) fail(path, `duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (textEncoder.encode(t.name).length > MAX_TENSOR_NAME_BYTES) fail(path, `tensor name ${t.name} is longer than ${MAX_TENSOR_NAME_BYTES} bytes`);
    if (t.dims.length < 1 || t.dims.length > 4) fail(path, `tensor ${t.name}: needs 1 to 4 dims, got ${t.dims.length}`);
    let n = 1;
    for (const d of t.dims) {
      if (!Number.isSafeInteger(d) || d <= 0) fail(path, `tensor ${t.name}: bad dim ${d}`);
      n *= d;
    }
    if (!Number.isSafeInteger(n)) fail(path, `tensor ${t.name}: element count overflows`);
    if (t.dims[0] % traits.blockSize !== 0) fail(path, `tensor ${t.name}: dims[0]=${t.dims[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
    const size = (n / traits.blockSize) * traits.typeSize;
    if (t.data instanceof Uint8Array && t.data.byteLength !== size) {
      fail(path, `tensor ${t.name}: data has ${t.data.byteLength} bytes, ${traits.name} [${t.dims.join(', ')}] needs ${size}`);
    }
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(BigInt(d));
    w.u32(t.type);
    w.u64(BigInt(offset));
    sizes.push(size);
    offset += size + padding(size, alignment);
  }
  w.pad(alignment);
  return { header: w.result(), alignment, sizes };
}

function padding(n: number, alignment: number): number {
  return (alignment - (n % alignment)) % alignment;
}

function checkData(t: GgufTensorSpec, data: unknown, size: number, path: string): Uint8Array {
  if (!(data instanceof Uint8Array)) fail(path, `tensor ${t.name}: data producer must return a Uint8Array`);
  if (data.byteLength !== size) fail(path, `tensor ${t.name}: data has ${data.byteLength} bytes, needs ${size}`);
  return data;
}

/** The header bytes (magic … tensor infos, padded) and each tensor's data size, without the data (sparse test files). */
export function encodeGgufHeader(spec: GgufWriteSpec, path = '<memory>'): { header: Uint8Array; alignment: number; sizes: number[] } {
  return encodeHeader(spec, path);
}

/** Encodes a whole GGUF file in memory (tests, fuzzing). Tensor data producers must be synchronous here. */
export function encodeGguf(spec: GgufWriteSpec, path = '<memory>'): Uint8Array {
  const { header, alignment, sizes } = encodeHeader(spec, path);
  let total = header.length;
  for (const s of sizes) total += s + padding(s, alignment);
  const out = new Uint8Array(total);
  out.set(header);
  let off = header.length;
  spec.tensors.forEach((t, i) => {
    const raw = typeof t.data === 'function' ? t.data() : t.data;
    if (raw instanceof Promise) fail(path, `tensor ${t.name}: encodeGguf needs synchronous data; use writeGguf`);
    out.set(checkData(t, raw, sizes[i], path), off);
    off += sizes[i] + padding(sizes[i], alignment);
  });
  return out;
}

/**
 * Writes a GGUF file, streaming: the header is built in memory, then each tensor's data is written (producers
 * are called one at a time, in order) followed by its padding. Writes to `<path>.tmp-<pid>` and renames at the end,
 * so a reader never sees a half-written file.
 */
export async function writeGguf(path: string, spec: GgufWriteSpec): Promise<void> {
  const { header, alignment, sizes } = encodeHeader(spec, path);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const zeros = new Uint8Array(alignment);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(tmp, 'w');
    await writeAll(fh, header);
    for (let i = 0; i < spec.tensors.length; i++) {
      const t = spec.tensors[i];
      const data = checkData(t, typeof t.data === 'function' ? await t.data() : t.data, sizes[i], path);
      await writeAll(fh, data);
      const pad = padding(sizes[i], alignment);
      if (pad) await writeAll(fh, zeros.subarray(0, pad));
    }
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    if (e instanceof GgufError) throw e;
    throw new GgufError('gguf_io', path, `cannot write: ${(e as Error).message}`, undefined, { cause: e });
  }
}

async function writeAll(fh: fs.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, Math.min(data.length - off, 1 << 26));
    off += bytesWritten;
  }
}
