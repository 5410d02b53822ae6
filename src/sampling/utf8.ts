/**
 * Incremental UTF-8 decoding of token bytes. A token may end in the middle of a multi-byte
 * character (byte-fallback tokens carry one byte each); `push` returns only complete
 * characters and keeps the partial tail for the next call. Invalid sequences become U+FFFD.
 * A leading U+FEFF is kept (it is model output, not a byte-order mark).
 */
export class Utf8Stream {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Decode `bytes`, returning every character completed so far. */
  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** End of stream: returns any incomplete tail as U+FFFD (empty when none) and resets. */
  flush(): string {
    return this.decoder.decode();
  }
}
