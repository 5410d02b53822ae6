/**
 * Pulls against a registry this test starts on loopback (test/helpers/registry.ts) serving a synthetic model:
 * a clean pull (then generation from it), a download broken off mid-blob that resumes with a Range request,
 * a corrupt blob (digest mismatch: error, partial deleted, no manifest), an unknown name (404), a GGUF URL
 * (with #sha256= verification and resume), and /api/pull streaming Ollama's progress lines; then the official
 * `ollama` npm client's pull and delete against the server on a socket.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelStore } from '../../src/server/store.ts';
import { DigestMismatchError } from '../../src/store/download.ts';
import { type PullProgress, pullModel } from '../../src/store/pull.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { addModel, type Registry, sha256hex, startRegistry } from '../helpers/registry.ts';
import { ndjson, post, testApp } from '../server/fixtures.ts';

const root = join(tmpdir(), `tessera-pull-${process.pid}`);
let reg: Registry;
let weights: Buffer;
let wHex: string;
let dirN = 0;
const freshStore = () => new ModelStore(join(root, `s${dirN++}`));

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const f = join(root, 'tiny.gguf');
  await writeSyntheticLlama(f, { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, nCtx: 512, type: 'Q8_0', seed: 7, tokenizer: tinyLlamaVocab() });
  weights = readFileSync(f);
  wHex = sha256hex(weights);
  reg = await startRegistry();
  addModel(reg, 'library/tiny:latest', [
    ['application/vnd.ollama.image.model', weights],
    ['application/vnd.ollama.image.system', Buffer.from('You are a test.')],
    ['application/vnd.ollama.image.params', Buffer.from('{"num_predict":3}')],
  ]);
  reg.files.set('Tiny-Model.Q8_0.gguf', weights);
  reg.files.set('notgguf.gguf', Buffer.from('hello, this is not a gguf'));
});
afterAll(async () => {
  await reg?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('pull from a registry', () => {
  it('stores the registry manifest verbatim and verified blobs; streams progress; the model runs', async () => {
    const store = freshStore();
    const lines: PullProgress[] = [];
    const name = await pullModel(store, `${reg.host}/library/tiny`, { insecure: true, onProgress: (p) => lines.push(p) });
    expect(name).toBe(`${reg.host}/library/tiny:latest`);
    expect(readFileSync(store.pathOf(name), 'utf8')).toBe(reg.manifests.get('library/tiny:latest'));
    expect(sha256hex(readFileSync(join(store.dir, 'blobs', `sha256-${wHex}`)))).toBe(wHex);
    expect(lines[0]).toEqual({ status: 'pulling manifest' });
    const last = lines.filter((p) => p.digest === `sha256:${wHex}`).at(-1)!;
    expect(last).toEqual({ status: `pulling ${wHex.slice(0, 12)}`, digest: `sha256:${wHex}`, total: weights.length, completed: weights.length });
    expect(lines.slice(-3).map((p) => p.status)).toEqual(['verifying sha256 digest', 'writing manifest', 'success']);
    expect(await store.settings(name)).toEqual({ system: 'You are a test.', parameters: { num_predict: 3 } });
    // A second pull finds every blob present and downloads nothing.
    const n = reg.log.length;
    await pullModel(store, `${reg.host}/library/tiny`, { insecure: true });
    expect(reg.log.slice(n).map((l) => l.path)).toEqual(['/v2/library/tiny/manifests/latest']);
    // And the pulled model generates through the server.
    const app = testApp(store.dir);
    const gen = await (await post(app, '/api/generate', { model: name, prompt: 'hi', stream: false })).json();
    expect(gen.done).toBe(true);
    expect(gen.eval_count).toBeLessThanOrEqual(3); // num_predict from the pulled params layer
    await app.close();
  });

  it('answers a registry Bearer token challenge: one token request with the scope, then every request authorised', async () => {
    const store = freshStore();
    reg.auth = { token: 'tok-123' };
    try {
      const n = reg.log.length;
      const name = await pullModel(store, `${reg.host}/library/tiny`, { insecure: true });
      const log = reg.log.slice(n);
      const tokens = log.filter((l) => l.path === '/token');
      expect(tokens).toHaveLength(1);
      expect(new URLSearchParams(tokens[0].query).get('scope')).toBe('repository:library/tiny:pull');
      expect(new URLSearchParams(tokens[0].query).get('service')).toBe('test-registry');
      expect(log.filter((l) => l.status === 401)).toHaveLength(1); // only the first request, before the token
      expect(sha256hex(readFileSync(store.blobPath(`sha256:${wHex}`)))).toBe(wHex);
      expect(name).toBe(`${reg.host}/library/tiny:latest`);
      // A token endpoint that refuses: a named error, no manifest written.
      reg.auth = { token: 'tok-456', refuse: true };
      const s2 = freshStore();
      await expect(pullModel(s2, `${reg.host}/library/tiny`, { insecure: true })).rejects.toThrow(/registry token: .* answered HTTP 403/);
      expect(existsSync(join(s2.dir, 'manifests'))).toBe(false);
    } finally {
      reg.auth = undefined;
    }
  });

  it('a connection cut mid-blob resumes with a Range request from the bytes on disk', async () => {
    const store = freshStore();
    reg.cut.set(wHex, 1);
    const n = reg.log.length;
    await pullModel(store, `${reg.host}/library/tiny:latest`, { insecure: true });
    const blobReqs = reg.log.slice(n).filter((l) => l.path.endsWith(wHex));
    expect(blobReqs[0]).toMatchObject({ status: 200, range: undefined });
    expect(blobReqs[1].status).toBe(206);
    const from = Number(/^bytes=(\d+)-$/.exec(blobReqs[1].range!)![1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThan(weights.length);
    expect(sha256hex(readFileSync(store.blobPath(`sha256:${wHex}`)))).toBe(wHex);
  });

  it('a pull that fails mid-blob keeps the partial file and the next pull resumes it', async () => {
    const store = freshStore();
    reg.cut.set(wHex, 5);
    await expect(pullModel(store, `${reg.host}/library/tiny`, { insecure: true, retries: 0 })).rejects.toThrow(/connection lost/);
    const partial = `${store.blobPath(`sha256:${wHex}`)}-partial`;
    expect(existsSync(partial)).toBe(true);
    expect(existsSync(store.pathOf(`${reg.host}/library/tiny`))).toBe(false);
    reg.cut.set(wHex, 0);
    const n = reg.log.length;
    await pullModel(store, `${reg.host}/library/tiny`, { insecure: true });
    const r = reg.log.slice(n).find((l) => l.path.endsWith(wHex))!;
    expect(r.status).toBe(206);
    expect(existsSync(partial)).toBe(false);
    expect(sha256hex(readFileSync(store.blobPath(`sha256:${wHex}`)))).toBe(wHex);
  });

  it('a corrupt blob: digest mismatch error, partial deleted, no manifest written', async () => {
    const store = freshStore();
    reg.corrupt.add(wHex);
    try {
      await expect(pullModel(store, `${reg.host}/library/tiny`, { insecure: true })).rejects.toThrow(DigestMismatchError);
    } finally {
      reg.corrupt.delete(wHex);
    }
    const blobs = readdirSync(join(store.dir, 'blobs'));
    expect(blobs.filter((b) => b.includes(wHex))).toEqual([]);
    expect(existsSync(store.pathOf(`${reg.host}/library/tiny`))).toBe(false);
  });

  it('two concurrent pulls of one model share the download (the blob is fetched once)', async () => {
    const store = freshStore();
    const n = reg.log.length;
    const [a, b] = await Promise.all([pullModel(store, `${reg.host}/library/tiny`, { insecure: true }), pullModel(store, `${reg.host}/library/tiny`, { insecure: true })]);
    expect(a).toBe(b);
    expect(reg.log.slice(n).filter((l) => l.path.endsWith(wHex))).toHaveLength(1);
    expect(sha256hex(readFileSync(store.blobPath(`sha256:${wHex}`)))).toBe(wHex);
  });

  it('an unknown name is ModelNotFoundError naming it', async () => {
    await expect(pullModel(freshStore(), `${reg.host}/library/nope:1b`, { insecure: true })).rejects.toThrow(`model '${reg.host}/library/nope:1b' in registry '${reg.host}' not found`);
  });
});

describe('pull from a GGUF URL', () => {
  it('downloads, verifies #sha256=, names the model after the file, resumes after a cut', async () => {
    const store = freshStore();
    reg.cut.set('Tiny-Model.Q8_0.gguf', 1);
    const name = await pullModel(store, `${reg.url}/files/Tiny-Model.Q8_0.gguf#sha256=${wHex}`);
    expect(name).toBe('tiny-model.q8_0:latest');
    expect((await store.get(name)).path).toBe(store.blobPath(`sha256:${wHex}`));
    const reqs = reg.log.filter((l) => l.path === '/files/Tiny-Model.Q8_0.gguf');
    expect(reqs.map((r) => r.status)).toEqual([200, 206]);
    await expect(pullModel(freshStore(), `${reg.url}/files/Tiny-Model.Q8_0.gguf#sha256=${'0'.repeat(64)}`)).rejects.toThrow(DigestMismatchError);
    await expect(pullModel(freshStore(), `${reg.url}/files/notgguf.gguf`)).rejects.toThrow(/not a GGUF file/);
    await expect(pullModel(freshStore(), `${reg.url}/files/missing.gguf`)).rejects.toThrow(/HTTP 404/);
  });
});

describe('/api/pull', () => {
  it('streams progress lines ending in success; stream:false answers one object; errors are 4xx with a message', async () => {
    const app = testApp(join(root, `api${dirN++}`));
    const res = await post(app, '/api/pull', { model: `${reg.host}/library/tiny`, insecure: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = await ndjson(res);
    expect(lines[0]).toEqual({ status: 'pulling manifest' });
    expect(lines.some((l) => l.digest === `sha256:${wHex}` && l.completed === weights.length && l.total === weights.length)).toBe(true);
    expect(lines.at(-1)).toEqual({ status: 'success' });
    expect((await (await app.request('/api/tags')).json()).models.map((m: { name: string }) => m.name)).toContain(`${reg.host}/library/tiny:latest`);
    const quiet = await post(app, '/api/pull', { model: `${reg.url}/files/Tiny-Model.Q8_0.gguf`, stream: false });
    expect(await quiet.json()).toEqual({ status: 'success' });
    const nf = await post(app, '/api/pull', { model: `${reg.host}/library/nope`, insecure: true });
    expect(nf.status).toBe(404);
    expect((await nf.json()).error).toContain('nope');
    const esc = await post(app, '/api/pull', { model: '../../etc/passwd' });
    expect(esc.status).toBe(400);
    expect((await esc.json()).error).toContain('invalid model name');
    expect((await post(app, '/api/pull', {})).status).toBe(400);
    await app.close();
  });

  it('the official ollama npm client pulls (streamed and not) and deletes', async () => {
    const app = testApp(join(root, `client${dirN++}`));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const port = (server.address() as { port: number }).port;
    try {
      const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
      const model = `${reg.host}/library/tiny:latest`;
      const statuses: string[] = [];
      for await (const p of await ollama.pull({ model, insecure: true, stream: true })) statuses.push(p.status);
      expect(statuses[0]).toBe('pulling manifest');
      expect(statuses.at(-1)).toBe('success');
      expect((await ollama.pull({ model, insecure: true, stream: false })).status).toBe('success');
      expect((await ollama.list()).models.map((m) => m.name)).toContain(model);
      await ollama.delete({ model });
      expect((await ollama.list()).models.map((m) => m.name)).not.toContain(model);
      await expect(ollama.pull({ model: `${reg.host}/library/nope`, insecure: true, stream: false })).rejects.toThrow(/nope/);
    } finally {
      await new Promise((r) => server.close(r));
      await app.close();
    }
  });
});
