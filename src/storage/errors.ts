import { TesseraError } from '../errors.ts';

/**
 * Errors of the storage layer. Every one carries a stable `code`:
 * - storage_bad_key: a key or prefix outside the key grammar (keys.ts);
 * - storage_bad_value: a value that can't be stored (bad shape/byte length, reserved metadata key);
 * - storage_too_large: one value larger than the whole byte budget;
 * - storage_bad_config: an unknown storage URL or option;
 * - storage_unavailable: the backing store can't be reached (connection refused, closed);
 * - storage_timeout: an operation ran past its time limit;
 * - storage_closed: the driver was closed;
 * - safetensors_*: a stored value that is not a valid safetensors file (see SafetensorsError);
 * - storage_checksum: a value whose checksum does not match its bytes.
 */
export class StorageError extends TesseraError {}

export class StorageKeyError extends StorageError {
  constructor(key: string, why: string) {
    super('storage_bad_key', `invalid storage key ${JSON.stringify(key.length > 80 ? key.slice(0, 80) + '…' : key)}: ${why}`);
  }
}

export class StorageValueError extends StorageError {
  constructor(message: string) {
    super('storage_bad_value', message);
  }
}

export class StorageTooLargeError extends StorageError {
  constructor(key: string, bytes: number, budget: number) {
    super('storage_too_large', `value for ${key} is ${bytes} bytes, more than the whole storage budget of ${budget} bytes`);
  }
}

export class StorageConfigError extends StorageError {
  constructor(message: string) {
    super('storage_bad_config', message);
  }
}

export class StorageUnavailableError extends StorageError {
  constructor(driver: string, message: string, options?: { cause?: unknown }) {
    super('storage_unavailable', `${driver} storage unavailable: ${message}`, options);
  }
}

export class StorageTimeoutError extends StorageError {
  constructor(driver: string, op: string, ms: number) {
    super('storage_timeout', `${driver} storage: ${op} took longer than ${ms} ms`);
  }
}

export class StorageClosedError extends StorageError {
  constructor(driver: string) {
    super('storage_closed', `${driver} storage is closed`);
  }
}

/**
 * Bytes that are not a valid safetensors file of the kind Tessera writes. `code` is one of:
 * safetensors_truncated, safetensors_bad_header (length, UTF-8, JSON, layout), safetensors_bad_dtype,
 * safetensors_bad_shape, safetensors_bad_offsets (gaps, overlaps, length ≠ shape·dtype size, bytes past the end),
 * safetensors_bad_metadata.
 */
export class SafetensorsError extends StorageError {
  constructor(code: string, message: string) {
    super(code, `safetensors: ${message}`);
  }
}

export class StorageChecksumError extends StorageError {
  constructor(message: string) {
    super('storage_checksum', message);
  }
}

/** True for errors that mean "this stored entry is damaged" (as opposed to "the store is unreachable"). */
export function isCorruptionError(e: unknown): boolean {
  return e instanceof SafetensorsError || e instanceof StorageChecksumError;
}
