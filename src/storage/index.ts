/**
 * Storage for KV pages, image tensors and tuning results: the interface (types.ts), its drivers, and
 * createStorage() that picks one from a URL.
 *
 * | spec                                   | driver                                   |
 * |----------------------------------------|------------------------------------------|
 * | `memory:`                              | MemoryStorage                            |
 * | `/abs/dir`, `./rel/dir`, `file:///dir` | FsStorage (created if missing)           |
 * | `redis://[:pw@]host:port/db`           | RedisStorage (ioredis); `rediss://` TLS  |
 *
 * Query parameters, on any URL form: `budget` (bytes; suffixes KB MB GB = 1000ⁿ, KiB MiB GiB = 1024ⁿ),
 * and for redis `prefix` (namespace, default `tessera:`) and `timeout` (ms per command).
 *
 * @example
 * const raw = await createStorage('file:///var/cache/tessera?budget=8GiB');
 * const cache = await openGuardedStorage('redis://127.0.0.1:6379/0?budget=2GiB'); // failures become misses
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StorageConfigError } from './errors.ts';
import { FsStorage } from './fs.ts';
import { GuardedStorage, type GuardedStorageOptions } from './guarded.ts';
import { MemoryStorage } from './memory.ts';
import type { Storage } from './types.ts';

export * from './types.ts';
export * from './errors.ts';
export { validateKey, validatePrefix } from './keys.ts';
export { encodeSafetensors, decodeSafetensors, DTYPE_BYTES, CHECKSUM_KEY } from './safetensors.ts';
export { MemoryStorage, type MemoryStorageOptions } from './memory.ts';
export { FsStorage, type FsStorageOptions } from './fs.ts';
// The Redis driver is loaded on first use (createStorage with a redis:// URL), so memory/fs users never load ioredis.
export type { RedisStorage, RedisStorageOptions } from './redis.ts';
export { GuardedStorage, type GuardedStorageOptions, type GuardedStorageStats, type StorageLogger } from './guarded.ts';

export interface StorageConfig {
  /** See the table above. */
  url: string;
  /** Overrides the URL's `budget`. */
  budgetBytes?: number;
  /** Redis: namespace prefix; overrides `prefix`. */
  namespace?: string;
  /** Redis: per-command time limit in ms; overrides `timeout`. */
  commandTimeoutMs?: number;
  /** Redis: how long createStorage waits for the first connection (default 2000 ms). */
  connectTimeoutMs?: number;
  onCorrupt?: (key: string, error: Error) => void;
  onState?: (state: 'up' | 'down', error?: Error) => void;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "1073741824", "512MiB", "2 GB" → bytes. Throws StorageConfigError. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new StorageConfigError(`invalid byte size ${JSON.stringify(text)} (e.g. 1048576, 512MiB, 2GB)`);
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new StorageConfigError(`byte size ${JSON.stringify(text)} is too large`);
  return n;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v)) throw new StorageConfigError(`storage URL parameter ${name}=${JSON.stringify(v)} is not a non-negative integer`);
  return Number(v);
}

function checkParams(q: URLSearchParams, allowed: string[], spec: string): void {
  for (const k of q.keys()) if (!allowed.includes(k)) throw new StorageConfigError(`unknown parameter ${JSON.stringify(k)} in storage URL ${spec} (allowed: ${allowed.join(', ')})`);
}

/** Open the driver a spec names. Throws StorageConfigError for an unknown or malformed spec. */
export async function createStorage(spec: string | StorageConfig): Promise<Storage> {
  const cfg: StorageConfig = typeof spec === 'string' ? { url: spec } : spec;
  const url = cfg.url;
  if (typeof url !== 'string' || url.length === 0) throw new StorageConfigError('storage URL is empty');
  const q = url.indexOf('?');
  const base = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const budgetParam = params.get('budget');
  const budgetBytes = cfg.budgetBytes ?? (budgetParam === null ? 0 : parseBytes(budgetParam));
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(base)?.[1]?.toLowerCase();

  if (scheme === 'memory') {
    checkParams(params, ['budget'], url);
    if (base !== 'memory:' && base !== 'memory://') throw new StorageConfigError(`memory storage takes no path: ${url}`);
    return new MemoryStorage({ budgetBytes });
  }
  if (scheme === undefined || scheme === 'file') {
    checkParams(params, ['budget'], url);
    let dir: string;
    if (scheme === undefined) dir = base;
    else if (base.startsWith('file://')) {
      try {
        dir = fileURLToPath(base);
      } catch (e) {
        throw new StorageConfigError(`invalid file URL ${url}: ${(e as Error).message}`);
      }
    } else dir = base.slice('file:'.length);
    if (dir.length === 0) throw new StorageConfigError(`storage URL ${url} names no directory`);
    return FsStorage.open(resolve(dir), { budgetBytes, onCorrupt: cfg.onCorrupt });
  }
  if (scheme === 'redis' || scheme === 'rediss') {
    checkParams(params, ['budget', 'prefix', 'timeout'], url);
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw new StorageConfigError(`invalid redis URL ${url}`);
    }
    const db = parsed.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db)) throw new StorageConfigError(`redis URL ${url}: database must be a number`);
    const { RedisStorage } = await import('./redis.ts');
    return RedisStorage.open({
      url: base,
      budgetBytes,
      namespace: cfg.namespace ?? params.get('prefix') ?? undefined,
      commandTimeoutMs: cfg.commandTimeoutMs ?? intParam(params, 'timeout'),
      connectTimeoutMs: cfg.connectTimeoutMs,
      onCorrupt: cfg.onCorrupt,
      onState: cfg.onState,
    });
  }
  throw new StorageConfigError(`unknown storage ${JSON.stringify(url)}: use memory:, a directory path or file:// URL, or redis://host:port/db`);
}

/**
 * createStorage() wrapped in a GuardedStorage, with the driver's corruption and connection reports going to the
 * guard's log (one line per outage, one per dropped entry).
 */
export async function openGuardedStorage(spec: string | StorageConfig, opts: GuardedStorageOptions = {}): Promise<GuardedStorage> {
  const cfg: StorageConfig = typeof spec === 'string' ? { url: spec } : spec;
  let guard: GuardedStorage | undefined;
  const early: (() => void)[] = []; // reports that arrive before the guard exists (none in practice)
  const driver = await createStorage({
    ...cfg,
    onCorrupt: (k, e) => (guard ? guard.reportCorrupt(k, e) : early.push(() => guard!.reportCorrupt(k, e)), cfg.onCorrupt?.(k, e)),
    onState: (s, e) => {
      const f = () => (s === 'down' ? guard!.reportDown(e ?? new Error('connection lost')) : guard!.reportUp());
      if (guard) f();
      else early.push(f);
      cfg.onState?.(s, e);
    },
  });
  guard = new GuardedStorage(driver, opts);
  for (const f of early) f();
  return guard;
}
