/**
 * Pulling models into the store, with Ollama's progress lines (`pulling manifest`, `pulling <hex12>` with
 * digest/total/completed, `verifying sha256 digest`, `writing manifest`, `success`):
 *
 *   - from an Ollama-compatible registry: GET <scheme>://<host>/v2/<ns>/<model>/manifests/<tag>, then each
 *     layer from /v2/<ns>/<model>/blobs/<digest> (https, or http with `insecure`), answering the registry's
 *     Bearer token challenge when it sends one (registry-auth.ts);
 *   - from a plain GGUF URL (http/https). Append `#sha256=<hex>` to have it verified; it is stored as
 *     `<file name without .gguf>:latest` unless a name is given.
 *
 * Downloads resume from `blobs/sha256-<hex>-partial` (see download.ts) and are verified before they become blobs.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TesseraError } from '../errors.ts';
import { ModelNotFoundError, type ModelStore } from '../server/store.ts';
import { downloadResumable } from './download.ts';
import { registryFetch } from './registry-auth.ts';
import { LAYER, MANIFEST_MEDIA_TYPE, modelLayer, parseDigest, parseManifest } from './manifest.ts';
import { InvalidModelNameError, parseModelName } from './name.ts';

/** One progress line, as /api/pull streams it. */
export interface PullProgress {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface PullOptions {
  /** Use http instead of https for a registry. */
  insecure?: boolean;
  /** For a URL pull: the name to store it as. */
  name?: string;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /** Extra tries per blob after a dropped connection (default 3). */
  retries?: number;
  fetch?: typeof fetch;
  /** A registry bearer token (default: env TESSERA_REGISTRY_TOKEN); without one, anonymous tokens are fetched when a registry asks. */
  token?: string;
}

export class PullError extends TesseraError {
  constructor(message: string) {
    super('pull_failed', message);
  }
}

export const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Downloads in flight in this process, by partial-file path: a second pull of the same blob waits for the first. */
const inFlight = new Map<string, Promise<unknown>>();

async function once<T>(key: string, work: () => Promise<T>): Promise<T> {
  for (let p = inFlight.get(key); p; p = inFlight.get(key)) await p.catch(() => {});
  const p = work();
  inFlight.set(key, p);
  try {
    return await p;
  } finally {
    inFlight.delete(key);
  }
}

/** Pulls `model` (a registry name or a GGUF URL) into `store`. @returns the stored name. */
export async function pullModel(store: ModelStore, model: string, opts: PullOptions = {}): Promise<string> {
  return isUrl(model) ? pullUrl(store, model, opts) : pullRegistry(store, model, opts);
}

async function pullRegistry(store: ModelStore, name: string, opts: PullOptions): Promise<string> {
  const n = parseModelName(name);
  const doFetch = registryFetch(opts.fetch ?? fetch, { token: opts.token ?? process.env.TESSERA_REGISTRY_TOKEN ?? undefined });
  const progress = opts.onProgress ?? (() => {});
  const base = `${opts.insecure ? 'http' : 'https'}://${n.host}/v2/${n.namespace}/${n.model}`;
  progress({ status: 'pulling manifest' });
  const res = await doFetch(`${base}/manifests/${n.tag}`, { headers: { Accept: MANIFEST_MEDIA_TYPE }, signal: opts.signal }).catch((e: unknown) => {
    if (opts.signal?.aborted) throw e;
    throw new PullError(`pull model manifest: ${base}/manifests/${n.tag}: ${(e as Error).message}`);
  });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new ModelNotFoundError(`${n.full}' in registry '${n.host}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new PullError(`pull model manifest: ${n.host} answered HTTP ${res.status}`);
  }
  const text = await res.text();
  const manifest = parseManifest(text, `${base}/manifests/${n.tag}`);
  if (!modelLayer(manifest)) throw new PullError(`pull ${n.full}: the manifest has no ${LAYER.model} layer`);
  for (const l of [...manifest.layers, manifest.config]) {
    const hex = parseDigest(l.digest)!;
    const status = `pulling ${hex.slice(0, 12)}`;
    const dest = store.blobPath(l.digest);
    if ((await stat(dest).catch(() => null))?.size === l.size) {
      progress({ status, digest: l.digest, total: l.size, completed: l.size });
      continue;
    }
    await mkdir(dirname(dest), { recursive: true });
    progress({ status, digest: l.digest, total: l.size, completed: 0 });
    await once(dest, async () => {
      if ((await stat(dest).catch(() => null))?.size === l.size) return; // another pull finished it meanwhile
      await downloadResumable(`${base}/blobs/${l.digest}`, `${dest}-partial`, {
        expectedHex: hex,
        signal: opts.signal,
        retries: opts.retries,
        fetch: doFetch,
        onProgress: (completed) => progress({ status, digest: l.digest, total: l.size, completed }),
      });
      await rename(`${dest}-partial`, dest);
    });
    progress({ status, digest: l.digest, total: l.size, completed: l.size });
  }
  progress({ status: 'verifying sha256 digest' });
  progress({ status: 'writing manifest' });
  await store.saveManifest(n.full, text);
  progress({ status: 'success' });
  return n.full;
}

/** `https://x/y/Foo-Bar.Q4_K_M.gguf` → `foo-bar.q4_k_m`. */
export function nameFromUrl(url: string): string {
  const file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '').replace(/\.gguf$/i, '');
  const clean = file.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/\.\.+/g, '.').slice(0, 100);
  if (!clean) throw new InvalidModelNameError(url);
  return clean;
}

async function pullUrl(store: ModelStore, url: string, opts: PullOptions): Promise<string> {
  const u = new URL(url);
  const want = /(?:^|&)sha256=([0-9a-f]{64})(?:&|$)/.exec(u.hash.slice(1))?.[1];
  u.hash = '';
  const name = parseModelName(opts.name ?? nameFromUrl(u.href)).full;
  const progress = opts.onProgress ?? (() => {});
  const partial = join(store.dir, 'blobs', `url-${createHash('sha256').update(u.href).digest('hex').slice(0, 32)}-partial`);
  await mkdir(dirname(partial), { recursive: true });
  const status = `pulling ${want ? want.slice(0, 12) : u.pathname.split('/').pop()}`;
  const digest = want ? `sha256:${want}` : undefined;
  progress({ status, digest, completed: 0 });
  const { hex, size } = await once(partial, async () => {
    const r = await downloadResumable(u.href, partial, {
      expectedHex: want,
      signal: opts.signal,
      retries: opts.retries,
      fetch: opts.fetch,
      onProgress: (completed, total) => progress({ status, digest, total, completed }),
    });
    const fh = await open(partial, 'r');
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, 0);
    await fh.close();
    if (magic.toString('latin1') !== 'GGUF') {
      await rm(partial, { force: true });
      throw new PullError(`${u.href} is not a GGUF file (it starts with ${JSON.stringify(magic.toString('latin1'))})`);
    }
    await rename(partial, store.blobPath(`sha256:${r.hex}`));
    return r;
  });
  progress({ status: 'verifying sha256 digest', digest: `sha256:${hex}` });
  progress({ status: 'writing manifest' });
  await store.writeManifest(name, [{ mediaType: LAYER.model, digest: `sha256:${hex}`, size }]);
  progress({ status: 'success' });
  return name;
}
