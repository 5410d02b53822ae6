import { Cursor } from './cursor.ts';
import { ggmlTypeName, ggmlTypeTraits } from './ggml-types.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_SCALAR_SIZE, GgmlType, GgufValueType, ggufValueTypeName } from './types.ts';

/** Type of a metadata entry: a scalar type, or `{ array: itemType }`. */
export type GgufMetaType = GgufValueType | { array: GgufValueType };

export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  /** ggml order: dims[0] is contiguous. */
  dims: number[];
  /** Absolute file offset of the tensor's data. */
  offset: number;
  byteSize: number;
  nElements: number;
}

export interface ParsedHeader {
  version: 2 | 3;
  metadata: Map<string, unknown>;
  metadataTypes: Map<string, GgufMetaType>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
}

/** Caps that keep a hostile header from costing more than its size justifies. */
const MAX_TENSORS = 1 << 20;
const MAX_KVS = 1 << 20;
const MAX_DIMS = 4;
const MAX_NESTING = 16;
/** Smallest encodings: a kv is key length + type + 1 byte; a tensor info is name length + n_dims + 1 dim + type + offset. */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TYPED_ARRAYS: Partial<Record<GgufValueType, { new (b: ArrayBuffer): ArrayLike<number> }>> = {
  [GgufValueType.UINT8]: Uint8Array, [GgufValueType.INT8]: Int8Array, [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array, [GgufValueType.UINT32]: Uint32Array, [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array, [GgufValueType.FLOAT64]: Float64Array,
};

function bigToPlain(v: bigint): number | bigint {
  return v > MAX_SAFE || v < -MAX_SAFE ? v : Number(v);
}

function minItemSize(t: GgufValueType): number {
  if (t === GgufValueType.STRING) return 8;
  if (t === GgufValueType.ARRAY) return 12;
  return GGUF_SCALAR_SIZE[t];
}

function isValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t <= GgufValueType.FLOAT64;
}

function readScalar(c: Cursor, t: GgufValueType, what: string): unknown {
  switch (t) {
    case GgufValueType.UINT8: return c.u8(what);
    case GgufValueType.INT8: return c.i8(what);
    case GgufValueType.UINT16: return c.u16(what);
    case GgufValueType.INT16: return c.i16(what);
    case GgufValueType.UINT32: return c.u32(what);
    case GgufValueType.INT32: return c.i32(what);
    case GgufValueType.FLOAT32: return c.f32(what);
    case GgufValueType.BOOL: return c.u8(what) !== 0;
    case GgufValueType.STRING: return c.str(what);
    case GgufValueType.UINT64: return bigToPlain(c.u64(what));
    case GgufValueType.INT64: return bigToPlain(c.i64(what));
    case GgufValueType.FLOAT64: return c.f64(what);
    default: throw c.error('gguf_bad_type', `${what}: unexpected value type ${ggufValueTypeName(t)}`);
  }
}

/**
 * Reads an array body (item type + count + items). Numeric 8/16/32-bit and float arrays come back as typed
 * arrays (Uint8Array … Float64Array); 64-bit ints, bools, strings and nested arrays as JS arrays.
 */
function readArray(c: Cursor, what: string, depth: number): { itemType: GgufValueType; value: unknown } {
  const at = c.off;
  const itemType = c.u32(`${what} item type`);
  if (!isValueType(itemType)) throw c.error('gguf_bad_type', `${what}: unknown array item type ${itemType} at offset ${at}`, at);
  if (itemType === GgufValueType.ARRAY && depth >= MAX_NESTING) {
    throw c.error('gguf_too_large', `${what}: arrays nested deeper than ${MAX_NESTING} at offset ${at}`, at);
  }
  const countAt = c.off;
  const count = c.u64(`${what} count`);
  const minBytes = count * BigInt(minItemSize(itemType));
  if (minBytes > BigInt(c.left)) {
    throw c.error('gguf_truncated', `truncated ${what}: array of ${count} ${ggufValueTypeName(itemType)} at offset ${countAt} (needs at least ${minBytes} bytes, ${c.left} left)`, countAt);
  }
  const n = Number(count);
  const Typed = TYPED_ARRAYS[itemType];
  if (Typed) {
    const size = GGUF_SCALAR_SIZE[itemType];
    if (LITTLE_ENDIAN_HOST) return { itemType, value: new Typed(c.take(n * size, what).buffer as ArrayBuffer) };
    const out = new Typed(new ArrayBuffer(n * size)) as unknown as number[];
    for (let i = 0; i < n; i++) out[i] = readScalar(c, itemType, what) as number;
    return { itemType, value: out };
  }
  const out = new Array<unknown>(n);
  if (itemType === GgufValueType.ARRAY) {
    for (let i = 0; i < n; i++) out[i] = readArray(c, `${what}[${i}]`, depth + 1).value;
  } else {
    for (let i = 0; i < n; i++) out[i] = readScalar(c, itemType, what);
  }
  return { itemType, value: out };
}

function readHeaderStart(c: Cursor): 2 | 3 {
  if (c.fileSize < 8) throw c.error('gguf_bad_magic', `not a GGUF file (${c.fileSize} bytes, too small)`, 0);
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    throw c.error('gguf_bad_magic', `not a GGUF file (magic 0x${magic.toString(16).padStart(8, '0')} at offset 0, expected "GGUF")`, 0);
  }
  const version = c.u32('version');
  if (version === 2 || version === 3) return version;
  const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
  if (swapped === 2 || swapped === 3) throw c.error('gguf_big_endian', `big-endian GGUF v${swapped} is not supported (little-endian only)`, 4);
  if (version === 1) throw c.error('gguf_unsupported_version', 'GGUF v1 is not supported (only v2 and v3)', 4);
  throw c.error('gguf_unsupported_version', `unsupported GGUF version ${version} (only v2 and v3)`, 4);
}

function readCount(c: Cursor, what: string, max: number, minEach: number): number {
  const at = c.off;
  const n = c.u64(what);
  if (n > BigInt(max)) throw c.error('gguf_too_large', `${what} ${n} at offset ${at} exceeds the limit ${max}`, at);
  if (n * BigInt(minEach) > BigInt(c.left)) {
    throw c.error('gguf_truncated', `truncated header: ${what} ${n} at offset ${at} needs at least ${n * BigInt(minEach)} bytes, ${c.left} left`, at);
  }
  return Number(n);
}

function readAlignment(c: Cursor, metadata: Map<string, unknown>, types: Map<string, GgufMetaType>): number {
  if (!metadata.has('general.alignment')) return GGUF_DEFAULT_ALIGNMENT;
  const t = types.get('general.alignment');
  const a = metadata.get('general.alignment');
  if (t !== GgufValueType.UINT32) {
    throw c.error('gguf_bad_alignment', `general.alignment must be UINT32, got ${typeof t === 'object' ? 'ARRAY' : ggufValueTypeName(t as number)}`);
  }
  const n = a as number;
  if (n === 0 || (n & (n - 1)) !== 0) throw c.error('gguf_bad_alignment', `general.alignment ${n} is not a power of two`);
  return n;
}

interface RawTensor { info: GgufTensorInfo; rel: number; at: number }

function readTensorInfo(c: Cursor, index: number, alignment: number): RawTensor {
  const at = c.off;
  const name = c.str(`tensor ${index} name`);
  const label = `tensor ${JSON.stringify(name)}`;
  const nDimsAt = c.off;
  const nDims = c.u32(`${label} n_dims`);
  if (nDims < 1 || nDims > MAX_DIMS) throw c.error('gguf_bad_tensor', `${label} has ${nDims} dims at offset ${nDimsAt} (1 to ${MAX_DIMS} allowed)`, nDimsAt);
  const dims: number[] = [];
  let nElements = 1n;
  for (let i = 0; i < nDims; i++) {
    const dAt = c.off;
    const d = c.u64(`${label} dim`);
    if (d === 0n || d > MAX_SAFE) throw c.error('gguf_bad_tensor', `${label} has bad dim ${i} = ${d} at offset ${dAt}`, dAt);
    nElements *= d;
    if (nElements > MAX_SAFE) throw c.error('gguf_too_large', `${label} element count overflows at offset ${dAt}`, dAt);
    dims.push(Number(d));
  }
  const typeAt = c.off;
  const type = c.u32(`${label} type`);
  const traits = ggmlTypeTraits(type);
  if (!traits) throw c.error('gguf_bad_type', `${label} has unsupported ggml type ${ggmlTypeName(type)} (id ${type}) at offset ${typeAt}`, typeAt);
  if (dims[0] % traits.blockSize !== 0) {
    throw c.error('gguf_bad_tensor', `${label}: dim 0 = ${dims[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`, at);
  }
  const offAt = c.off;
  const rel = c.u64(`${label} offset`);
  if (rel > MAX_SAFE) throw c.error('gguf_bad_tensor', `${label} data offset ${rel} at offset ${offAt} is out of range`, offAt);
  if (rel % BigInt(alignment) !== 0n) throw c.error('gguf_bad_tensor', `${label} data offset ${rel} at offset ${offAt} is not aligned to ${alignment}`, offAt);
  const n = Number(nElements);
  const byteSize = (n / traits.blockSize) * traits.typeSize;
  return { info: { name, type: type as GgmlType, dims, offset: 0, byteSize, nElements: n }, rel: Number(rel), at };
}

/** Parses everything up to the tensor data. Throws GgufError, or NeedMoreBytes when `c` holds only a prefix. */
export function parseHeader(c: Cursor): ParsedHeader {
  const version = readHeaderStart(c);
  const nTensors = readCount(c, 'tensor count', MAX_TENSORS, MIN_TENSOR_INFO_BYTES);
  const nKv = readCount(c, 'metadata kv count', MAX_KVS, MIN_KV_BYTES);
  const metadata = new Map<string, unknown>();
  const metadataTypes = new Map<string, GgufMetaType>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.off;
    const key = c.str(`metadata key ${i}`);
    if (metadata.has(key)) throw c.error('gguf_duplicate_key', `duplicate metadata key ${JSON.stringify(key)} at offset ${keyAt}`, keyAt);
    const typeAt = c.off;
    const t = c.u32(`type of ${key}`);
    if (!isValueType(t)) throw c.error('gguf_bad_type', `metadata ${JSON.stringify(key)} has unknown value type ${t} at offset ${typeAt}`, typeAt);
    if (t === GgufValueType.ARRAY) {
      const { itemType, value } = readArray(c, key, 1);
      metadata.set(key, value);
      metadataTypes.set(key, { array: itemType });
    } else {
      metadata.set(key, readScalar(c, t, key));
      metadataTypes.set(key, t);
    }
  }
  const alignment = readAlignment(c, metadata, metadataTypes);
  const raw: RawTensor[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const r = readTensorInfo(c, i, alignment);
    if (names.has(r.info.name)) throw c.error('gguf_duplicate_tensor', `duplicate tensor name ${JSON.stringify(r.info.name)} at offset ${r.at}`, r.at);
    names.add(r.info.name);
    raw.push(r);
  }
  const dataOffset = Math.ceil(c.off / alignment) * alignment;
  for (const r of raw) {
    r.info.offset = dataOffset + r.rel;
    if (r.info.offset + r.info.byteSize > c.fileSize) {
      throw c.error('gguf_truncated', `tensor ${JSON.stringify(r.info.name)} data [${r.info.offset}, ${r.info.offset + r.info.byteSize}) extends past the end of the file (${c.fileSize} bytes)`, r.at);
    }
  }
  const sorted = [...raw].sort((a, b) => a.rel - b.rel);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1].info;
    const cur = sorted[i].info;
    if (prev.offset + prev.byteSize > cur.offset) {
      throw c.error('gguf_bad_tensor', `tensor ${JSON.stringify(cur.name)} data at ${cur.offset} overlaps tensor ${JSON.stringify(prev.name)} [${prev.offset}, ${prev.offset + prev.byteSize})`, sorted[i].at);
    }
  }
  return { version, metadata, metadataTypes, tensors: raw.map((r) => r.info), alignment, dataOffset };
}
