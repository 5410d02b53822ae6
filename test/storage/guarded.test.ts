/**
 * GuardedStorage on its own, with a test double whose store can be made to fail or hang, plus metadata checks
 * and a damaged file reported through openGuardedStorage. (Real Redis faults: redis.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageKeyError, StorageUnavailableError, StorageValueError } from '../../src/storage/errors.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { GuardedStorage } from '../../src/storage/guarded.ts';
import { openGuardedStorage } from '../../src/storage/index.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import type { Storage, StoredValue } from '../../src/storage/types.ts';
import { kvPage } from './values.ts';

/** A memory store whose calls can be made to throw (store down) or never settle (store hung). */
class FlakyStorage implements Storage {
  readonly name = 'flaky';
  readonly budgetBytes = 0;
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  calls = 0;
  readonly inner = new MemoryStorage();
  private run<T>(f: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'fail') return Promise.reject(new StorageUnavailableError('flaky', 'connection refused'));
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    return f();
  }
  get = (k: string) => this.run(() => this.inner.get(k));
  put = (k: string, v: StoredValue) => this.run(() => this.inner.put(k, v));
  has = (k: string) => this.run(() => this.inner.has(k));
  delete = (k: string) => this.run(() => this.inner.delete(k));
  list = (p: string) => this.run(() => this.inner.list(p));
  usedBytes = () => this.run(() => this.inner.usedBytes());
  close = () => this.inner.close();
}

function setup(opts: { timeoutMs?: number; retryAfterMs?: number } = {}) {
  const flaky = new FlakyStorage();
  const lines: [string, string][] = [];
  let clock = 0;
  const g = new GuardedStorage(flaky, { timeoutMs: opts.timeoutMs ?? 100, retryAfterMs: opts.retryAfterMs ?? 1000, log: (l, m) => lines.push([l, m]), now: () => clock });
  return { flaky, g, lines, advance: (ms: number) => (clock += ms) };
}

describe('GuardedStorage', () => {
  it('passes calls through while the store works', async () => {
    const { g, lines } = setup();
    await g.put('kv/a', kvPage(1));
    expect((await g.get('kv/a'))!.meta.chain_hash).toBe('c1');
    expect(await g.get('kv/none')).toBeNull();
    expect(await g.has('kv/a')).toBe(true);
    expect(await g.list('kv/')).toEqual(['kv/a']);
    expect(g.stats).toMatchObject({ hits: 1, misses: 1, failures: 0 });
    expect(lines).toEqual([]);
  });

  it('a failing store: misses, one log line, no calls to it inside the retry window, one line on recovery', async () => {
    const { flaky, g, lines, advance } = setup({ retryAfterMs: 1000 });
    await g.put('kv/a', kvPage(1));
    flaky.mode = 'fail';
    expect(await g.get('kv/a')).toBeNull();
    const callsAfterFirst = flaky.calls;
    for (let i = 0; i < 10; i++) {
      expect(await g.get('kv/a')).toBeNull();
      await g.put('kv/b', kvPage(2));
      expect(await g.has('kv/a')).toBe(false);
      expect(await g.delete('kv/a')).toBe(false);
      expect(await g.list('')).toEqual([]);
      expect(await g.usedBytes()).toBe(0);
    }
    expect(flaky.calls).toBe(callsAfterFirst); // all answered without touching the store
    expect(g.stats.skipped).toBe(60);
    advance(1001);
    expect(await g.get('kv/a')).toBeNull(); // one probe, still failing: no new line
    expect(flaky.calls).toBe(callsAfterFirst + 1);
    expect(lines.length).toBe(1);
    expect(lines[0]).toEqual(['warn', 'storage flaky failing (flaky storage unavailable: connection refused); serving without it, retrying every 1000 ms']);
    flaky.mode = 'ok';
    advance(1001);
    expect((await g.get('kv/a'))!.meta.chain_hash).toBe('c1');
    expect(await g.has('kv/b')).toBe(false); // that put was dropped
    expect(g.stats.droppedPuts).toBe(10);
    expect(lines.map(([l]) => l)).toEqual(['warn', 'info']);
    expect(g.healthy).toBe(true);
    // A second outage logs again, once.
    flaky.mode = 'fail';
    await g.get('kv/a');
    advance(2000);
    await g.get('kv/a');
    expect(lines.map(([l]) => l)).toEqual(['warn', 'info', 'warn']);
    expect(g.stats.outages).toBe(2);
  });

  it('a hung store: each call answers within the time limit', async () => {
    const { flaky, g, lines, advance } = setup({ timeoutMs: 80 });
    flaky.mode = 'hang';
    for (let i = 0; i < 3; i++) {
      advance(5000); // past the retry window each time, so every call reaches the hung store
      const t0 = performance.now();
      expect(await g.get('kv/a')).toBeNull();
      advance(5000);
      await g.put('kv/a', kvPage(1));
      expect(performance.now() - t0).toBeLessThan(2 * 80 + 500);
    }
    expect(g.stats.timeouts).toBe(6);
    expect(lines.length).toBe(1);
    expect(lines[0][1]).toMatch(/flaky storage: get took longer than 80 ms/);
  });

  it('caller mistakes still throw; a value over the budget is dropped quietly', async () => {
    const lines: string[] = [];
    const g = new GuardedStorage(new MemoryStorage({ budgetBytes: 100 }), { log: (_l, m) => lines.push(m) });
    await expect(g.get('../etc/passwd')).rejects.toBeInstanceOf(StorageKeyError);
    await expect(g.put('kv/x', { tensors: [{ name: 'x', dtype: 'F32', shape: [3], bytes: new Uint8Array(4) }], meta: {} })).rejects.toBeInstanceOf(StorageValueError);
    await g.put('kv/big', kvPage(1, 64));
    expect(await g.has('kv/big')).toBe(false);
    expect(g.stats.tooLarge).toBe(1);
    expect(lines).toEqual([]);
    expect(g.healthy).toBe(true);
  });

  it('get with expected metadata drops an entry of another model and reports a miss', async () => {
    const lines: [string, string][] = [];
    const mem = new MemoryStorage();
    const g = new GuardedStorage(mem, { log: (l, m) => lines.push([l, m]) });
    const page = kvPage(7); // model_digest sha256-00000007
    await g.put('kv/p', page);
    expect(await g.get('kv/p', { model_digest: 'sha256-00000007', kv_type: 'f16' })).not.toBeNull();
    expect(await g.get('kv/p', { model_digest: 'sha256-ffffffff' })).toBeNull();
    expect(await mem.has('kv/p')).toBe(false);
    expect(g.stats.corrupt).toBe(1);
    expect(lines).toEqual([['warn', 'storage memory: dropped damaged entry kv/p (metadata model_digest is "sha256-00000007", expected "sha256-ffffffff"); it will be recomputed']]);
  });
});

describe('openGuardedStorage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-guard-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('logs a damaged file the fs driver dropped, and misses', async () => {
    const lines: [string, string][] = [];
    const g = await openGuardedStorage(`file://${dir}?budget=1MiB`, { log: (l, m) => lines.push([l, m]) });
    expect(g.inner).toBeInstanceOf(FsStorage);
    expect(g.budgetBytes).toBe(1 << 20);
    await g.put('kv/d', kvPage(1));
    writeFileSync((g.inner as FsStorage).pathOf('kv/d'), 'not safetensors');
    expect(await g.get('kv/d')).toBeNull();
    expect(g.stats.corrupt).toBe(1);
    expect(lines.length).toBe(1);
    expect(lines[0][1]).toMatch(/^storage fs: dropped damaged entry kv\/d \(safetensors: .*\); it will be recomputed$/);
    expect(g.healthy).toBe(true); // damage is not an outage
    await g.close();
  });
});
