/**
 * `tessera hw` and the backend in `tessera ps` / `tessera run`, through the built CLI (dist/src/cli/main.js,
 * `npm run build`): the report as text and as JSON, exit 1 with the reason for a required or requested
 * backend that can't run here, exit 2 for a bad kind, and ps's "why" lines against a server on loopback.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModelsDir, post, type TestApp, testApp } from '../server/fixtures.ts';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

describe.skipIf(!existsSync(CLI))('tessera hw / ps / run --backend (skipped when dist/ is not built: npm run build)', () => {
  let dir: string;
  let app: TestApp;
  let server: ReturnType<typeof serve>;
  let host: string;
  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...process.env, TESSERA_HOST: host, OLLAMA_MODELS: 'off', TESSERA_MODELS: dir }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    dir = await makeModelsDir('hw-cli');
    app = testApp(dir, { threads: 2, tuneBudgetMs: 60 });
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await app?.close();
  });

  it('hw: text report, exit 0', async () => {
    const r = await cli(['hw']);
    expect(r.code).toBe(0);
    for (const k of ['runtime', 'cpu', 'memory', 'wasm', 'webgpu', 'native', 'fingerprint']) expect(r.stdout).toMatch(new RegExp(`^${k}\\s`, 'm'));
    expect(r.stdout).toMatch(/^→ wasm\s+usable: /m);
  });

  it('hw --json: the whole report', async () => {
    const r = await cli(['hw', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(['cpu', 'cuda', 'detectedAt', 'fingerprint', 'memory', 'native', 'probes', 'runtime', 'wasm', 'webgpu']);
  });

  it('hw --require: 0 for wasm, 1 with the reason for an unavailable kind, 2 for an unknown one', async () => {
    expect((await cli(['hw', '--require', 'wasm'])).code).toBe(0);
    const r = await cli(['hw', '--require', 'cuda']); // no CUDA device here (nor in CI)
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tessera: backend 'cuda' is not available: /m);
    expect((await cli(['hw', '--require', 'tpu'])).code).toBe(2);
  });

  it('run --backend cuda on a file: exit 1 with the reason; --backend tpu: usage error 2', async () => {
    const file = join(dir, 'tiny.gguf');
    const r = await cli(['run', '--backend', 'cuda', file, 'hello']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backend 'cuda' is not available/);
    expect((await cli(['run', '--backend', 'tpu', file, 'hello'])).code).toBe(2);
  });

  it('ps: processor with the backend, then why and the tuning result', async () => {
    expect((await post(app, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 1 } })).status).toBe(200);
    const r = await cli(['ps']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tiny:latest\s+[0-9a-f]{12}\s+.*100% CPU \(wasm\)/m);
    expect(r.stdout).toMatch(/^tiny:latest: wasm — requested: WASM simd128/m);
    expect(r.stdout).toMatch(/^ {2}facts: 2 threads of \d+ cores/m);
    expect(r.stdout).toMatch(/^ {2}tuning: measured, measured \d+ shape\/phase pairs/m);
  });
});
