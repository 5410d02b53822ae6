/**
 * In-process storage: each value is kept as its encoded safetensors bytes (so the budget counts what a file or a
 * Redis entry would take, and later changes to the caller's arrays don't reach the store). LRU eviction.
 */
import { StorageClosedError, StorageTooLargeError } from './errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { LruBytes } from './lru.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import type { Storage, StoredValue } from './types.ts';

export interface MemoryStorageOptions {
  /** Byte budget for the encoded values; 0 (default) = unlimited. */
  budgetBytes?: number;
}

export class MemoryStorage implements Storage {
  readonly name = 'memory';
  readonly budgetBytes: number;
  private readonly values = new Map<string, Uint8Array>(); // key → safetensors bytes
  private readonly lru = new LruBytes();
  private closed = false;

  constructor(opts: MemoryStorageOptions = {}) {
    this.budgetBytes = opts.budgetBytes ?? 0;
  }

  private open(): void {
    if (this.closed) throw new StorageClosedError(this.name);
  }

  async get(key: string): Promise<StoredValue | null> {
    this.open();
    validateKey(key);
    const b = this.values.get(key);
    if (!b) return null;
    this.lru.touch(key);
    return decodeSafetensors(b.slice(), { checksum: 'skip' }); // a copy (the caller may write into it); bytes never left this process, so no checksum pass
  }

  async put(key: string, value: StoredValue): Promise<void> {
    this.open();
    validateKey(key);
    const bytes = encodeSafetensors(value);
    if (this.budgetBytes > 0 && bytes.length > this.budgetBytes) throw new StorageTooLargeError(key, bytes.length, this.budgetBytes);
    for (const k of this.lru.victims(key, bytes.length, this.budgetBytes)) {
      this.values.delete(k);
      this.lru.remove(k);
    }
    this.values.set(key, bytes);
    this.lru.set(key, bytes.length);
  }

  async has(key: string): Promise<boolean> {
    this.open();
    validateKey(key);
    return this.values.has(key);
  }

  async delete(key: string): Promise<boolean> {
    this.open();
    validateKey(key);
    this.lru.remove(key);
    return this.values.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    this.open();
    validatePrefix(prefix);
    return [...this.values.keys()].filter((k) => k.startsWith(prefix));
  }

  async usedBytes(): Promise<number> {
    this.open();
    return this.lru.used;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.values.clear();
    this.lru.clear();
  }
}
