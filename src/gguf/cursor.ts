import { GgufError } from './errors.ts';

/**
 * Thrown (internally) when the parser needs bytes beyond the prefix held in memory although the file has them;
 * openGguf catches it, reads more and parses again. Never escapes the module's public functions.
 */
export class NeedMoreBytes {
  constructor(readonly end: number) {}
}

// ignoreBOM: a token that is just U+FEFF (Llama 2 id 31759) must survive decoding.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Bounds-checked little-endian reader over the first `bytes.length` bytes of a file of `fileSize` bytes.
 * Every read is checked against the file size first (→ GgufError 'gguf_truncated'), then against the
 * prefix in memory (→ NeedMoreBytes).
 */
export class Cursor {
  off = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array, readonly fileSize: number, readonly path: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes left in the file after the cursor. */
  get left(): number {
    return this.fileSize - this.off;
  }

  error(code: string, message: string, offset = this.off): GgufError {
    return new GgufError(code, this.path, message, offset);
  }

  /** Ensures `n` bytes can be read at the cursor; `what` names the item for the error message. */
  need(n: number, what: string): void {
    if (n > this.left) {
      throw this.error('gguf_truncated', `truncated ${what} at offset ${this.off} (needs ${n} bytes, ${Math.max(0, this.left)} left)`);
    }
    if (this.off + n > this.bytes.length) throw new NeedMoreBytes(this.off + n);
  }

  u8(what: string): number { this.need(1, what); return this.view.getUint8(this.off++); }
  i8(what: string): number { this.need(1, what); return this.view.getInt8(this.off++); }
  u16(what: string): number { this.need(2, what); const v = this.view.getUint16(this.off, true); this.off += 2; return v; }
  i16(what: string): number { this.need(2, what); const v = this.view.getInt16(this.off, true); this.off += 2; return v; }
  u32(what: string): number { this.need(4, what); const v = this.view.getUint32(this.off, true); this.off += 4; return v; }
  i32(what: string): number { this.need(4, what); const v = this.view.getInt32(this.off, true); this.off += 4; return v; }
  f32(what: string): number { this.need(4, what); const v = this.view.getFloat32(this.off, true); this.off += 4; return v; }
  f64(what: string): number { this.need(8, what); const v = this.view.getFloat64(this.off, true); this.off += 8; return v; }
  u64(what: string): bigint { this.need(8, what); const v = this.view.getBigUint64(this.off, true); this.off += 8; return v; }
  i64(what: string): bigint { this.need(8, what); const v = this.view.getBigInt64(this.off, true); this.off += 8; return v; }

  /** A u64 that must fit in a JS number, e.g. a count or an offset. */
  u64n(what: string): number {
    const at = this.off;
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error('gguf_too_large', `${what} ${v} at offset ${at} is too large`, at);
    return Number(v);
  }

  /** A GGUF string: u64 length + UTF-8 bytes (invalid UTF-8 is replaced by U+FFFD). */
  str(what: string): string {
    const at = this.off;
    this.need(8, `${what} length`);
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    this.off += 8;
    if (hi !== 0 || lo > this.left) {
      const len = (BigInt(hi) << 32n) | BigInt(lo);
      throw this.error('gguf_truncated', `truncated ${what} at offset ${at} (needs ${len} bytes, ${this.left} left)`, at);
    }
    this.need(lo, what);
    const start = this.off;
    this.off += lo;
    if (lo <= 32) {
      // short ASCII strings (most vocabulary tokens) without TextDecoder's per-call overhead
      const b = this.bytes;
      let s = '';
      for (let i = start; i < start + lo; i++) {
        const c = b[i];
        if (c >= 0x80) return decoder.decode(b.subarray(start, start + lo));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return decoder.decode(this.bytes.subarray(start, start + lo));
  }

  /** `n` raw bytes, copied into a fresh (aligned) buffer. */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.bytes.slice(this.off, this.off + n);
    this.off += n;
    return b;
  }
}
