/**
 * The server's model directory: models by name, their per-model settings, and uploaded blobs.
 *
 *   <dir>/<model>.gguf               the weights of `<model>:latest`
 *   <dir>/<model>:<tag>.gguf         the weights of `<model>:<tag>`
 *   <dir>/<file>.json                settings from /api/create: { template?, system?, parameters? }
 *   <dir>/blobs/sha256-<64 hex>      blobs uploaded with POST /api/blobs/:digest
 *
 * Names are checked before they touch the filesystem: `[A-Za-z0-9][A-Za-z0-9._-]*` with an optional
 * `:tag` of the same characters, no `..` — anything else (`../x`, `/etc/passwd`, `a/b`) is an
 * InvalidModelNameError (HTTP 400). The Ollama-style manifest store and pulls are the model-store issue's;
 * this directory is what the server reads until then.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../errors.ts';

export class ModelNotFoundError extends TesseraError {
  constructor(name: string) {
    super('model_not_found', `model '${name}' not found`);
  }
}

export class InvalidModelNameError extends TesseraError {
  constructor(name: string) {
    super('invalid_model_name', `invalid model name '${name.slice(0, 200)}': use letters, digits, '.', '_' and '-', with an optional ':tag' (no '/' or '..')`);
  }
}

export class BlobNotFoundError extends TesseraError {
  constructor(digest: string) {
    super('blob_not_found', `blob '${digest}' not found`);
  }
}

/** Settings a model carries beyond its weights (Ollama's TEMPLATE, SYSTEM, PARAMETER). */
export interface ModelSettings {
  template?: string;
  system?: string;
  parameters?: Record<string, unknown>;
}

export interface ModelEntry {
  /** `model:tag`. */
  name: string;
  path: string;
  size: number;
  modifiedAt: Date;
  /** sha256 of the GGUF file, hex (computed once per file version and cached). */
  digest?: string;
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256[:-]([0-9a-f]{64})$/;

/** `name` → `{ model, tag }`, or throws InvalidModelNameError. */
export function parseModelName(name: string): { model: string; tag: string; full: string } {
  if (typeof name !== 'string') throw new InvalidModelNameError(String(name));
  const [model, tag = 'latest', ...rest] = name.split(':');
  if (rest.length || !PART.test(model) || !PART.test(tag) || model.includes('..') || tag.includes('..')) throw new InvalidModelNameError(name);
  return { model, tag, full: `${model}:${tag}` };
}

/** `sha256:<hex>` or `sha256-<hex>` → hex, or null. */
export function parseDigest(d: string): string | null {
  const m = DIGEST.exec(d);
  return m ? m[1] : null;
}

export class ModelStore {
  private readonly digests = new Map<string, { mtimeMs: number; size: number; digest: string }>();

  constructor(readonly dir: string) {}

  private fileBase(name: string): string {
    const { model, tag } = parseModelName(name);
    return tag === 'latest' ? model : `${model}:${tag}`;
  }

  /** Path of the GGUF for `name` (whether it exists or not). */
  pathOf(name: string): string {
    return join(this.dir, `${this.fileBase(name)}.gguf`);
  }

  private settingsPath(name: string): string {
    return join(this.dir, `${this.fileBase(name)}.json`);
  }

  blobPath(digest: string): string {
    const hex = parseDigest(digest);
    if (!hex) throw new TesseraError('invalid_argument', `invalid digest '${digest.slice(0, 100)}': expected sha256:<64 lowercase hex>`);
    return join(this.dir, 'blobs', `sha256-${hex}`);
  }

  async list(): Promise<ModelEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: ModelEntry[] = [];
    for (const f of names.filter((n) => n.endsWith('.gguf')).sort()) {
      const base = f.slice(0, -5);
      const name = base.includes(':') ? base : `${base}:latest`;
      try {
        parseModelName(name);
      } catch {
        continue; // files the API could not address are not listed
      }
      const path = join(this.dir, f);
      const s = await stat(path).catch(() => null);
      if (s?.isFile()) out.push({ name, path, size: s.size, modifiedAt: s.mtime });
    }
    return out;
  }

  /** The model's entry. @throws InvalidModelNameError, ModelNotFoundError */
  async get(name: string): Promise<ModelEntry> {
    const path = this.pathOf(name);
    const s = await stat(path).catch(() => null);
    if (!s?.isFile()) throw new ModelNotFoundError(name);
    return { name: parseModelName(name).full, path, size: s.size, modifiedAt: s.mtime };
  }

  async settings(name: string): Promise<ModelSettings> {
    try {
      return JSON.parse(await readFile(this.settingsPath(name), 'utf8')) as ModelSettings;
    } catch {
      return {};
    }
  }

  /** sha256 hex of the model file, cached by (mtime, size). */
  async digest(entry: ModelEntry): Promise<string> {
    const c = this.digests.get(entry.path);
    if (c && c.mtimeMs === entry.modifiedAt.getTime() && c.size === entry.size) return c.digest;
    const digest = await sha256File(entry.path);
    this.digests.set(entry.path, { mtimeMs: entry.modifiedAt.getTime(), size: entry.size, digest });
    return digest;
  }

  /** Installs `source` (a GGUF path) as `name`: hard link when possible, else a copy. Writes its settings. */
  async install(name: string, source: string, settings: ModelSettings): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const dest = this.pathOf(name);
    const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
    try {
      await link(source, tmp);
    } catch {
      await copyFile(source, tmp);
    }
    await rename(tmp, dest);
    await this.writeSettings(name, settings);
  }

  async writeSettings(name: string, settings: ModelSettings): Promise<void> {
    const clean = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined && v !== ''));
    if (Object.keys(clean).length) await writeFile(this.settingsPath(name), JSON.stringify(clean, null, 2));
    else await rm(this.settingsPath(name), { force: true });
  }

  async copy(from: string, to: string): Promise<void> {
    const src = await this.get(from);
    await this.install(to, src.path, await this.settings(from));
  }

  async remove(name: string): Promise<void> {
    const e = await this.get(name);
    await rm(e.path, { force: true });
    await rm(this.settingsPath(name), { force: true });
  }

  async hasBlob(digest: string): Promise<boolean> {
    const s = await stat(this.blobPath(digest)).catch(() => null);
    return !!s?.isFile();
  }

  /**
   * Stores a blob streamed from `body`, checking that its sha256 is `digest`.
   * @throws TesseraError 'digest_mismatch' (400) and leaves nothing behind.
   */
  async putBlob(digest: string, body: ReadableStream<Uint8Array>): Promise<void> {
    const dest = this.blobPath(digest);
    await mkdir(join(this.dir, 'blobs'), { recursive: true });
    const tmp = `${dest}.partial-${process.pid}-${Date.now()}`;
    const hash = createHash('sha256');
    const fh = await open(tmp, 'w');
    try {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        await fh.write(value);
      }
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    const got = hash.digest('hex');
    if (got !== parseDigest(digest)) {
      await rm(tmp, { force: true });
      throw new TesseraError('invalid_argument', `digest mismatch: the body's sha256 is ${got}, not ${parseDigest(digest)}`);
    }
    await rename(tmp, dest);
  }

  async blobFile(digest: string): Promise<string> {
    if (!(await this.hasBlob(digest))) throw new BlobNotFoundError(digest);
    return this.blobPath(digest);
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
