import { TesseraError } from '../errors.ts';

/**
 * A GGUF file could not be read or written. `code` is one of: gguf_not_found, gguf_io, gguf_bad_magic,
 * gguf_big_endian, gguf_unsupported_version, gguf_truncated, gguf_bad_type, gguf_bad_value, gguf_bad_alignment,
 * gguf_duplicate_key, gguf_bad_tensor, gguf_duplicate_tensor, gguf_too_large, gguf_missing_key, gguf_wrong_type,
 * gguf_bad_spec, gguf_bad_dest. The message names the file and, for parse errors, the byte offset
 * ("model.gguf: truncated string at offset 1234 (needs 50 bytes, 10 left)"); `offset` holds it too.
 */
export class GgufError extends TesseraError {
  readonly path: string;
  readonly offset: number | undefined;
  constructor(code: string, path: string, message: string, offset?: number, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options);
    this.path = path;
    this.offset = offset;
  }
}
