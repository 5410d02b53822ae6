/** Base class of every error Tessera throws on purpose. `code` is stable and machine-readable. */
export class TesseraError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller-supplied value is out of range or malformed (maps to HTTP 400). */
export class ValidationError extends TesseraError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}
