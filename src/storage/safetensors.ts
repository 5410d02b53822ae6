/**
 * StoredValue ⇄ safetensors bytes, with a SHA-256 checksum kept inside the file's own `__metadata__`
 * so the file stays a valid safetensors file that PyTorch and others read unchanged.
 *
 * Layout (huggingface safetensors):
 *   [u64 little-endian N][N bytes UTF-8 JSON header, space-padded to a multiple of 8][data]
 *   header = { "__metadata__": {string: string}, <name>: {"dtype", "shape", "data_offsets": [begin, end]} ... }
 *   data_offsets are relative to the start of `data`; tensors tile `data` exactly (no gaps, no overlap, no tail).
 *
 * Checksum: `__metadata__.tessera_sha256` = hex SHA-256 of (header bytes with that hex replaced by 64 '0's) ‖ data,
 * so a flipped byte anywhere in the header (metadata included) or the data is caught.
 */
import { createHash } from 'node:crypto';
import { SafetensorsError, StorageChecksumError, StorageValueError } from './errors.ts';
import type { StorageDtype, StoredTensor, StoredValue } from './types.ts';

/** Bytes per element of each dtype Tessera stores. */
export const DTYPE_BYTES: Readonly<Record<StorageDtype, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, U32: 4, I8: 1, U8: 1 };
/** The metadata key holding the checksum; reserved (a value may not set it). */
export const CHECKSUM_KEY = 'tessera_sha256';
/** Same bound as the reference implementation (safetensors' MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

const ZERO_HEX = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const utf8 = new TextEncoder();

export type ChecksumMode = 'require' | 'if-present' | 'skip';

function elementCount(shape: readonly number[], where: string, Err: (m: string) => Error): number {
  if (!Array.isArray(shape)) throw Err(`${where}: shape is not an array`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw Err(`${where}: shape ${JSON.stringify(shape)} holds a non-integer or negative dimension`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw Err(`${where}: shape ${JSON.stringify(shape)} overflows`);
  }
  return n;
}

function checkValue(value: StoredValue): void {
  if (!value || !Array.isArray(value.tensors)) throw new StorageValueError('a stored value needs a tensors array');
  if (!value.meta || typeof value.meta !== 'object') throw new StorageValueError('a stored value needs a meta object');
  const names = new Set<string>();
  for (const t of value.tensors) {
    if (typeof t.name !== 'string' || t.name.length === 0) throw new StorageValueError('tensor name must be a non-empty string');
    if (t.name === '__metadata__') throw new StorageValueError('"__metadata__" is not a valid tensor name');
    if (names.has(t.name)) throw new StorageValueError(`duplicate tensor name ${JSON.stringify(t.name)}`);
    names.add(t.name);
    const size = DTYPE_BYTES[t.dtype];
    if (size === undefined || !Object.hasOwn(DTYPE_BYTES, t.dtype)) throw new StorageValueError(`tensor ${t.name}: unsupported dtype ${JSON.stringify(t.dtype)}`);
    const n = elementCount(t.shape, `tensor ${t.name}`, (m) => new StorageValueError(m));
    if (!(t.bytes instanceof Uint8Array)) throw new StorageValueError(`tensor ${t.name}: bytes must be a Uint8Array`);
    if (t.bytes.length !== n * size) throw new StorageValueError(`tensor ${t.name}: ${t.bytes.length} bytes, but shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${n * size}`);
  }
  for (const [k, v] of Object.entries(value.meta)) {
    if (typeof v !== 'string') throw new StorageValueError(`metadata ${k}: values must be strings`);
    if (k === CHECKSUM_KEY || k === '__proto__') throw new StorageValueError(`metadata key ${k} is reserved`);
  }
}

/** Bytes of data the value's tensors hold (what the file adds beyond its header). */
export function dataBytes(value: StoredValue): number {
  let n = 0;
  for (const t of value.tensors) n += t.bytes.length;
  return n;
}

/**
 * Encode a value. Tensors are laid out in the order given. With `checksum` (default true) the header's
 * metadata gets `tessera_sha256`. Throws StorageValueError for an invalid value.
 */
export function encodeSafetensors(value: StoredValue, opts: { checksum?: boolean } = {}): Uint8Array {
  checkValue(value);
  const withChecksum = opts.checksum ?? true;
  const header: Record<string, unknown> = {};
  const meta: Record<string, string> = { ...value.meta };
  if (withChecksum) meta[CHECKSUM_KEY] = ZERO_HEX;
  header.__metadata__ = meta;
  let off = 0;
  for (const t of value.tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  const json = utf8.encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8; // spaces pad the header so the data starts 8-aligned
  if (headerLen > MAX_HEADER_BYTES) throw new StorageValueError(`safetensors header of ${headerLen} bytes exceeds ${MAX_HEADER_BYTES}`);
  const out = new Uint8Array(8 + headerLen + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const t of value.tensors) {
    out.set(t.bytes, p);
    p += t.bytes.length;
  }
  if (withChecksum) {
    const at = checksumOffset(out.subarray(8, 8 + headerLen), ZERO_HEX);
    if (at < 0) throw new Error('internal: checksum placeholder not found');
    const hex = createHash('sha256').update(out).digest('hex'); // placeholder is zeros now: exactly what decode hashes
    out.set(utf8.encode(hex), 8 + at);
  }
  return out;
}

/** Byte offset, within the header, of the hex checksum value `hex` (-1 if absent). */
function checksumOffset(header: Uint8Array, hex: string): number {
  const needle = utf8.encode(`"${CHECKSUM_KEY}":"${hex}"`);
  const hb = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const i = hb.indexOf(needle);
  return i < 0 ? -1 : i + needle.length - 1 - 64;
}

const bad = (code: string) => (m: string) => new SafetensorsError(code, m);

/**
 * Decode and validate a safetensors file. Tensors come back in data order, their `bytes` are views into `bytes`
 * (not copies; element alignment is not guaranteed). `checksum`: 'require' (default: a missing or wrong
 * tessera_sha256 throws StorageChecksumError), 'if-present', or 'skip'. The checksum key is removed from `meta`.
 */
export function decodeSafetensors(bytes: Uint8Array, opts: { checksum?: ChecksumMode } = {}): StoredValue {
  const mode = opts.checksum ?? 'require';
  if (bytes.length < 8) throw new SafetensorsError('safetensors_truncated', `${bytes.length} bytes, shorter than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError('safetensors_bad_header', `header length ${n64} exceeds ${MAX_HEADER_BYTES}`);
  const n = Number(n64);
  if (8 + n > bytes.length) throw new SafetensorsError('safetensors_truncated', `header length ${n} runs past the end (${bytes.length - 8} bytes follow)`);
  const headerBytes = bytes.subarray(8, 8 + n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('safetensors_bad_header', 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('safetensors_bad_header', 'header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError('safetensors_bad_header', `header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('safetensors_bad_header', 'header is not a JSON object');

  const data = bytes.subarray(8 + n);
  const meta: Record<string, string> = {};
  const entries: { name: string; dtype: StorageDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new SafetensorsError('safetensors_bad_metadata', '__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError('safetensors_bad_metadata', `__metadata__.${k} is not a string`);
        if (k === '__proto__') throw new SafetensorsError('safetensors_bad_metadata', '__metadata__.__proto__ is not allowed');
        meta[k] = v;
      }
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new SafetensorsError('safetensors_bad_header', `tensor ${name}: entry is not an object`);
    const { dtype, shape, data_offsets, ...extra } = info as Record<string, unknown>;
    if (Object.keys(extra).length) throw new SafetensorsError('safetensors_bad_header', `tensor ${name}: unknown fields ${Object.keys(extra).join(', ')}`);
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) throw new SafetensorsError('safetensors_bad_dtype', `tensor ${name}: unsupported dtype ${JSON.stringify(dtype)}`);
    const count = elementCount(shape as number[], `tensor ${name}`, bad('safetensors_bad_shape'));
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
      throw new SafetensorsError('safetensors_bad_offsets', `tensor ${name}: data_offsets must be two non-negative integers`);
    const [begin, end] = data_offsets as number[];
    if (end < begin) throw new SafetensorsError('safetensors_bad_offsets', `tensor ${name}: data_offsets end ${end} < begin ${begin}`);
    const need = count * DTYPE_BYTES[dtype as StorageDtype];
    if (end - begin !== need) throw new SafetensorsError('safetensors_bad_offsets', `tensor ${name}: ${end - begin} bytes, but shape ${JSON.stringify(shape)} of ${dtype} needs ${need}`);
    entries.push({ name, dtype: dtype as StorageDtype, shape: (shape as number[]).slice(), begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expect = 0;
  for (const e of entries) {
    if (e.begin !== expect) throw new SafetensorsError('safetensors_bad_offsets', `tensor ${e.name}: starts at ${e.begin}, expected ${expect} (gap or overlap)`);
    expect = e.end;
  }
  if (expect > data.length) throw new SafetensorsError('safetensors_truncated', `tensors need ${expect} data bytes, ${data.length} present`);
  if (expect < data.length) throw new SafetensorsError('safetensors_bad_offsets', `${data.length - expect} data bytes past the last tensor`);

  const sum = meta[CHECKSUM_KEY];
  if (mode !== 'skip' && (sum !== undefined || mode === 'require')) {
    if (sum === undefined) throw new StorageChecksumError(`no ${CHECKSUM_KEY} in __metadata__`);
    if (!HEX64.test(sum)) throw new StorageChecksumError(`${CHECKSUM_KEY} is not 64 lowercase hex digits`);
    const at = checksumOffset(headerBytes, sum);
    if (at < 0) throw new StorageChecksumError(`${CHECKSUM_KEY} not found in the raw header`);
    const zeroed = headerBytes.slice();
    zeroed.set(utf8.encode(ZERO_HEX), at);
    const h = createHash('sha256').update(bytes.subarray(0, 8)).update(zeroed).update(data).digest('hex');
    if (h !== sum) throw new StorageChecksumError(`checksum mismatch: stored ${sum.slice(0, 12)}…, computed ${h.slice(0, 12)}…`);
  }
  delete meta[CHECKSUM_KEY];
  const tensors: StoredTensor[] = entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, bytes: data.subarray(e.begin, e.end) }));
  return { tensors, meta };
}
