/**
 * KV pages in the storage tier (src/storage/types.ts): one value per full page, key
 * `kv/<model digest>/<chain key>`, written as safetensors by the driver:
 * - tensors `k` and `v`: `[n_layer][page_size][row]` — F16/F32 rows of `n_head_kv·head_dim` values,
 *   or for q8_0/q4_0 U8 rows of the block bytes (the type is in the metadata);
 * - metadata: model_digest, chain_hash, parent_hash, token_start, token_end, kv_type_k, kv_type_v,
 *   page_size, format.
 *
 * Every read is checked against what the reader expects (digest, key, types, sizes): an entry that
 * does not match is reported as corrupt, and the caller drops it and recomputes.
 * Storage calls are bounded by a timeout, so a slow or dead store costs at most that much.
 */
import type { Storage, StorageDtype, StoredValue } from '../storage/types.ts';
import type { KvTypeName } from './kv-type.ts';
import type { PagePool } from './page-pool.ts';

export const PAGE_FORMAT = 'tessera-kv-page-1';

export class StorageTimeoutError extends Error {
  constructor(op: string, ms: number) {
    super(`storage ${op} took longer than ${ms} ms`);
    this.name = 'StorageTimeoutError';
  }
}

/** `p`, or a StorageTimeoutError after `ms` milliseconds. */
export function withTimeout<T>(p: Promise<T>, ms: number, op: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StorageTimeoutError(op, ms)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function pageStorageKey(modelDigest: string, chainKey: string): string {
  return `kv/${modelDigest}/${chainKey}`;
}

function dtype(t: KvTypeName): StorageDtype {
  return t === 'f16' ? 'F16' : t === 'f32' ? 'F32' : 'U8';
}

function shapeOf(pool: PagePool, t: KvTypeName, pageBytes: number): number[] {
  const { nLayer, nHeadKv, headDim } = pool.shape;
  const n = nHeadKv * headDim;
  return t === 'f16' || t === 'f32' ? [nLayer, pool.pageSize, n] : [nLayer, pool.pageSize, pageBytes / pool.pageSize];
}

export interface PageMeta {
  modelDigest: string;
  chainKey: string;
  parentKey: string;
  tokenStart: number;
}

/** A page's bytes (PagePool.copyOut layout: K layers then V layers) as a stored value. */
export function encodePage(pool: PagePool, bytes: Uint8Array, m: PageMeta): StoredValue {
  const kBytes = pool.shape.nLayer * pool.kPageBytes;
  return {
    tensors: [
      { name: 'k', dtype: dtype(pool.types.k), shape: shapeOf(pool, pool.types.k, pool.kPageBytes), bytes: bytes.subarray(0, kBytes) },
      { name: 'v', dtype: dtype(pool.types.v), shape: shapeOf(pool, pool.types.v, pool.vPageBytes), bytes: bytes.subarray(kBytes) },
    ],
    meta: {
      format: PAGE_FORMAT,
      model_digest: m.modelDigest,
      chain_hash: m.chainKey,
      parent_hash: m.parentKey,
      token_start: String(m.tokenStart),
      token_end: String(m.tokenStart + pool.pageSize),
      kv_type_k: pool.types.k,
      kv_type_v: pool.types.v,
      page_size: String(pool.pageSize),
    },
  };
}

/** The page bytes of `v` when it is the page `m` expects for `pool`; else the reason it is not. */
export function decodePage(pool: PagePool, v: StoredValue, m: PageMeta): { bytes: Uint8Array } | { bad: string } {
  const meta = v.meta ?? {};
  const want: Record<string, string> = {
    format: PAGE_FORMAT,
    model_digest: m.modelDigest,
    chain_hash: m.chainKey,
    kv_type_k: pool.types.k,
    kv_type_v: pool.types.v,
    page_size: String(pool.pageSize),
    token_start: String(m.tokenStart),
  };
  for (const [k, x] of Object.entries(want)) if (meta[k] !== x) return { bad: `${k} is ${JSON.stringify(meta[k])}, expected ${JSON.stringify(x)}` };
  const k = v.tensors.find((t) => t.name === 'k');
  const vv = v.tensors.find((t) => t.name === 'v');
  const nk = pool.shape.nLayer * pool.kPageBytes;
  const nv = pool.shape.nLayer * pool.vPageBytes;
  if (!k || !vv || k.bytes.byteLength !== nk || vv.bytes.byteLength !== nv) return { bad: `tensor sizes differ from ${nk}/${nv} bytes` };
  const out = new Uint8Array(nk + nv);
  out.set(k.bytes, 0);
  out.set(vv.bytes, nk);
  return { bytes: out };
}

/** Storage with the manager's fault handling: timeouts, one log line per failure streak, a back-off. */
export class PageStore {
  private failedUntil = 0;
  private logged = false;
  pendingWrites = 0;
  counts = { reads: 0, readHits: 0, readErrors: 0, corrupt: 0, writes: 0, writeErrors: 0, writesSkipped: 0 };

  constructor(
    readonly storage: Storage,
    readonly timeoutMs: number,
    private readonly log: (msg: string) => void,
    readonly maxPendingWrites = 64,
    private readonly backoffMs = 5000,
  ) {}

  /** Whether to try the store now (false during the back-off after a failure). */
  get available(): boolean {
    return Date.now() >= this.failedUntil;
  }

  private fail(op: string, e: unknown): void {
    this.failedUntil = Date.now() + this.backoffMs;
    if (!this.logged) {
      this.logged = true;
      this.log(`tessera: KV storage (${this.storage.name}) ${op} failed, recomputing instead: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private ok(): void {
    this.logged = false;
  }

  /** The stored value, or null when absent, failing or timed out. */
  async get(key: string): Promise<StoredValue | null> {
    if (!this.available) return null;
    this.counts.reads++;
    try {
      const v = await withTimeout(this.storage.get(key), this.timeoutMs, 'get');
      this.ok();
      if (v) this.counts.readHits++;
      return v;
    } catch (e) {
      this.counts.readErrors++;
      this.fail('get', e);
      return null;
    }
  }

  /** Deletes a corrupt entry (errors ignored: the next read finds it corrupt again). */
  async drop(key: string): Promise<void> {
    this.counts.corrupt++;
    try {
      await withTimeout(this.storage.delete(key), this.timeoutMs, 'delete');
    } catch {
      /* logged by the next failing get/put */
    }
  }

  /** Writes behind: returns at once; the write runs in the background (bounded queue). */
  putBehind(key: string, value: StoredValue): Promise<void> {
    if (!this.available || this.pendingWrites >= this.maxPendingWrites) {
      this.counts.writesSkipped++;
      return Promise.resolve();
    }
    this.pendingWrites++;
    return withTimeout(this.storage.put(key, value), this.timeoutMs, 'put')
      .then(
        () => {
          this.counts.writes++;
          this.ok();
        },
        (e) => {
          this.counts.writeErrors++;
          this.fail('put', e);
        },
      )
      .finally(() => this.pendingWrites--);
  }
}
