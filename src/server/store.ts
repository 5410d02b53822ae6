/**
 * The model store, laid out like Ollama's (`models/` under TESSERA_HOME, or TESSERA_MODELS):
 *
 *   <dir>/manifests/<host>/<namespace>/<model>/<tag>   OCI-style JSON manifest (see src/store/manifest.ts)
 *   <dir>/blobs/sha256-<64 hex>                         content-addressed layers: the GGUF (`…image.model`),
 *                                                      `…image.template`, `…image.system`, `…image.params` (JSON),
 *                                                      `…image.license`, and the config blob
 *   <dir>/<model>[:<tag>].gguf                          a loose GGUF dropped into the directory: listed as
 *                                                      `<model>:<tag>` (library namespace); settings from a
 *                                                      `<model>[:<tag>].json` beside it (the earlier flat store);
 *                                                      its vision projector: `<model>[:<tag>].mmproj.gguf` beside it
 *                                                      (not listed as a model). A manifest's projector is its
 *                                                      `…image.projector` layer (Ollama's).
 *
 * A second, read-only root is the user's Ollama store (`~/.ollama/models`, or OLLAMA_MODELS): its models are
 * listed and run from their blobs in place, never copied. On a name clash the order is Tessera's manifests,
 * then loose files, then Ollama's. Names are parsed as Ollama does (src/store/name.ts) and checked before they
 * touch the filesystem: `../x` and the like are InvalidModelNameError (HTTP 400).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TesseraError } from '../errors.ts';
import { CONFIG_MEDIA_TYPE, LAYER, type Layer, type Manifest, MANIFEST_MEDIA_TYPE, modelLayer, parseDigest, parseManifest } from '../store/manifest.ts';
import { DEFAULT_HOST, DEFAULT_NAMESPACE, displayName, InvalidModelNameError, type ModelName, parseModelName } from '../store/name.ts';
import { HttpError } from './errors.ts';

export { InvalidModelNameError, parseDigest, parseModelName };

export class ModelNotFoundError extends TesseraError {
  constructor(name: string) {
    super('model_not_found', `model '${name}' not found`);
  }
}

export class BlobNotFoundError extends TesseraError {
  constructor(digest: string) {
    super('blob_not_found', `blob '${digest}' not found`);
  }
}

/** Settings a model carries beyond its weights (Ollama's TEMPLATE, SYSTEM, PARAMETER, LICENSE layers). */
export interface ModelSettings {
  template?: string;
  system?: string;
  parameters?: Record<string, unknown>;
  license?: string;
}

/** Where a model was found. */
export type ModelSource = 'tessera' | 'ollama' | 'file';

export interface ModelEntry {
  /** As listed: `model:tag`, `ns/model:tag` or `host/ns/model:tag`. */
  name: string;
  /** The GGUF weights (a blob, or the loose file). */
  path: string;
  /** Bytes of all layers (the file's size for a loose GGUF). */
  size: number;
  modifiedAt: Date;
  /** sha256 hex of the manifest (of the file, for a loose GGUF: computed on demand by `digest`). */
  digest?: string;
  source: ModelSource;
  manifest?: Manifest;
  /** The models directory whose blobs/ the manifest points into. */
  root: string;
  /** The vision projector (mmproj GGUF), when the model has one. */
  projector?: string;
}

export class ReadOnlyModelError extends HttpError {
  constructor(name: string) {
    super(409, 'read_only_model', `model '${name}' is in the Ollama store, which Tessera only reads: remove it with 'ollama rm ${name}'`);
  }
}

const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');

async function exists(p: string): Promise<boolean> {
  return !!(await stat(p).catch(() => null))?.isFile();
}

async function dirs(p: string): Promise<string[]> {
  try {
    return (await readdir(p, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Hard link `src` to `dest` (atomically, via a temporary name), or copy when linking fails. */
async function linkOrCopy(src: string, dest: string): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
  try {
    await link(src, tmp);
  } catch {
    await copyFile(src, tmp);
  }
  await rename(tmp, dest);
}

export class ModelStore {
  private readonly fileDigests = new Map<string, { mtimeMs: number; size: number; digest: string }>();

  /**
   * @param dir Tessera's models directory (read-write).
   * @param ollamaDir the user's Ollama models directory (read only), or undefined for none.
   */
  constructor(
    readonly dir: string,
    readonly ollamaDir?: string,
  ) {}

  /** Path of the manifest for `name` in Tessera's store (whether it exists or not). @throws InvalidModelNameError */
  pathOf(name: string): string {
    return this.manifestPath(this.dir, parseModelName(name));
  }

  private manifestPath(root: string, n: ModelName): string {
    return join(root, 'manifests', n.host, n.namespace, n.model, n.tag);
  }

  /** Path of a blob in Tessera's store. @throws TesseraError invalid_argument on a malformed digest. */
  blobPath(digest: string, root = this.dir): string {
    const hex = parseDigest(digest);
    if (!hex) throw new TesseraError('invalid_argument', `invalid digest '${String(digest).slice(0, 100)}': expected sha256:<64 lowercase hex>`);
    return join(root, 'blobs', `sha256-${hex}`);
  }

  private async manifestEntry(root: string, n: ModelName, source: ModelSource): Promise<ModelEntry | null> {
    const p = this.manifestPath(root, n);
    const text = await readFile(p, 'utf8').catch(() => null);
    if (text === null) return null;
    const manifest = parseManifest(text, p);
    const ml = modelLayer(manifest);
    if (!ml) return null; // adapters-only or foreign manifests: not a runnable model
    const s = await stat(p);
    const proj = manifest.layers.find((l) => l.mediaType === LAYER.projector);
    return {
      ...(proj ? { projector: this.blobPath(proj.digest, root) } : {}),
      name: n.full,
      path: this.blobPath(ml.digest, root),
      size: manifest.layers.reduce((a, l) => a + l.size, 0),
      modifiedAt: s.mtime,
      digest: sha256(text),
      source,
      manifest,
      root,
    };
  }

  private async looseEntry(n: ModelName): Promise<ModelEntry | null> {
    if (n.host !== DEFAULT_HOST || n.namespace !== DEFAULT_NAMESPACE) return null;
    const path = join(this.dir, n.tag === 'latest' ? `${n.model}.gguf` : `${n.model}:${n.tag}.gguf`);
    const s = await stat(path).catch(() => null);
    if (!s?.isFile()) return null;
    const projector = path.replace(/\.gguf$/, '.mmproj.gguf');
    const p = await stat(projector).catch(() => null);
    return { name: n.full, path, size: s.size, modifiedAt: s.mtime, source: 'file', root: this.dir, ...(p?.isFile() ? { projector } : {}) };
  }

  /** The model's entry, from Tessera's store, a loose file, or Ollama's store. @throws InvalidModelNameError, ModelNotFoundError */
  async get(name: string): Promise<ModelEntry> {
    const n = parseModelName(name);
    const e =
      (await this.manifestEntry(this.dir, n, 'tessera')) ??
      (await this.looseEntry(n)) ??
      (this.ollamaDir ? await this.manifestEntry(this.ollamaDir, n, 'ollama') : null);
    if (!e) throw new ModelNotFoundError(name);
    return e;
  }

  /** Every model of both stores and the loose files, by name; Tessera's wins a clash. */
  async list(): Promise<ModelEntry[]> {
    const out = new Map<string, ModelEntry>();
    const scan = async (root: string, source: ModelSource) => {
      const base = join(root, 'manifests');
      for (const host of await dirs(base))
        for (const ns of await dirs(join(base, host)))
          for (const model of await dirs(join(base, host, ns))) {
            let tags: string[] = [];
            try {
              tags = (await readdir(join(base, host, ns, model), { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
            } catch {
              /* vanished */
            }
            for (const tag of tags) {
              let n: ModelName;
              try {
                n = parseModelName(displayName(host, ns, model, tag));
              } catch {
                continue; // a path the API could not address
              }
              if (out.has(n.full)) continue;
              const e = await this.manifestEntry(root, n, source).catch(() => null);
              if (e) out.set(n.full, e);
            }
          }
    };
    await scan(this.dir, 'tessera');
    let files: string[] = [];
    try {
      files = await readdir(this.dir);
    } catch {
      /* no store yet */
    }
    for (const f of files.filter((x) => x.endsWith('.gguf') && !x.endsWith('.mmproj.gguf')).sort()) {
      let n: ModelName;
      try {
        n = parseModelName(f.slice(0, -5));
      } catch {
        continue;
      }
      if (out.has(n.full)) continue;
      const e = await this.looseEntry(n);
      if (e) out.set(n.full, e);
    }
    if (this.ollamaDir) await scan(this.ollamaDir, 'ollama');
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The model's template, system prompt, parameters and license, from its layers. */
  async settings(name: string): Promise<ModelSettings> {
    const e = await this.get(name).catch((err) => {
      if (err instanceof ModelNotFoundError) return null;
      throw err;
    });
    return e ? this.settingsOf(e) : {};
  }

  async settingsOf(e: ModelEntry): Promise<ModelSettings> {
    if (e.source === 'file') {
      // Settings written next to a loose file by the flat store of earlier versions (`<name>.json`).
      const legacy = await readFile(e.path.replace(/\.gguf$/, '.json'), 'utf8').catch(() => null);
      if (legacy === null) return {};
      try {
        return JSON.parse(legacy) as ModelSettings;
      } catch {
        throw new TesseraError('invalid_manifest', `model '${e.name}': its settings file ${e.path.replace(/\.gguf$/, '.json')} is not JSON`);
      }
    }
    const s: ModelSettings = {};
    for (const l of e.manifest?.layers ?? []) {
      const read = () => readFile(this.blobPath(l.digest, e.root), 'utf8');
      if (l.mediaType === LAYER.template) s.template = await read();
      else if (l.mediaType === LAYER.system) s.system = await read();
      else if (l.mediaType === LAYER.license) s.license = await read();
      else if (l.mediaType === LAYER.params) {
        try {
          s.parameters = JSON.parse(await read()) as Record<string, unknown>;
        } catch {
          throw new TesseraError('invalid_manifest', `model '${e.name}': its params layer ${l.digest} is not JSON`);
        }
      }
    }
    return s;
  }

  /** sha256 hex identifying the model: its manifest's, or (loose file) the file's, cached by (mtime, size). */
  async digest(entry: ModelEntry): Promise<string> {
    if (entry.digest) return entry.digest;
    const c = this.fileDigests.get(entry.path);
    if (c && c.mtimeMs === entry.modifiedAt.getTime() && c.size === entry.size) return c.digest;
    const digest = await sha256File(entry.path);
    this.fileDigests.set(entry.path, { mtimeMs: entry.modifiedAt.getTime(), size: entry.size, digest });
    return digest;
  }

  /** Stores `bytes` as a blob (if absent) and returns its layer. */
  async putBytes(mediaType: string, bytes: string | Uint8Array): Promise<Layer> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    const digest = `sha256:${sha256(buf)}`;
    const dest = this.blobPath(digest);
    if (!(await exists(dest))) {
      await mkdir(dirname(dest), { recursive: true });
      const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
      await writeFile(tmp, buf);
      await rename(tmp, dest);
    }
    return { mediaType, digest, size: buf.length };
  }

  private async settingsLayers(s: ModelSettings): Promise<Layer[]> {
    const out: Layer[] = [];
    if (s.template) out.push(await this.putBytes(LAYER.template, s.template));
    if (s.system) out.push(await this.putBytes(LAYER.system, s.system));
    if (s.parameters && Object.keys(s.parameters).length) out.push(await this.putBytes(LAYER.params, JSON.stringify(s.parameters)));
    if (s.license) out.push(await this.putBytes(LAYER.license, s.license));
    return out;
  }

  /** Writes `name`'s manifest over `layers` (all blobs present), with a config blob listing them. */
  async writeManifest(name: string, layers: Layer[]): Promise<void> {
    const config = await this.putBytes(CONFIG_MEDIA_TYPE, JSON.stringify({ model_format: 'gguf', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
    const m: Manifest = { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config, layers };
    await this.saveManifest(name, JSON.stringify(m));
  }

  /** Writes a manifest's exact text (so its digest stays the registry's) as `name`. */
  async saveManifest(name: string, text: string): Promise<void> {
    const p = this.pathOf(name);
    parseManifest(text, p);
    await mkdir(dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${process.pid}-${Date.now()}`;
    await writeFile(tmp, text);
    await rename(tmp, p);
  }

  /** Installs `source` (a GGUF path) as `name`: the weights become a blob (hard link when possible, else a copy). */
  async install(name: string, source: string, settings: ModelSettings, projector?: string): Promise<void> {
    parseModelName(name);
    const blob = async (path: string, mediaType: string): Promise<Layer> => {
      const hex = await sha256File(path);
      const { size } = await stat(path);
      const dest = this.blobPath(`sha256:${hex}`);
      if (!(await exists(dest))) {
        await mkdir(dirname(dest), { recursive: true });
        await linkOrCopy(path, dest);
      }
      return { mediaType, digest: `sha256:${hex}`, size };
    };
    const layers = [await blob(source, LAYER.model), ...(projector ? [await blob(projector, LAYER.projector)] : []), ...(await this.settingsLayers(settings))];
    await this.writeManifest(name, layers);
  }

  /** Replaces the settings layers of a model in Tessera's store. */
  async writeSettings(name: string, settings: ModelSettings): Promise<void> {
    const e = await this.get(name);
    if (e.source !== 'tessera') return this.install(name, e.path, settings, e.projector);
    const model = e.manifest!.layers.filter((l) => l.mediaType === LAYER.model || l.mediaType === LAYER.projector);
    await this.writeManifest(name, [...model, ...(await this.settingsLayers(settings))]);
  }

  /** Copies `from` (any source) to `to` in Tessera's store; layers of an Ollama model are hard-linked in. */
  async copy(from: string, to: string): Promise<void> {
    parseModelName(to);
    const src = await this.get(from);
    if (!src.manifest) return this.install(to, src.path, {}, src.projector);
    if (src.root !== this.dir) {
      for (const l of [src.manifest.config, ...src.manifest.layers]) {
        const dest = this.blobPath(l.digest);
        if (await exists(dest)) continue;
        await mkdir(dirname(dest), { recursive: true });
        await linkOrCopy(this.blobPath(l.digest, src.root), dest);
      }
    }
    await this.saveManifest(to, JSON.stringify(src.manifest));
  }

  /** Removes `name` from Tessera's store, and the blobs no other manifest uses. @throws ReadOnlyModelError for Ollama's models */
  async remove(name: string): Promise<void> {
    const e = await this.get(name);
    if (e.source === 'ollama') throw new ReadOnlyModelError(e.name);
    if (e.source === 'file') {
      await rm(e.path.replace(/\.gguf$/, '.json'), { force: true });
      return rm(e.path, { force: true });
    }
    const n = parseModelName(name);
    const p = this.manifestPath(this.dir, n);
    await rm(p, { force: true });
    for (let d = dirname(p), i = 0; i < 3; i++, d = dirname(d)) if (!(await rmdir(d).then(() => true, () => false))) break;
    const used = new Set<string>();
    for (const m of await this.list()) if (m.source === 'tessera') for (const l of [m.manifest!.config, ...m.manifest!.layers]) used.add(l.digest);
    for (const l of [e.manifest!.config, ...e.manifest!.layers]) if (!used.has(l.digest)) await rm(this.blobPath(l.digest), { force: true });
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /**
   * Stores a blob streamed from `body`, checking that its sha256 is `digest`.
   * @throws TesseraError invalid_argument (400) 'digest mismatch' and leaves nothing behind.
   */
  async putBlob(digest: string, body: ReadableStream<Uint8Array>): Promise<void> {
    const dest = this.blobPath(digest);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.upload-${process.pid}-${Date.now()}`;
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
