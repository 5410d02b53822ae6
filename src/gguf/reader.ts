import * as fs from 'node:fs/promises';
import { Cursor, NeedMoreBytes } from './cursor.ts';
import { GgufError } from './errors.ts';
import { type GgufMetaType, type GgufTensorInfo, parseHeader } from './parse.ts';
import { GgufValueType, ggufValueTypeName } from './types.ts';

export type { GgufMetaType, GgufTensorInfo } from './parse.ts';

const INT_TYPES = new Set([
  GgufValueType.UINT8, GgufValueType.INT8, GgufValueType.UINT16, GgufValueType.INT16, GgufValueType.UINT32,
  GgufValueType.INT32, GgufValueType.UINT64, GgufValueType.INT64,
]);

/** A parsed GGUF header. Tensor data stays on disk until readTensorInto. */
export class GgufFile {
  /**
   * Plain values: numbers (bigint only when a 64-bit int exceeds 2^53), strings, booleans. Arrays of
   * u8/i8/u16/i16/u32/i32/f32/f64 are typed arrays; arrays of 64-bit ints, bools, strings and arrays are JS arrays.
   */
  readonly metadata: Map<string, unknown>;
  readonly metadataTypes: Map<string, GgufMetaType>;
  readonly tensors: GgufTensorInfo[];
  readonly tensorByName: Map<string, GgufTensorInfo>;
  /** The file's bytes, when parsed from memory (parseGguf); readTensorInto then copies from here. */
  readonly bytes: Uint8Array | undefined;

  constructor(
    readonly path: string,
    readonly version: 2 | 3,
    h: { metadata: Map<string, unknown>; metadataTypes: Map<string, GgufMetaType>; tensors: GgufTensorInfo[] },
    readonly alignment: number,
    /** Absolute file offset where tensor data starts (tensor offsets already include it). */
    readonly dataOffset: number,
    readonly fileSize: number,
    bytes?: Uint8Array,
  ) {
    this.metadata = h.metadata;
    this.metadataTypes = h.metadataTypes;
    this.tensors = h.tensors;
    this.tensorByName = new Map(h.tensors.map((t) => [t.name, t]));
    this.bytes = bytes;
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  private lookup(key: string, wanted: string, dflt: unknown): { value: unknown; type: GgufMetaType } | undefined {
    if (this.metadata.has(key)) return { value: this.metadata.get(key), type: this.metadataTypes.get(key)! };
    if (dflt !== undefined) return undefined;
    throw new GgufError('gguf_missing_key', this.path, `missing metadata key ${key} (${wanted})`);
  }

  private wrongType(key: string, wanted: string, type: GgufMetaType, value: unknown): GgufError {
    const got = typeof type === 'object' ? `ARRAY of ${ggufValueTypeName(type.array)}` : `${ggufValueTypeName(type)} ${String(value)}`;
    return new GgufError('gguf_wrong_type', this.path, `metadata key ${key}: expected ${wanted}, got ${got}`);
  }

  /** An integer of any GGUF integer type whose value fits in a u32. */
  getU32(key: string, dflt?: number): number {
    const e = this.lookup(key, 'u32', dflt);
    if (!e) return dflt!;
    const v = e.value;
    if (typeof e.type === 'object' || !INT_TYPES.has(e.type) || typeof v !== 'number' || v < 0 || v > 0xffffffff) {
      throw this.wrongType(key, 'u32', e.type, v);
    }
    return v;
  }

  /** A FLOAT32 or FLOAT64 value (integers are accepted too). */
  getF32(key: string, dflt?: number): number {
    const e = this.lookup(key, 'f32', dflt);
    if (!e) return dflt!;
    if (typeof e.type === 'object' || typeof e.value !== 'number') throw this.wrongType(key, 'f32', e.type, e.value);
    return e.value;
  }

  getStr(key: string, dflt?: string): string {
    const e = this.lookup(key, 'string', dflt);
    if (!e) return dflt!;
    if (e.type !== GgufValueType.STRING) throw this.wrongType(key, 'string', e.type, e.value);
    return e.value as string;
  }

  getBool(key: string, dflt?: boolean): boolean {
    const e = this.lookup(key, 'bool', dflt);
    if (!e) return dflt!;
    if (e.type !== GgufValueType.BOOL) throw this.wrongType(key, 'bool', e.type, e.value);
    return e.value as boolean;
  }

  /** An array as a JS array (typed arrays are copied; use `metadata.get` to keep the typed array). */
  getArr(key: string): unknown[] {
    const e = this.lookup(key, 'array', undefined)!;
    if (typeof e.type !== 'object') throw this.wrongType(key, 'array', e.type, e.value);
    return Array.isArray(e.value) ? e.value : Array.from(e.value as ArrayLike<unknown>);
  }
}

/** Parses a whole GGUF file held in memory (tests, fuzzing). Throws GgufError only. */
export function parseGguf(bytes: Uint8Array, path = '<memory>'): GgufFile {
  const h = parseHeader(new Cursor(bytes, bytes.length, path));
  return new GgufFile(path, h.version, h, h.alignment, h.dataOffset, bytes.length, bytes);
}

const FIRST_READ = 1 << 20;

function ioError(path: string, e: unknown, what: string): GgufError {
  const code = (e as { code?: string })?.code;
  if (code === 'ENOENT') return new GgufError('gguf_not_found', path, 'no such file', undefined, { cause: e });
  return new GgufError('gguf_io', path, `cannot ${what}: ${(e as Error)?.message ?? String(e)}`, undefined, { cause: e });
}

async function readFully(fh: fs.FileHandle, dest: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = await fh.read(dest, done, Math.min(dest.length - done, 1 << 24), position + done);
    if (bytesRead === 0) throw new GgufError('gguf_truncated', path, `unexpected end of file at offset ${position + done}`, position + done);
    done += bytesRead;
  }
}

/**
 * Opens a GGUF file and parses its header. Reads only the header: first 1 MiB (`initialReadBytes`), then
 * doubling reads until the header fits; the tensor data is never read here. Throws GgufError only.
 */
export async function openGguf(path: string, options: { initialReadBytes?: number } = {}): Promise<GgufFile> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw ioError(path, e, 'open');
  }
  try {
    let fileSize: number;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new GgufError('gguf_io', path, 'not a regular file');
      fileSize = st.size;
    } catch (e) {
      throw e instanceof GgufError ? e : ioError(path, e, 'stat');
    }
    let buf = new Uint8Array(Math.min(fileSize, Math.max(1, options.initialReadBytes ?? FIRST_READ)));
    await readFully(fh, buf, 0, path).catch((e) => { throw e instanceof GgufError ? e : ioError(path, e, 'read'); });
    for (;;) {
      try {
        const h = parseHeader(new Cursor(buf, fileSize, path));
        return new GgufFile(path, h.version, h, h.alignment, h.dataOffset, fileSize);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        const next = new Uint8Array(Math.min(fileSize, Math.max(e.end, buf.length * 2)));
        next.set(buf);
        await readFully(fh, next.subarray(buf.length), buf.length, path).catch((err) => {
          throw err instanceof GgufError ? err : ioError(path, err, 'read');
        });
        buf = next;
      }
    }
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * Reads tensor `t`'s bytes from disk directly into `dest` (which may be a view over a SharedArrayBuffer, e.g.
 * WASM memory), in chunks of at most 16 MiB, with no intermediate copy. `dest.byteLength` must equal `t.byteSize`.
 * Checked on Node 20, Bun and Deno: each accepts a SharedArrayBuffer-backed Uint8Array in FileHandle.read.
 */
export async function readTensorInto(file: GgufFile, t: GgufTensorInfo, dest: Uint8Array): Promise<void> {
  if (dest.byteLength !== t.byteSize) {
    throw new GgufError('gguf_bad_dest', file.path, `tensor ${t.name}: destination has ${dest.byteLength} bytes, tensor has ${t.byteSize}`);
  }
  if (file.bytes) {
    dest.set(file.bytes.subarray(t.offset, t.offset + t.byteSize));
    return;
  }
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file.path, 'r');
  } catch (e) {
    throw ioError(file.path, e, 'open');
  }
  try {
    await readFully(fh, dest, t.offset, file.path);
  } catch (e) {
    throw e instanceof GgufError ? e : ioError(file.path, e, 'read');
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Reads tensor `t`'s bytes into a fresh Uint8Array. */
export async function readTensor(file: GgufFile, t: GgufTensorInfo): Promise<Uint8Array> {
  const out = new Uint8Array(t.byteSize);
  await readTensorInto(file, t, out);
  return out;
}
