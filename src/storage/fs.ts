/**
 * Filesystem storage: one safetensors file per key under a root directory.
 *
 * Layout: key `kv/<digest>/<chain>` → `<root>/kv/<digest>/<chain>.safetensors` (keys.ts forbids '..', leading dots
 * and segments ending in '.safetensors', so keys map to files one-to-one and stay inside the root).
 * Writes are atomic: the bytes go to a hidden temp file `.<name>.<pid>.<random>.tmp` in the same directory, then
 * rename() replaces the target, so a reader sees the old file or the new one, never a mix. Temp files left by a
 * crash are removed by the next open().
 * Every file carries a SHA-256 of its header and data (safetensors.ts); get() verifies it and deletes a file that
 * fails (flipped byte, truncation, not safetensors), reporting it through `onCorrupt` and returning null.
 * Budget: the bytes of the files, counted in memory; open() rebuilds the count by scanning the tree, so it
 * survives restarts. Eviction drops least-recently-used files first; recency is kept across restarts through the
 * files' mtime (get() touches it). One process should write a given root at a time: others' writes are seen by
 * get()/has(), but not counted until the next open().
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { StorageClosedError, StorageTooLargeError, StorageUnavailableError, isCorruptionError } from './errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { LruBytes } from './lru.ts';
import { Mutex } from './mutex.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';
import type { Storage, StoredValue } from './types.ts';

const SUFFIX = '.safetensors';

export interface FsStorageOptions {
  /** Byte budget for the files; 0 (default) = unlimited. */
  budgetBytes?: number;
  /** Called when get() finds a damaged entry (it is deleted and reported as a miss). */
  onCorrupt?: (key: string, error: Error) => void;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

export class FsStorage implements Storage {
  readonly name = 'fs';
  readonly budgetBytes: number;
  readonly root: string;
  private readonly lru = new LruBytes();
  private readonly writes = new Mutex();
  private readonly onCorrupt?: (key: string, error: Error) => void;
  private closed = false;

  private constructor(root: string, opts: FsStorageOptions) {
    this.root = root;
    this.budgetBytes = opts.budgetBytes ?? 0;
    this.onCorrupt = opts.onCorrupt;
  }

  /** Create the root if needed, remove stale temp files, count what is there, and trim it to the budget. */
  static async open(root: string, opts: FsStorageOptions = {}): Promise<FsStorage> {
    const s = new FsStorage(root, opts);
    try {
      await mkdir(root, { recursive: true });
      const found: { key: string; bytes: number; mtime: number }[] = [];
      await s.scan(root, found);
      found.sort((a, b) => a.mtime - b.mtime);
      for (const f of found) s.lru.set(f.key, f.bytes);
    } catch (e) {
      throw new StorageUnavailableError('fs', `cannot open ${root}: ${(e as Error).message}`, { cause: e });
    }
    for (const k of s.lru.victims('', 0, s.budgetBytes)) await s.removeFile(k);
    return s;
  }

  private async scan(dir: string, out: { key: string; bytes: number; mtime: number }[]): Promise<void> {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) {
        if (!ent.name.startsWith('.')) await this.scan(p, out);
      } else if (ent.isFile()) {
        if (ent.name.startsWith('.') && ent.name.endsWith('.tmp')) {
          await unlink(p).catch(() => undefined); // an interrupted write
        } else if (ent.name.endsWith(SUFFIX)) {
          const key = relative(this.root, p).slice(0, -SUFFIX.length).split(sep).join('/');
          try {
            validateKey(key);
          } catch {
            continue; // not a file this driver wrote: leave it alone, don't count it
          }
          const st = await stat(p);
          out.push({ key, bytes: st.size, mtime: st.mtimeMs });
        }
      }
    }
  }

  /** The file a key lives in. */
  pathOf(key: string): string {
    validateKey(key);
    return join(this.root, ...key.split('/')) + SUFFIX;
  }

  private check(): void {
    if (this.closed) throw new StorageClosedError(this.name);
  }

  private async removeFile(key: string): Promise<void> {
    this.lru.remove(key);
    try {
      await unlink(this.pathOf(key));
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw new StorageUnavailableError('fs', `cannot delete ${key}: ${(e as Error).message}`, { cause: e });
    }
  }

  async get(key: string): Promise<StoredValue | null> {
    this.check();
    const path = this.pathOf(key);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if (errno(e) === 'ENOENT') {
        if (this.lru.has(key)) await this.writes.run(async () => void this.lru.remove(key));
        return null;
      }
      throw new StorageUnavailableError('fs', `cannot read ${key}: ${(e as Error).message}`, { cause: e });
    }
    let value: StoredValue;
    try {
      value = decodeSafetensors(bytes);
    } catch (e) {
      if (!isCorruptionError(e)) throw e;
      await this.writes.run(() => this.removeFile(key));
      this.onCorrupt?.(key, e as Error);
      return null;
    }
    this.lru.touch(key); // a file another process wrote since open() stays uncounted until the next open()
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined); // recency for the next open()'s scan
    return value;
  }

  async put(key: string, value: StoredValue): Promise<void> {
    this.check();
    const path = this.pathOf(key);
    const bytes = encodeSafetensors(value);
    if (this.budgetBytes > 0 && bytes.length > this.budgetBytes) throw new StorageTooLargeError(key, bytes.length, this.budgetBytes);
    return this.writes.run(async () => {
      for (const k of this.lru.victims(key, bytes.length, this.budgetBytes)) await this.removeFile(k);
      const dir = dirname(path);
      const tmp = join(dir, `.${key.slice(key.lastIndexOf('/') + 1)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await mkdir(dir, { recursive: true });
        await writeFile(tmp, bytes);
        await rename(tmp, path);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw new StorageUnavailableError('fs', `cannot write ${key}: ${(e as Error).message}`, { cause: e });
      }
      this.lru.set(key, bytes.length);
    });
  }

  async has(key: string): Promise<boolean> {
    this.check();
    const path = this.pathOf(key);
    try {
      return (await stat(path)).isFile();
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw new StorageUnavailableError('fs', `cannot stat ${key}: ${(e as Error).message}`, { cause: e });
    }
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    const path = this.pathOf(key);
    return this.writes.run(async () => {
      this.lru.remove(key);
      try {
        await unlink(path);
        return true;
      } catch (e) {
        if (errno(e) === 'ENOENT') return false;
        throw new StorageUnavailableError('fs', `cannot delete ${key}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  async list(prefix: string): Promise<string[]> {
    this.check();
    validatePrefix(prefix);
    return [...this.lru.keys()].filter((k) => k.startsWith(prefix));
  }

  async usedBytes(): Promise<number> {
    this.check();
    return this.lru.used;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writes.run(async () => undefined); // let pending writes finish
    this.closed = true;
  }
}
