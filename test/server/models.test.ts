/** Ollama model management: show, copy, delete, blobs, create (path, blob, modelfile, quantize), embed. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGguf } from '../../src/gguf/reader.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';
import { LLAMA_SPEC, makeModelsDir, ndjson, post, testApp, type TestApp } from './fixtures.ts';

let dir: string;
let app: TestApp;
let f16: string;

beforeAll(async () => {
  dir = await makeModelsDir('models');
  app = testApp(dir);
  f16 = join(dir, '..', `tessera-f16-${process.pid}.gguf`);
  await writeSyntheticLlama(f16, { ...LLAMA_SPEC, type: 'F16', tokenizer: tinyLlamaVocab() });
});
afterAll(async () => app.close());

const del = (name: string) => app.request('/api/delete', { method: 'DELETE', body: JSON.stringify({ model: name }) });
const names = async () => (await (await app.request('/api/tags')).json()).models.map((m: { name: string }) => m.name);

describe('create, show, copy, delete', () => {
  it('create from a GGUF path with template, system and parameters; show reports them', async () => {
    const res = await post(app, '/api/create', { model: 'mine', from: join(dir, 'tiny.gguf'), system: 'You are terse.', template: '{{ .System }}|{{ .Prompt }}|', parameters: { temperature: 0, num_predict: 3, stop: ['zz'] } });
    expect(res.status).toBe(200);
    expect((await ndjson(res)).at(-1)).toEqual({ status: 'success' });
    const show = await (await post(app, '/api/show', { model: 'mine' })).json();
    expect(show.system).toBe('You are terse.');
    expect(show.template).toBe('{{ .System }}|{{ .Prompt }}|');
    expect(show.parameters).toMatch(/^temperature\s+0$/m);
    expect(show.parameters).toMatch(/^stop\s+"zz"$/m);
    expect(show.modelfile).toContain('SYSTEM """You are terse."""');
    expect(show.details).toMatchObject({ format: 'gguf', family: 'llama', quantization_level: 'Q8_0' });
    expect(show.model_info['general.architecture']).toBe('llama');
    expect(show.model_info['llama.embedding_length']).toBe(64);
    expect(show.capabilities).toEqual(['completion']);
    // The stored settings apply: num_predict 3 from the parameters, the template and system text in the prompt.
    const gen = await (await post(app, '/api/generate', { model: 'mine', prompt: 'hi', stream: false })).json();
    expect(gen.eval_count).toBeLessThanOrEqual(3);
  });

  it('create from a Modelfile (FROM an existing model) inherits and overrides settings', async () => {
    const res = await post(app, '/api/create', { model: 'mine2', modelfile: 'FROM mine\nPARAMETER num_predict 2\nSYSTEM """two\nlines"""\nLICENSE """MIT\ntext"""', stream: false });
    expect(await res.json()).toEqual({ status: 'success' });
    const show = await (await post(app, '/api/show', { name: 'mine2' })).json();
    expect(show.system).toBe('two\nlines');
    expect(show.license).toBe('MIT\ntext');
    expect(show.modelfile).toContain('LICENSE """MIT\ntext"""');
    // The license is inherited by a model made FROM this one, and replaced by the `license` field (a list is joined).
    await post(app, '/api/create', { model: 'mine3', from: 'mine2', license: ['A', 'B'], stream: false });
    expect((await (await post(app, '/api/show', { model: 'mine3' })).json()).license).toBe('A\n\nB');
    expect((await (await post(app, '/api/show', { model: 'mine' })).json()).license).toBeUndefined();
    expect(show.template).toBe('{{ .System }}|{{ .Prompt }}|');
    expect(show.parameters).toMatch(/^num_predict\s+2$/m);
  });

  it('create with quantize: an F16 file becomes Q4_0', async () => {
    const res = await post(app, '/api/create', { model: 'small:q4', from: f16, quantize: 'q4_0', stream: false });
    expect(res.status).toBe(200);
    const file = await openGguf((await app.state.store.get('small:q4')).path);
    expect(file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.type).toBe(GgmlType.Q4_0);
    const show = await (await post(app, '/api/show', { model: 'small:q4' })).json();
    expect(show.details.quantization_level).toBe('Q4_0');
    const gen = await post(app, '/api/generate', { model: 'small:q4', prompt: 'hello', raw: true, stream: false, options: { num_predict: 2 } });
    expect(gen.status).toBe(200);
  });

  it('blobs: HEAD 404, POST with a wrong digest 400, POST 201, HEAD 200; create from the blob', async () => {
    const bytes = readFileSync(join(dir, 'embed.gguf')); // not stored as a blob by the tests before
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    expect((await app.request(`/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    const wrong = await app.request(`/api/blobs/sha256:${'0'.repeat(64)}`, { method: 'POST', body: bytes });
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error).toContain('digest mismatch');
    expect((await app.request(`/api/blobs/${digest}`, { method: 'POST', body: bytes })).status).toBe(201);
    expect((await app.request(`/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
    const res = await post(app, '/api/create', { model: 'fromblob', files: { 'model.gguf': digest }, stream: false });
    expect(res.status).toBe(200);
    expect(await names()).toContain('fromblob:latest');
    const missing = await post(app, '/api/create', { model: 'x', files: { 'model.gguf': `sha256:${'1'.repeat(64)}` } });
    expect(missing.status).toBe(404);
    // Blob uploads stream to disk and are not held to the body limit.
    const small = testApp(join(dir, 'other'), { maxBodyBytes: 1024 });
    expect((await small.request(`/api/blobs/${digest}`, { method: 'POST', body: bytes })).status).toBe(201);
    expect((await post(small, '/api/show', { model: 'x'.repeat(2000) })).status).toBe(413);
  });

  it('copy then delete; deleting an unknown model is a 404 naming it', async () => {
    expect((await post(app, '/api/copy', { source: 'tiny', destination: 'tiny-copy:v1' })).status).toBe(200);
    expect(await names()).toContain('tiny-copy:v1');
    expect((await del('tiny-copy:v1')).status).toBe(200);
    expect(await names()).not.toContain('tiny-copy:v1');
    expect(existsSync(join(dir, 'tiny-copy:v1.gguf'))).toBe(false);
    const nf = await del('tiny-copy:v1');
    expect(nf.status).toBe(404);
    expect((await nf.json()).error).toBe("model 'tiny-copy:v1' not found");
  });

  it('create errors: no source, a non-GGUF file, an unknown quant type, bad parameters', async () => {
    expect((await post(app, '/api/create', { model: 'e1' })).status).toBe(400);
    const notGguf = await post(app, '/api/create', { model: 'e2', from: '/etc/hostname.gguf' });
    expect(notGguf.status).toBe(400);
    const q = await post(app, '/api/create', { model: 'e3', from: f16, quantize: 'Q9_9' });
    expect(q.status).toBe(400);
    expect((await q.json()).error).toContain("unknown type 'Q9_9'");
    const p = await post(app, '/api/create', { model: 'e4', from: f16, parameters: { top_p: 7 } });
    expect(p.status).toBe(400);
    expect((await p.json()).error).toContain('top_p');
  });
});

describe('embeddings', () => {
  it('/api/embed returns one L2-normalised vector per input; dimensions truncates and renormalises', async () => {
    const r = await (await post(app, '/api/embed', { model: 'embed', input: ['hello world', 'the cat sat on the mat'] })).json();
    expect(r.model).toBe('embed:latest');
    expect(r.embeddings).toHaveLength(2);
    for (const e of r.embeddings) {
      expect(e).toHaveLength(32);
      expect(Math.hypot(...e)).toBeCloseTo(1, 5);
    }
    expect(r.embeddings[0]).not.toEqual(r.embeddings[1]);
    expect(r.prompt_eval_count).toBe(4 + 8); // [CLS] hello world [SEP], [CLS] the cat sat on the mat [SEP]
    const d = await (await post(app, '/api/embed', { model: 'embed', input: 'hello world', dimensions: 8 })).json();
    const first8 = r.embeddings[0].slice(0, 8);
    const n = Math.hypot(...first8);
    d.embeddings[0].forEach((v: number, i: number) => expect(v).toBeCloseTo(first8[i] / n, 5));
  });

  it('/api/embeddings (legacy) returns `embedding`; show says capability embedding', async () => {
    const r = await (await post(app, '/api/embeddings', { model: 'embed', prompt: 'hello' })).json();
    expect(r.embedding).toHaveLength(32);
    expect((await (await post(app, '/api/show', { model: 'embed' })).json()).capabilities).toEqual(['embedding']);
  });

  it('generation on an embedding model and embeddings from a generative model are 400s', async () => {
    const g = await post(app, '/api/generate', { model: 'embed', prompt: 'hi' });
    expect(g.status).toBe(400);
    expect((await g.json()).error).toContain('embedding model');
    const e = await post(app, '/api/embed', { model: 'tiny', input: 'hi' });
    expect(e.status).toBe(400);
    expect((await e.json()).error).toContain('not an embedding model');
  });
});
