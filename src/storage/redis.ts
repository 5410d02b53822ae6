/**
 * Redis storage through ioredis (pinned in package.json). Values are the safetensors bytes (checksummed, as in
 * every driver); the byte budget and least-recently-used order live in Redis beside them, updated by Lua scripts
 * so several Tessera processes sharing one Redis namespace keep one consistent count:
 *   <ns>v:<key>  the value (string, binary)     <ns>sizes  hash  key → bytes
 *   <ns>lru      zset key → use clock            <ns>used   bytes of all values     <ns>clock  counter
 * The scripts touch value keys they compute from the namespace, so this driver targets a standalone Redis,
 * not Redis Cluster.
 *
 * Failure behaviour: every command has a time limit (`commandTimeoutMs`, default 1000). While the connection is
 * not ready (Redis stopped, restarting, unreachable) commands fail at once with StorageUnavailableError instead of
 * queueing; ioredis keeps reconnecting in the background (backoff up to 2 s) and the driver is usable again when
 * Redis is back. `onState` reports each down/up transition once. Logging is the caller's (see GuardedStorage).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { StorageClosedError, StorageError, StorageTimeoutError, StorageTooLargeError, StorageUnavailableError, isCorruptionError } from './errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import type { Storage, StoredValue } from './types.ts';

export interface RedisStorageOptions {
  /** `redis://[[user]:password@]host[:port][/db]` (default redis://127.0.0.1:6379/0). */
  url?: string;
  /** Byte budget for the values in this namespace; 0 (default) = unlimited. */
  budgetBytes?: number;
  /** Prefix of every Redis key this driver uses (default 'tessera:'). */
  namespace?: string;
  /** Time limit of one command, in ms (default 1000). */
  commandTimeoutMs?: number;
  /** How long open() waits for the first connection before returning a driver that is down (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Called when get() finds a damaged entry (it is deleted and reported as a miss). */
  onCorrupt?: (key: string, error: Error) => void;
  /** Called on each transition: 'down' with the error that caused it, then 'up' once Redis answers again. */
  onState?: (state: 'up' | 'down', error?: Error) => void;
}

// KEYS: value, sizes, lru, used, clock. ARGV: key.
const GET_LUA = `
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[1])
  return v
end
local s = redis.call('HGET', KEYS[2], ARGV[1])
if s then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DECRBY', KEYS[4], s)
end
return false`;

// KEYS: value, sizes, lru, used, clock. ARGV: key, bytes, budget, value-key prefix. Returns the evicted keys.
const PUT_LUA = `
local size = string.len(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], size)
local used = redis.call('INCRBY', KEYS[4], size - old)
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[1])
local budget = tonumber(ARGV[3])
local evicted = {}
if budget > 0 then
  while used > budget do
    local victim = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if (not victim) or victim == ARGV[1] then break end
    local vs = tonumber(redis.call('HGET', KEYS[2], victim) or '0')
    redis.call('DEL', ARGV[4] .. victim)
    redis.call('HDEL', KEYS[2], victim)
    redis.call('ZREM', KEYS[3], victim)
    used = redis.call('DECRBY', KEYS[4], vs)
    evicted[#evicted + 1] = victim
  end
end
return evicted`;

// KEYS: value, sizes, lru, used. ARGV: key. Returns how many values were deleted (0 or 1).
const DEL_LUA = `
local n = redis.call('DEL', KEYS[1])
local s = redis.call('HGET', KEYS[2], ARGV[1])
if s then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DECRBY', KEYS[4], s)
end
return n`;

type ScriptFn = (...args: (string | Buffer | number)[]) => Promise<unknown>;

export class RedisStorage implements Storage {
  readonly name = 'redis';
  readonly budgetBytes: number;
  readonly namespace: string;
  private readonly client: Redis;
  private readonly scripts: { get: ScriptFn; put: ScriptFn; del: ScriptFn };
  private readonly onCorrupt?: (key: string, error: Error) => void;
  private readonly onState?: (state: 'up' | 'down', error?: Error) => void;
  private readonly timeoutMs: number;
  private up = false;
  private lastError: Error | undefined;
  private closed = false;

  private constructor(opts: RedisStorageOptions) {
    this.budgetBytes = opts.budgetBytes ?? 0;
    this.namespace = opts.namespace ?? 'tessera:';
    this.timeoutMs = opts.commandTimeoutMs ?? 1000;
    this.onCorrupt = opts.onCorrupt;
    this.onState = opts.onState;
    const options: RedisOptions = {
      commandTimeout: this.timeoutMs,
      connectTimeout: opts.connectTimeoutMs ?? 2000,
      enableOfflineQueue: false, // fail fast while down instead of queueing
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      lazyConnect: true,
    };
    this.client = new Redis(opts.url ?? 'redis://127.0.0.1:6379/0', options);
    this.client.on('error', (e: Error) => this.markDown(e)); // also keeps ioredis from printing unhandled errors
    this.client.on('close', () => this.markDown(this.lastError ?? new Error('connection closed')));
    this.client.on('ready', () => {
      this.lastError = undefined;
      if (!this.up) {
        this.up = true;
        this.onState?.('up');
      }
    });
    this.client.defineCommand('tesseraGet', { lua: GET_LUA, numberOfKeys: 5 });
    this.client.defineCommand('tesseraPut', { lua: PUT_LUA, numberOfKeys: 5 });
    this.client.defineCommand('tesseraDel', { lua: DEL_LUA, numberOfKeys: 4 });
    const c = this.client as unknown as Record<string, ScriptFn>;
    this.scripts = { get: c.tesseraGetBuffer.bind(this.client), put: c.tesseraPut.bind(this.client), del: c.tesseraDel.bind(this.client) };
  }

  /** Connect (waiting up to connectTimeoutMs). Returns even when Redis is down: the driver reconnects by itself. */
  static async open(opts: RedisStorageOptions = {}): Promise<RedisStorage> {
    const s = new RedisStorage(opts);
    const wait = opts.connectTimeoutMs ?? 2000;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      s.client.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
      s.client.connect().catch(() => undefined); // failures arrive as 'error' events; reconnects continue
    });
    return s;
  }

  /** True while the connection is ready. */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  private markDown(e: Error): void {
    this.lastError = e;
    if (this.up && !this.closed) {
      this.up = false;
      this.onState?.('down', e);
    }
  }

  private keysOf(key: string): string[] {
    const ns = this.namespace;
    return [`${ns}v:${key}`, `${ns}sizes`, `${ns}lru`, `${ns}used`, `${ns}clock`];
  }

  /** Run one command, turning client failures into named storage errors. */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StorageClosedError(this.name);
    if (this.client.status !== 'ready')
      throw new StorageUnavailableError(this.name, `not connected (${this.client.status}${this.lastError ? `: ${this.lastError.message}` : ''})`);
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      const msg = (e as Error)?.message ?? String(e);
      if (/timed out/i.test(msg)) throw new StorageTimeoutError(this.name, op, this.timeoutMs);
      throw new StorageUnavailableError(this.name, `${op}: ${msg}`, { cause: e });
    }
  }

  async get(key: string): Promise<StoredValue | null> {
    validateKey(key);
    const raw = (await this.call('get', () => this.scripts.get(...this.keysOf(key), key))) as Buffer | null;
    if (raw === null || raw === undefined) return null;
    try {
      return decodeSafetensors(raw);
    } catch (e) {
      if (!isCorruptionError(e)) throw e;
      await this.call('delete', () => this.scripts.del(...this.keysOf(key).slice(0, 4), key));
      this.onCorrupt?.(key, e as Error);
      return null;
    }
  }

  async put(key: string, value: StoredValue): Promise<void> {
    validateKey(key);
    const bytes = encodeSafetensors(value);
    if (this.budgetBytes > 0 && bytes.length > this.budgetBytes) throw new StorageTooLargeError(key, bytes.length, this.budgetBytes);
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await this.call('put', () => this.scripts.put(...this.keysOf(key), key, buf, this.budgetBytes, `${this.namespace}v:`));
  }

  async has(key: string): Promise<boolean> {
    validateKey(key);
    return (await this.call('has', () => this.client.exists(`${this.namespace}v:${key}`))) === 1;
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    return (await this.call('delete', () => this.scripts.del(...this.keysOf(key).slice(0, 4), key))) === 1;
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix); // the key grammar has no glob characters, so `prefix*` matches literally
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.call('list', () => this.client.hscan(`${this.namespace}sizes`, cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000));
      for (let i = 0; i < flat.length; i += 2) out.push(flat[i]);
      cursor = next;
    } while (cursor !== '0');
    return out;
  }

  async usedBytes(): Promise<number> {
    const v = await this.call('usedBytes', () => this.client.get(`${this.namespace}used`));
    return v === null ? 0 : Number(v);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.client.status === 'ready') {
      await Promise.race([this.client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, this.timeoutMs).unref())]);
    }
    this.client.disconnect();
  }
}
