/**
 * Redis driver against a real redis-server the test starts on a free loopback port: the conformance suite, then
 * Redis-only behaviour (shared accounting, damaged and vanished values) and the faults — Redis killed mid-run,
 * Redis slow, Redis absent at startup — through GuardedStorage: every call answers (a miss) within its time
 * limit, one log line per outage, and the cache works again once Redis is back.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageChecksumError } from '../../src/storage/errors.ts';
import { GuardedStorage } from '../../src/storage/guarded.ts';
import { createStorage, openGuardedStorage } from '../../src/storage/index.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import { encodeSafetensors } from '../../src/storage/safetensors.ts';
import { RedisServer, freePort, redisRequired, redisServerBinary } from '../helpers/redis-server.ts';
import { storageConformance, sizeOf } from './conformance.ts';
import { kvPage } from './values.ts';

const available = redisServerBinary !== undefined;
if (!available && !redisRequired) console.warn('[skip] test/storage/redis.test.ts: redis-server is not installed (apt-get install redis-server)');
if (!available && redisRequired) {
  it('redis-server is installed (TESSERA_REQUIRE_REDIS=1)', () => {
    expect(redisServerBinary, 'redis-server not found but TESSERA_REQUIRE_REDIS=1').toBeDefined();
  });
}

describe.skipIf(!available)('redis storage', () => {
  let server: RedisServer;
  let admin: Redis;
  let ns = 0;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url, { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.dispose();
  });

  storageConformance('redis', {
    open: (budgetBytes) => RedisStorage.open({ url: server.url, namespace: `conf${ns++}:`, budgetBytes, commandTimeoutMs: 5000 }),
  });

  it('createStorage picks the database, budget and namespace from the URL', async () => {
    const s = await createStorage(`${server.url}/2?budget=1MiB&prefix=url:&timeout=3000`);
    expect(s).toBeInstanceOf(RedisStorage);
    expect(s.budgetBytes).toBe(1 << 20);
    await s.put('kv/u', kvPage(1));
    await admin.select(2);
    expect(await admin.exists('url:v:kv/u')).toBe(1);
    expect(Number(await admin.get('url:used'))).toBe(sizeOf(kvPage(1)));
    // The value in Redis is the same safetensors file the other drivers write (read back by python3 in safetensors.test.ts).
    expect((await admin.getBuffer('url:v:kv/u'))!.equals(Buffer.from(encodeSafetensors(kvPage(1))))).toBe(true);
    await admin.select(0);
    await s.close();
  });

  it('two clients on one namespace share one byte count and one LRU order', async () => {
    const one = sizeOf(kvPage(0));
    const opts = { url: server.url, namespace: 'shared:', budgetBytes: 2 * one, commandTimeoutMs: 5000 };
    const a = await RedisStorage.open(opts);
    const b = await RedisStorage.open(opts);
    await a.put('kv/1', kvPage(1));
    await b.put('kv/2', kvPage(2));
    expect(await a.get('kv/2')).not.toBeNull(); // kv/1 is now least recently used
    await b.put('kv/3', kvPage(3));
    expect((await a.list('')).sort()).toEqual(['kv/2', 'kv/3']);
    expect(await a.usedBytes()).toBe(2 * one);
    expect(await b.usedBytes()).toBe(2 * one);
    await a.close();
    await b.close();
  });

  it('a damaged value is detected, dropped and missed; a vanished one is missed and uncounted', async () => {
    const bad: [string, Error][] = [];
    const s = await RedisStorage.open({ url: server.url, namespace: 'dmg:', commandTimeoutMs: 5000, onCorrupt: (k, e) => bad.push([k, e]) });
    await s.put('kv/a', kvPage(1));
    await s.put('kv/b', kvPage(2));
    const len = Number(await admin.strlen('dmg:v:kv/a'));
    const byte = (await admin.getrangeBuffer('dmg:v:kv/a', len - 1, len - 1))[0];
    await admin.setrange('dmg:v:kv/a', len - 1, Buffer.from([byte ^ 0x40]));
    expect(await s.get('kv/a')).toBeNull();
    expect(bad.map(([k]) => k)).toEqual(['kv/a']);
    expect(bad[0][1]).toBeInstanceOf(StorageChecksumError);
    expect(await admin.exists('dmg:v:kv/a')).toBe(0);
    expect(await s.usedBytes()).toBe(sizeOf(kvPage(2)));
    await admin.del('dmg:v:kv/b'); // gone behind the driver's back (e.g. Redis' own maxmemory eviction)
    expect(await s.get('kv/b')).toBeNull();
    expect(await s.usedBytes()).toBe(0);
    expect(await s.list('')).toEqual([]);
    await s.close();
  });

  describe('faults, through GuardedStorage', () => {
    const timeoutMs = 400;
    // Generous bound for one call on a loaded 2-core machine: the time limit plus scheduling slack.
    const answerWithin = timeoutMs + 600;

    async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
      const t0 = performance.now();
      const value = await f();
      return { value, ms: performance.now() - t0 };
    }
    async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (await cond()) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    }

    it('Redis killed mid-run: calls miss within the time limit, one log line, then recovery when it is back', async () => {
      const srv = await RedisServer.start();
      const lines: [string, string][] = [];
      const g = await openGuardedStorage(`${srv.url}/0?prefix=kill:&timeout=${timeoutMs}`, { timeoutMs, retryAfterMs: 200, log: (l, m) => lines.push([l, m]) });
      try {
        await g.put('kv/1', kvPage(1));
        expect((await g.get('kv/1'))!.meta.chain_hash).toBe('c1');
        expect(lines).toEqual([]);

        await srv.stop('SIGKILL');
        for (let i = 0; i < 12; i++) {
          const r = await timed(() => g.get('kv/1'));
          expect(r.value).toBeNull();
          expect(r.ms).toBeLessThan(answerWithin);
          const p = await timed(() => g.put(`kv/p${i}`, kvPage(i)));
          expect(p.ms).toBeLessThan(answerWithin);
          expect((await timed(() => g.has('kv/1'))).value).toBe(false);
          expect(await g.list('')).toEqual([]);
          if (i % 4 === 0) await new Promise((r) => setTimeout(r, 120)); // span several retry windows
        }
        expect(g.healthy).toBe(false);
        expect(lines.filter(([l]) => l === 'warn').length).toBe(1);
        expect(lines[0][1]).toMatch(/storage redis failing/);

        await srv.start(); // same port, empty (no persistence)
        expect(await until(async () => (await g.put('kv/back', kvPage(5)), (await g.get('kv/back')) !== null), 10_000)).toBe(true);
        expect(g.healthy).toBe(true);
        expect(lines.map(([l]) => l)).toEqual(['warn', 'info']);
        expect(lines[1][1]).toMatch(/recovered/);
        expect(g.stats.outages).toBe(1);
      } finally {
        await g.close();
        await srv.dispose();
      }
    });

    it('Redis slow (all clients paused): calls miss within the time limit, one log line, recovery after', async () => {
      const lines: [string, string][] = [];
      const g = await openGuardedStorage(`${server.url}/0?prefix=slow:&timeout=5000`, { timeoutMs, retryAfterMs: 200, log: (l, m) => lines.push([l, m]) });
      try {
        await g.put('kv/s', kvPage(3));
        await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
        for (let i = 0; i < 4; i++) {
          const r = await timed(() => g.get('kv/s'));
          expect(r.value).toBeNull();
          expect(r.ms).toBeLessThan(answerWithin);
        }
        expect(g.stats.timeouts).toBeGreaterThanOrEqual(1);
        expect(lines.length).toBe(1);
        expect(lines[0][1]).toMatch(/took longer than 400 ms/);
        expect(await until(async () => (await g.get('kv/s')) !== null, 10_000)).toBe(true);
        expect(lines.map(([l]) => l)).toEqual(['warn', 'info']);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        await g.close();
      }
    });

    it('Redis absent at startup: open returns, calls miss, one log line; it works once Redis starts', async () => {
      const port = await freePort();
      const lines: [string, string][] = [];
      const t0 = performance.now();
      const g: GuardedStorage = await openGuardedStorage(
        { url: `redis://127.0.0.1:${port}/0?prefix=late:`, connectTimeoutMs: 300, commandTimeoutMs: timeoutMs },
        { timeoutMs, retryAfterMs: 200, log: (l, m) => lines.push([l, m]) },
      );
      expect(performance.now() - t0).toBeLessThan(300 + 1000);
      const srv = new RedisServer(port);
      try {
        for (let i = 0; i < 5; i++) {
          const r = await timed(() => g.get('kv/x'));
          expect(r.value).toBeNull();
          expect(r.ms).toBeLessThan(answerWithin);
          await g.put('kv/x', kvPage(1));
        }
        expect(lines.length).toBe(1);
        expect(lines[0][0]).toBe('warn');
        await srv.start();
        expect(await until(async () => (await g.put('kv/x', kvPage(1)), (await g.get('kv/x')) !== null), 10_000)).toBe(true);
        expect(lines.map(([l]) => l)).toEqual(['warn', 'info']);
      } finally {
        await g.close();
        await srv.dispose();
      }
    });
  });
});
