/**
 * The hardware report and backend choice over HTTP: /api/version carries the report, /api/ps says which
 * backend runs each loaded model and why (with its tuning result), a configured backend that can't run
 * here fails the load with 503 and the reason (for every model, or one model by name), and the new
 * configuration variables are parsed with bad values named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig } from '../../src/server/config.ts';
import { makeModelsDir, post, testApp, type TestApp } from '../server/fixtures.ts';

let dir: string;
const apps: TestApp[] = [];
const app = (opts: Parameters<typeof testApp>[1] = {}) => {
  const a = testApp(dir, opts);
  apps.push(a);
  return a;
};

beforeAll(async () => {
  dir = await makeModelsDir('hw');
});
afterAll(async () => {
  for (const a of apps) await a.close();
});

describe('hardware over HTTP', () => {
  it('/api/version: version and the hardware report', async () => {
    const res = await app().request('/api/version');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.hardware.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(body.hardware.wasm).toMatchObject({ simd128: true, threads: true });
    expect(body.hardware.cuda).toHaveProperty('available');
    expect(body.hardware.probes.webgpu).toHaveProperty('ms');
  });

  it('/api/ps: backend, reason, facts and tuning for each loaded model', async () => {
    const a = app({ threads: 2, tuneBudgetMs: 60, backend: 'auto' }); // the server's default is 'wasm': ask for the hardware choice
    const g = await post(a, '/api/generate', { model: 'tiny', prompt: 'hello', stream: false, options: { num_predict: 2 } });
    expect(g.status).toBe(200);
    const { models } = await (await a.request('/api/ps')).json();
    expect(models).toHaveLength(1);
    const b = models[0].backend;
    // The fixture is Q8_0 (native SIMD tiles): auto takes the native library where its AVX2/AVX-512 build loads, else WASM.
    const hwr = (await (await a.request('/api/version')).json()).hardware;
    const nativeFirst = hwr.native.available && hwr.native.simdKernels === true && !hwr.cuda.available;
    expect(b.kind).toBe(nativeFirst ? 'native' : 'wasm');
    expect(b.requested).toBe('auto');
    expect(b.reason).toMatch(/^auto: /);
    expect(b.considered.map((c: { kind: string }) => c.kind)).toEqual(['cuda', 'webgpu', 'native', 'wasm']);
    expect(b.facts.threads).toBe(2);
    if (nativeFirst) {
      expect(b.reason).toMatch(/SIMD kernels for every weight type/);
      expect(b.tuning).toMatchObject({ source: 'untunable', reason: 'backend native has no tunable split' });
    } else {
      expect(b.tuning.source).toBe('measured');
      expect(b.tuning.key).toMatch(/^tune\//);
      expect(b.tuning.shapes).toBeGreaterThan(0);
    }
  });

  it('TESSERA_BACKEND=cuda (unavailable here): the load fails with 503 and the reason; ps stays empty', async () => {
    const a = app({ backend: 'cuda' });
    const res = await post(a, '/api/generate', { model: 'tiny', prompt: 'hello', stream: false });
    expect(res.status).toBe(503);
    expect((await res.json()).error).toMatch(/^backend 'cuda' is not available: /);
    const v1 = await post(a, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    expect(v1.status).toBe(503);
    expect((await v1.json()).error.message).toMatch(/backend 'cuda' is not available/);
    expect((await (await a.request('/api/ps')).json()).models).toEqual([]);
  });

  it('a per-model override applies to that model only', async () => {
    const a = app({ modelBackends: { tiny: 'cuda' } }); // no CUDA device here (nor in CI)
    const res = await post(a, '/api/generate', { model: 'tiny', prompt: 'hello', stream: false });
    expect(res.status).toBe(503);
    expect((await res.json()).error).toMatch(/^backend 'cuda' is not available: /);
    const e = await post(a, '/api/embed', { model: 'embed', input: 'hello world' });
    expect(e.status).toBe(200);
  });

  it('config: TESSERA_BACKEND, TESSERA_MODEL_BACKENDS, TESSERA_TUNE, TESSERA_TUNE_BUDGET_MS', () => {
    const c = loadServerConfig({ TESSERA_BACKEND: 'wasm', TESSERA_MODEL_BACKENDS: 'llama3.2:1b=cuda, qwen=auto', TESSERA_TUNE: 'off', TESSERA_TUNE_BUDGET_MS: '500' });
    expect(c).toMatchObject({ backend: 'wasm', modelBackends: { 'llama3.2:1b': 'cuda', qwen: 'auto' }, tune: false, tuneBudgetMs: 500 });
    expect(loadServerConfig({})).toMatchObject({ backend: 'wasm', modelBackends: {}, tune: true, tuneBudgetMs: undefined });
    expect(() => loadServerConfig({ TESSERA_BACKEND: 'tpu' })).toThrow(ConfigError);
    expect(() => loadServerConfig({ TESSERA_BACKEND: 'tpu' })).toThrow(/TESSERA_BACKEND/);
    expect(() => loadServerConfig({ TESSERA_MODEL_BACKENDS: 'x=gpu' })).toThrow(/TESSERA_MODEL_BACKENDS \(x\)/);
    expect(() => loadServerConfig({ TESSERA_MODEL_BACKENDS: 'nopair' })).toThrow(/name=kind/);
    expect(() => loadServerConfig({ TESSERA_TUNE: 'maybe' })).toThrow(/TESSERA_TUNE/);
  });
});
