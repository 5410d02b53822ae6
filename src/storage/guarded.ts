/**
 * A Storage that never fails its caller because of the store: for a cache (KV pages, image tensors), a store that
 * is down, slow or damaged must only cost a recomputation.
 *
 * - Every call has a time limit (`timeoutMs`); a call that fails or runs past it becomes a miss:
 *   get → null, has → false, put → dropped, delete → false, list → [], usedBytes → 0.
 * - The first failure of an outage is logged once (warn); during the next `retryAfterMs` calls don't reach the
 *   driver at all (a miss at once, no waiting on a dead store); after that one call probes it again. The first
 *   success — or the driver reporting 'up' — logs the recovery once (info).
 * - get(key, expectMeta) drops an entry whose metadata disagrees (e.g. another model digest) and returns null.
 * - Caller mistakes still throw: StorageKeyError (bad key), StorageValueError (bad value). A value larger than the
 *   whole budget is dropped (counted in stats.tooLarge).
 *
 * @example
 * const cache = await openGuardedStorage('redis://127.0.0.1:6379/0?budget=2GiB');
 * const page = await cache.get(key, { model_digest: digest }); // null: recompute
 */
import { StorageKeyError, StorageTimeoutError, StorageTooLargeError, StorageValueError } from './errors.ts';
import type { Storage, StoredValue } from './types.ts';

export type StorageLogger = (level: 'warn' | 'info', message: string) => void;

export interface GuardedStorageOptions {
  /** Time limit of one call, in ms (default 1500). */
  timeoutMs?: number;
  /** After a failure, calls are answered as misses without trying the store for this long, in ms (default 1000). */
  retryAfterMs?: number;
  /** Where the outage/recovery/corruption lines go (default console.warn / console.info). */
  log?: StorageLogger;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface GuardedStorageStats {
  hits: number;
  misses: number; // absent entries (not failures)
  failures: number; // calls that failed or timed out
  timeouts: number; // of which timed out
  skipped: number; // calls answered as misses while the store was marked down
  droppedPuts: number; // puts lost to failures
  tooLarge: number; // puts of values larger than the budget
  corrupt: number; // entries dropped as damaged or with unexpected metadata
  outages: number;
}

const defaultLog: StorageLogger = (level, message) => (level === 'warn' ? console.warn : console.info)(`[tessera] ${message}`);

function isCallerError(e: unknown): boolean {
  return e instanceof StorageKeyError || e instanceof StorageValueError;
}

export class GuardedStorage implements Storage {
  readonly inner: Storage;
  readonly stats: GuardedStorageStats = { hits: 0, misses: 0, failures: 0, timeouts: 0, skipped: 0, droppedPuts: 0, tooLarge: 0, corrupt: 0, outages: 0 };
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly log: StorageLogger;
  private readonly now: () => number;
  private down = false;
  private retryAt = 0;

  constructor(inner: Storage, opts: GuardedStorageOptions = {}) {
    this.inner = inner;
    this.timeoutMs = opts.timeoutMs ?? 1500;
    this.retryAfterMs = opts.retryAfterMs ?? 1000;
    this.log = opts.log ?? defaultLog;
    this.now = opts.now ?? (() => performance.now());
  }

  get name(): string {
    return this.inner.name;
  }
  get budgetBytes(): number {
    return this.inner.budgetBytes;
  }
  /** False from the first failure of an outage until the store answers again. */
  get healthy(): boolean {
    return !this.down;
  }

  /** The driver saw its connection drop (RedisStorageOptions.onState). Logs once per outage. */
  reportDown(error: Error): void {
    this.markFailure(error);
  }
  /** The driver is connected again. */
  reportUp(): void {
    this.markRecovered();
  }
  /** The driver dropped a damaged entry (onCorrupt of the fs and redis drivers). */
  reportCorrupt(key: string, error: Error): void {
    this.stats.corrupt++;
    this.log('warn', `storage ${this.name}: dropped damaged entry ${key} (${error.message}); it will be recomputed`);
  }

  private markFailure(e: Error): void {
    this.retryAt = this.now() + this.retryAfterMs;
    if (this.down) return;
    this.down = true;
    this.stats.outages++;
    this.log('warn', `storage ${this.name} failing (${e.message}); serving without it, retrying every ${this.retryAfterMs} ms`);
  }

  private markRecovered(): void {
    if (!this.down) return;
    this.down = false;
    this.retryAt = 0;
    this.log('info', `storage ${this.name} recovered`);
  }

  /** Run `op` on the driver within the time limit; `miss` when the store is down, fails or is too slow. */
  private async guard<T>(opName: string, op: () => Promise<T>, miss: T): Promise<{ ok: boolean; value: T }> {
    if (this.down && this.now() < this.retryAt) {
      this.stats.skipped++;
      return { ok: false, value: miss };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const p = (async () => op())(); // a driver that throws synchronously still becomes a rejection
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageTimeoutError(this.name, opName, this.timeoutMs)), this.timeoutMs);
    });
    try {
      const value = await Promise.race([p, timeout]);
      this.markRecovered();
      return { ok: true, value };
    } catch (e) {
      if (isCallerError(e)) throw e;
      if (e instanceof StorageTooLargeError) {
        this.stats.tooLarge++;
        return { ok: false, value: miss };
      }
      p.catch(() => undefined); // a timed-out call may still reject later
      this.stats.failures++;
      if (e instanceof StorageTimeoutError) this.stats.timeouts++;
      this.markFailure(e as Error);
      return { ok: false, value: miss };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The value, or null when absent, damaged, unreachable or slow. With `expectMeta`, an entry whose metadata
   * differs in any of those keys (e.g. model_digest) is deleted and reported as a miss.
   */
  async get(key: string, expectMeta?: Readonly<Record<string, string>>): Promise<StoredValue | null> {
    const r = await this.guard('get', () => this.inner.get(key), null);
    const v = r.value;
    if (!v) {
      if (r.ok) this.stats.misses++;
      return null;
    }
    if (expectMeta) {
      for (const [k, want] of Object.entries(expectMeta)) {
        if (v.meta[k] !== want) {
          await this.guard('delete', () => this.inner.delete(key), false);
          this.reportCorrupt(key, new Error(`metadata ${k} is ${JSON.stringify(v.meta[k] ?? null)}, expected ${JSON.stringify(want)}`));
          return null;
        }
      }
    }
    this.stats.hits++;
    return v;
  }

  /** Store the value; dropped (not thrown) when the store fails, is too slow, or the value exceeds the budget. */
  async put(key: string, value: StoredValue): Promise<void> {
    const r = await this.guard('put', () => this.inner.put(key, value), undefined);
    if (!r.ok) this.stats.droppedPuts++;
  }

  async has(key: string): Promise<boolean> {
    return (await this.guard('has', () => this.inner.has(key), false)).value;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.guard('delete', () => this.inner.delete(key), false)).value;
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.guard('list', () => this.inner.list(prefix), [] as string[])).value;
  }

  async usedBytes(): Promise<number> {
    return (await this.guard('usedBytes', () => this.inner.usedBytes(), 0)).value;
  }

  async close(): Promise<void> {
    await this.guard('close', () => this.inner.close(), undefined);
  }
}
