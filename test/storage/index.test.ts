/** createStorage: which driver each spec opens, and named errors for bad specs. (Redis URLs: redis.test.ts.) */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageConfigError } from '../../src/storage/errors.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { createStorage, parseBytes } from '../../src/storage/index.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createStorage', () => {
  it('memory:', async () => {
    const s = await createStorage('memory:');
    expect(s).toBeInstanceOf(MemoryStorage);
    expect(s.budgetBytes).toBe(0);
    expect((await createStorage('memory:?budget=64MiB')).budgetBytes).toBe(64 * 2 ** 20);
    expect((await createStorage({ url: 'memory://', budgetBytes: 10 })).budgetBytes).toBe(10);
  });

  it('directories: absolute, file:// and file: relative', async () => {
    const a = await createStorage(join(dir, 'a'));
    expect(a).toBeInstanceOf(FsStorage);
    expect((a as FsStorage).root).toBe(join(dir, 'a'));
    const b = await createStorage(`file://${join(dir, 'b')}?budget=2GB`);
    expect((b as FsStorage).root).toBe(join(dir, 'b'));
    expect(b.budgetBytes).toBe(2e9);
    const rel = `file:${join('.', 'tmp-test-rel-' + process.pid)}`;
    const c = await createStorage(rel);
    expect((c as FsStorage).root).toBe(resolve('tmp-test-rel-' + process.pid));
    rmSync((c as FsStorage).root, { recursive: true, force: true });
  });

  it.each([
    ['', /empty/],
    ['s3://bucket/x', /unknown storage/],
    ['memory:/x', /takes no path/],
    ['memory:?budget=lots', /invalid byte size/],
    ['memory:?size=1', /unknown parameter "size"/],
    ['redis://127.0.0.1:6379/abc', /database must be a number/],
    ['redis://127.0.0.1:6379/0?timeout=-1', /not a non-negative integer/],
    ['redis://127.0.0.1:6379/0?ttl=5', /unknown parameter "ttl"/],
  ])('rejects %j', async (spec, msg) => {
    const p = createStorage(spec);
    await expect(p).rejects.toBeInstanceOf(StorageConfigError);
    await expect(p).rejects.toThrow(msg);
  });

  it('parseBytes', () => {
    expect(parseBytes('1048576')).toBe(1048576);
    expect(parseBytes('512MiB')).toBe(512 * 2 ** 20);
    expect(parseBytes('1.5 GiB')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('2kb')).toBe(2000);
    expect(() => parseBytes('-1')).toThrow(StorageConfigError);
    expect(() => parseBytes('1 parsec')).toThrow(StorageConfigError);
  });
});
