/**
 * Filesystem driver: the shared conformance suite, then what only files have — layout, atomic replacement,
 * usage counted again after a restart, recency kept across it, and damaged files detected, dropped and missed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsError, StorageChecksumError } from '../../src/storage/errors.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { storageConformance, sizeOf } from './conformance.ts';
import { kvPage } from './values.ts';

const base = mkdtempSync(join(tmpdir(), 'tessera-fs-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const newDir = () => join(base, `s${n++}`);

storageConformance('fs', { open: (budgetBytes) => FsStorage.open(newDir(), { budgetBytes }) });

/** Every file under `dir`, relative, '/'-separated. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

describe('fs storage: files', () => {
  it('lays keys out as <root>/<segments>.safetensors and leaves no temp files', async () => {
    const dir = newDir();
    const s = await FsStorage.open(dir);
    await s.put('kv/abc/0', kvPage(1));
    await s.put('kv/abc/0', kvPage(2)); // replace
    await s.put('img/x', kvPage(3));
    expect(filesUnder(dir)).toEqual(['img/x.safetensors', 'kv/abc/0.safetensors']);
    expect(s.pathOf('kv/abc/0')).toBe(join(dir, 'kv', 'abc', '0.safetensors'));
    await s.close();
  });

  it('counts usage again after a restart, equal to the files\' sizes on disk', async () => {
    const dir = newDir();
    const s = await FsStorage.open(dir);
    for (let i = 0; i < 6; i++) await s.put(`kv/r/${i}`, kvPage(i, 1 + i));
    await s.delete('kv/r/3');
    const onDisk = filesUnder(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    expect(await s.usedBytes()).toBe(onDisk);
    await s.close();
    const again = await FsStorage.open(dir);
    expect(await again.usedBytes()).toBe(onDisk);
    expect((await again.list('kv/')).sort()).toEqual(['kv/r/0', 'kv/r/1', 'kv/r/2', 'kv/r/4', 'kv/r/5']);
    expect((await again.get('kv/r/5'))!.meta).toEqual(kvPage(5, 6).meta);
    await again.close();
  });

  it('keeps least-recently-used order across a restart (file mtimes) and trims to a smaller budget on open', async () => {
    const dir = newDir();
    const s = await FsStorage.open(dir);
    for (let i = 0; i < 4; i++) await s.put(`kv/o/${i}`, kvPage(i));
    await s.close();
    // Set recency explicitly (mtime resolution varies by filesystem): 2 oldest, then 0, 3, 1.
    const order = [2, 0, 3, 1];
    order.forEach((k, rank) => {
      const t = new Date(Date.UTC(2026, 0, 1, 0, 0, rank));
      utimesSync(join(dir, 'kv', 'o', `${k}.safetensors`), t, t);
    });
    const one = sizeOf(kvPage(0));
    const small = await FsStorage.open(dir, { budgetBytes: 2 * one });
    expect((await small.list('')).sort()).toEqual(['kv/o/1', 'kv/o/3']);
    expect(await small.usedBytes()).toBe(2 * one);
    expect(filesUnder(dir)).toEqual(['kv/o/1.safetensors', 'kv/o/3.safetensors']);
    await small.close();
  });

  it('removes temp files of interrupted writes on open, and they never shadow the real value', async () => {
    const dir = newDir();
    const s = await FsStorage.open(dir);
    await s.put('kv/t', kvPage(7));
    await s.close();
    const tmp = join(dir, 'kv', '.t.12345.abcdef.tmp');
    writeFileSync(tmp, Buffer.from(encodeURIComponent('half a file')));
    const again = await FsStorage.open(dir);
    expect(filesUnder(dir)).toEqual(['kv/t.safetensors']);
    expect((await again.get('kv/t'))!.meta.chain_hash).toBe('c7');
    expect(await again.list('')).toEqual(['kv/t']);
    await again.close();
  });

  it('ignores files it did not write (other names, keys outside the grammar)', async () => {
    const dir = newDir();
    const s0 = await FsStorage.open(dir);
    await s0.close();
    writeFileSync(join(dir, 'README.txt'), 'hello');
    writeFileSync(join(dir, 'has space.safetensors'), 'x');
    const s = await FsStorage.open(dir);
    expect(await s.list('')).toEqual([]);
    expect(await s.usedBytes()).toBe(0);
    await s.close();
  });
});

describe('fs storage: damaged files are detected, dropped and missed', () => {
  const cases: [string, (file: string) => void, (e: Error) => void][] = [
    ['one flipped bit in the tensor data', (f) => flip(f, statSync(f).size - 3, 0x10), (e) => expect(e).toBeInstanceOf(StorageChecksumError)],
    ['one flipped bit in the metadata (model digest)', (f) => flipInside(f, 'sha256-00000009', 0x01), (e) => expect(e).toBeInstanceOf(StorageChecksumError)],
    ['truncated data', (f) => truncateSync(f, statSync(f).size - 10), (e) => expect((e as SafetensorsError).code).toBe('safetensors_truncated')],
    ['truncated header', (f) => truncateSync(f, 20), (e) => expect((e as SafetensorsError).code).toBe('safetensors_truncated')],
    ['empty file', (f) => truncateSync(f, 0), (e) => expect((e as SafetensorsError).code).toBe('safetensors_truncated')],
    ['not safetensors at all', (f) => writeFileSync(f, 'GGUF and then some bytes that are not a header'), (e) => expect(e).toBeInstanceOf(SafetensorsError)],
  ];
  for (const [what, damage, check] of cases) {
    it(what, async () => {
      const dir = newDir();
      const reported: [string, Error][] = [];
      const s = await FsStorage.open(dir, { onCorrupt: (k, e) => reported.push([k, e]) });
      await s.put('kv/ok', kvPage(8));
      await s.put('kv/bad', kvPage(9));
      const file = s.pathOf('kv/bad');
      damage(file);
      expect(await s.get('kv/bad')).toBeNull();
      expect(reported.length).toBe(1);
      expect(reported[0][0]).toBe('kv/bad');
      check(reported[0][1]);
      expect(filesUnder(dir)).toEqual(['kv/ok.safetensors']); // dropped
      expect(await s.list('')).toEqual(['kv/ok']);
      expect(await s.usedBytes()).toBe(sizeOf(kvPage(8)));
      expect(await s.get('kv/bad')).toBeNull(); // a plain miss now
      expect(reported.length).toBe(1);
      await s.put('kv/bad', kvPage(9)); // recomputed and stored again
      expect((await s.get('kv/bad'))!.meta.model_digest).toBe('sha256-00000009');
      await s.close();
    });
  }
});

function flip(file: string, at: number, mask: number): void {
  const b = readFileSync(file);
  b[at] ^= mask;
  writeFileSync(file, b);
}
function flipInside(file: string, text: string, mask: number): void {
  const b = readFileSync(file);
  const at = b.indexOf(text);
  expect(at).toBeGreaterThan(0);
  b[at + text.length - 1] ^= mask; // '9' → '8': still valid JSON, only the checksum can tell
  writeFileSync(file, b);
}
