/**
 * Named errors of image input. All carry code `invalid_argument`, so the server answers them with
 * HTTP 400 (src/server/errors.ts); `reason` says which check failed, for callers and tests.
 */
import { TesseraError } from '../errors.ts';

export type ImageErrorReason =
  /** The bytes are not a valid image of the sniffed format (bad header, truncated, bad data). */
  | 'corrupt'
  /** No bytes at all, or a header that declares a width or height of 0. */
  | 'empty'
  /** The magic bytes match none of PNG, JPEG, WebP, GIF. */
  | 'unsupported'
  /** Declared width×height above the pixel limit (decompression bomb), checked before decoding. */
  | 'too_many_pixels'
  /** The encoded input is larger than the byte limit. */
  | 'too_many_bytes';

export class ImageError extends TesseraError {
  readonly reason: ImageErrorReason;
  constructor(reason: ImageErrorReason, message: string, options?: { cause?: unknown }) {
    super('invalid_argument', message, options);
    this.reason = reason;
  }
}
