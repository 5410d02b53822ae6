/**
 * The store: install/settings/copy/remove write Ollama's layout (checked by reading the files, not through the
 * store); an Ollama store written by hand in Ollama's format is listed, read in place, and never written.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.ts';
import { ModelNotFoundError, ModelStore, ReadOnlyModelError } from '../../src/server/store.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const root = join(tmpdir(), `tessera-store-${process.pid}`);
const mine = join(root, 'tessera');
const ollama = join(root, 'ollama');
let gguf: string;
let ggufHex: string;
const hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Writes a model into `dir` exactly as Ollama lays it out. */
function writeOllamaModel(dir: string, host: string, ns: string, model: string, tag: string, layers: [string, Buffer][]) {
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  const put = (mediaType: string, b: Buffer) => {
    writeFileSync(join(dir, 'blobs', `sha256-${hex(b)}`), b);
    return { mediaType, digest: `sha256:${hex(b)}`, size: b.length };
  };
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: put('application/vnd.docker.container.image.v1+json', Buffer.from('{"model_format":"gguf"}')), layers: layers.map(([t, b]) => put(t, b)) };
  mkdirSync(join(dir, 'manifests', host, ns, model), { recursive: true });
  writeFileSync(join(dir, 'manifests', host, ns, model, tag), JSON.stringify(manifest));
}

const snapshot = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  gguf = join(root, 'tiny.gguf');
  await writeSyntheticLlama(gguf, { nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 64, nCtx: 256, type: 'F32', seed: 1, tokenizer: tinyLlamaVocab() });
  ggufHex = hex(readFileSync(gguf));
  const w = readFileSync(gguf);
  writeOllamaModel(ollama, 'registry.ollama.ai', 'library', 'llama3.2', 'latest', [
    ['application/vnd.ollama.image.model', w],
    ['application/vnd.ollama.image.template', Buffer.from('{{ .Prompt }}')],
    ['application/vnd.ollama.image.params', Buffer.from('{"stop":["<|eot_id|>"],"temperature":0.6}')],
    ['application/vnd.ollama.image.license', Buffer.from('LICENSE TEXT')],
  ]);
  writeOllamaModel(ollama, 'registry.ollama.ai', 'library', 'clash', 'latest', [['application/vnd.ollama.image.model', w]]);
  writeOllamaModel(ollama, 'hf.co', 'someone', 'model', 'Q8_0', [['application/vnd.ollama.image.model', w]]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('ModelStore', () => {
  it('install writes a manifest and content-addressed blobs in Ollama\'s layout', async () => {
    const store = new ModelStore(mine);
    await store.install('me/tiny:v1', gguf, { system: 'be brief', parameters: { temperature: 0 } });
    const m = JSON.parse(readFileSync(join(mine, 'manifests/registry.ollama.ai/me/tiny/v1'), 'utf8'));
    expect(m.schemaVersion).toBe(2);
    const types = m.layers.map((l: { mediaType: string }) => l.mediaType);
    expect(types).toEqual(['application/vnd.ollama.image.model', 'application/vnd.ollama.image.system', 'application/vnd.ollama.image.params']);
    expect(m.layers[0]).toEqual({ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${ggufHex}`, size: readFileSync(gguf).length });
    for (const l of [m.config, ...m.layers]) expect(hex(readFileSync(join(mine, 'blobs', l.digest.replace(':', '-'))))).toBe(l.digest.slice(7));
    expect(readFileSync(join(mine, 'blobs', m.layers[1].digest.replace(':', '-')), 'utf8')).toBe('be brief');
    const e = await store.get('me/tiny:v1');
    expect(e).toMatchObject({ name: 'me/tiny:v1', source: 'tessera', path: join(mine, 'blobs', `sha256-${ggufHex}`) });
    expect(e.digest).toBe(hex(readFileSync(join(mine, 'manifests/registry.ollama.ai/me/tiny/v1'))));
    expect(await store.settings('me/tiny:v1')).toEqual({ system: 'be brief', parameters: { temperature: 0 } });
  });

  it('reads the Ollama store in place: listed, runnable path into its blobs, settings from its layers', async () => {
    const store = new ModelStore(mine, ollama);
    const before = snapshot(ollama);
    const names = (await store.list()).map((m) => `${m.name}@${m.source}`);
    expect(names).toEqual(expect.arrayContaining(['llama3.2:latest@ollama', 'hf.co/someone/model:Q8_0@ollama', 'me/tiny:v1@tessera']));
    const e = await store.get('llama3.2');
    expect(e.path).toBe(join(ollama, 'blobs', `sha256-${ggufHex}`));
    expect(await store.settings('llama3.2')).toEqual({ template: '{{ .Prompt }}', parameters: { stop: ['<|eot_id|>'], temperature: 0.6 }, license: 'LICENSE TEXT' });
    await expect(store.remove('llama3.2')).rejects.toThrow(ReadOnlyModelError);
    // Copy out of Ollama's store into Tessera's: the blobs land in Tessera's blobs/, Ollama's files are untouched.
    await store.copy('llama3.2', 'mine:copy');
    expect((await store.get('mine:copy')).path).toBe(join(mine, 'blobs', `sha256-${ggufHex}`));
    expect((await store.settings('mine:copy')).template).toBe('{{ .Prompt }}');
    expect(snapshot(ollama)).toEqual(before);
  });

  it('a model in the Ollama store generates through the server without being copied', async () => {
    const app = createApp({ modelsDir: join(root, 'empty'), ollamaModelsDir: ollama, threads: 1, log: 'off', storage: 'memory' });
    try {
      const before = snapshot(ollama);
      const r = await app.request('/api/generate', { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'hi', stream: false, options: { num_predict: 2 } }) });
      expect(r.status).toBe(200);
      expect((await r.json()).done).toBe(true);
      expect(existsSync(join(root, 'empty', 'blobs'))).toBe(false);
      expect(snapshot(ollama)).toEqual(before);
    } finally {
      await app.close();
    }
  });

  it("Tessera's store wins a name clash; removing it uncovers Ollama's", async () => {
    const store = new ModelStore(mine, ollama);
    await store.install('clash', gguf, { system: 'tessera' });
    expect((await store.get('clash')).source).toBe('tessera');
    expect((await store.list()).filter((m) => m.name === 'clash:latest')).toHaveLength(1);
    await store.remove('clash');
    expect((await store.get('clash')).source).toBe('ollama');
  });

  it('remove deletes the manifest and only the blobs no other manifest uses', async () => {
    const store = new ModelStore(mine);
    await store.install('a', gguf, { system: 'only a' });
    await store.install('b', gguf, {});
    const sysDigest = JSON.parse(readFileSync(store.pathOf('a'), 'utf8')).layers[1].digest as string;
    await store.remove('a');
    expect(existsSync(store.pathOf('a'))).toBe(false);
    expect(existsSync(store.blobPath(sysDigest))).toBe(false);
    expect(existsSync(join(mine, 'blobs', `sha256-${ggufHex}`))).toBe(true); // still used by b, me/tiny:v1, mine:copy
    await expect(store.get('a')).rejects.toThrow(ModelNotFoundError);
  });

  it('a loose GGUF in the models directory is listed as <name>:latest', async () => {
    const dir = join(root, 'loose');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'dropped.gguf'), readFileSync(gguf));
    const store = new ModelStore(dir);
    expect((await store.list()).map((m) => m.name)).toEqual(['dropped:latest']);
    expect(await store.digest(await store.get('dropped'))).toBe(ggufHex);
    expect(await store.settings('dropped')).toEqual({});
    writeFileSync(join(dir, 'dropped.json'), '{"system":"from the flat store"}'); // what earlier versions wrote
    expect(await store.settings('dropped')).toEqual({ system: 'from the flat store' });
    await store.remove('dropped');
    expect(readdirSync(dir)).toEqual([]);
  });
});
