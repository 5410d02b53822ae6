/**
 * The storage interface for KV pages, image tensors and tuning results (issue: paged KV cache).
 *
 * A value is a set of named tensors plus string metadata; drivers persist it in the safetensors format
 * (8-byte little-endian header length, JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`,
 * then the raw bytes), so other tools can read what Tessera writes.
 *
 * Keys are '/'-separated ASCII paths (`[A-Za-z0-9._-]` segments), e.g. `kv/<model digest>/<chain hash>`;
 * drivers reject anything else with StorageKeyError.
 */

/** safetensors dtypes Tessera writes. Quantized blocks (q8_0, q4_0 KV pages) are stored as U8 with the type in metadata. */
export type StorageDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'U32' | 'I8' | 'U8';

export interface StoredTensor {
  name: string;
  dtype: StorageDtype;
  shape: number[]; // row-major, outermost first (safetensors order)
  bytes: Uint8Array; // product(shape) · sizeof(dtype) bytes
}

export interface StoredValue {
  tensors: StoredTensor[];
  /** e.g. model_digest, chain_hash, token_start, token_end, kv_type. */
  meta: Record<string, string>;
}

export interface Storage {
  readonly name: string; // 'memory' | 'fs' | 'redis'
  /** Byte budget for the values (0 = unlimited); a put past it evicts older entries first. */
  readonly budgetBytes: number;
  /** null when absent, or when an entry is corrupt (checksum, truncation): it is then deleted. */
  get(key: string): Promise<StoredValue | null>;
  put(key: string, value: StoredValue): Promise<void>;
  has(key: string): Promise<boolean>;
  /** true when something was deleted. */
  delete(key: string): Promise<boolean>;
  /** Keys starting with `prefix`, in no particular order. */
  list(prefix: string): Promise<string[]>;
  /** Bytes the stored values take now. */
  usedBytes(): Promise<number>;
  close(): Promise<void>;
}
