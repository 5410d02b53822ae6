/** Operations: API key, CORS, /metrics (Prometheus text), structured logs, configuration, keep_alive and template parsing. */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, CONFIG_VARS, configHelp, loadServerConfig, parseBytes, parseHost } from '../../src/server/config.ts';
import { parseKeepAlive } from '../../src/server/keep-alive.ts';
import { renderGoTemplate, renderMessages } from '../../src/server/template.ts';
import { makeModelsDir, post, testApp } from './fixtures.ts';

describe('API key, CORS, metrics, logs', async () => {
  const dir = await makeModelsDir('ops');

  it('with TESSERA_API_KEY: 401 without or with a wrong key, 200 with it; GET / stays open', async () => {
    const app = testApp(dir, { apiKey: 's3cret' });
    expect((await app.request('/')).status).toBe(200);
    const none = await app.request('/api/tags');
    expect(none.status).toBe(401);
    expect((await none.json()).error).toContain('API key');
    expect((await app.request('/api/tags', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const v1 = await app.request('/v1/models');
    expect((await v1.json()).error.type).toBe('authentication_error');
    expect((await app.request('/api/tags', { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
  });

  it('without a key (the default), requests need no Authorization', async () => {
    expect((await testApp(dir).request('/api/tags')).status).toBe(200);
  });

  it('CORS: loopback origins are allowed by default, others only when listed', async () => {
    const app = testApp(dir);
    const pre = (origin: string, a = app) => a.request('/api/chat', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    expect((await pre('http://localhost:3000')).headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect((await pre('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const listed = testApp(dir, { origins: ['https://app.example'] });
    expect((await pre('https://app.example', listed)).headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await pre('https://x.example', testApp(dir, { origins: ['*'] }))).headers.get('access-control-allow-origin')).toBe('*');
  });

  it('GET /metrics: Prometheus text with request counters, cumulative latency buckets, tokens and gauges', async () => {
    const app = testApp(dir);
    await app.request('/api/tags');
    await app.request('/api/tags');
    await post(app, '/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 3, temperature: 0 } });
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    expect(text).toContain('# TYPE tessera_http_requests_total counter');
    expect(text).toContain('tessera_http_requests_total{route="/api/tags",method="GET",status="200"} 2');
    const buckets = [...text.matchAll(/^tessera_request_duration_seconds_bucket\{route="\/api\/tags",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    expect(buckets.length).toBe(14);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]);
    expect(buckets.at(-1)).toBe(2);
    expect(text).toMatch(/^tessera_request_duration_seconds_count\{route="\/api\/tags"\} 2$/m);
    expect(text).toMatch(/^tessera_generated_tokens_total \d+$/m);
    expect(text).toMatch(/^tessera_prompt_cached_tokens_total \d+$/m);
    expect(text).toMatch(/^tessera_queue_depth 0$/m);
    expect(text).toMatch(/^tessera_loaded_models 1$/m);
    expect(text).toMatch(/^tessera_kv_bytes\{tier="hot"\} [1-9]\d*$/m);
    // every sample line is `name{labels} number`
    for (const line of text.trim().split('\n').filter((l) => !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[\d.e+-]+$/);
    await app.close();
  });

  it('structured logs: one JSON object per request with method, path, status and ms', async () => {
    const lines: string[] = [];
    const { createLogger } = await import('../../src/server/log.ts');
    const app = testApp(dir, { logger: createLogger('json', (l) => lines.push(l)) });
    await app.request('/api/version');
    await post(app, '/api/show', { model: 'missing' });
    const [a, b] = lines.map((l) => JSON.parse(l));
    expect(a).toMatchObject({ level: 'info', method: 'GET', path: '/api/version', status: 200 });
    expect(typeof a.ms).toBe('number');
    expect(Date.parse(a.time)).not.toBeNaN();
    expect(b).toMatchObject({ method: 'POST', path: '/api/show', status: 404 });
  });
});

describe('configuration', () => {
  it('TESSERA_HOST forms', () => {
    expect(parseHost('')).toEqual({ host: '127.0.0.1', port: 11434 });
    expect(parseHost('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseHost(':9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseHost('example.org')).toEqual({ host: 'example.org', port: 11434 });
    expect(parseHost('[::1]:1234')).toEqual({ host: '::1', port: 1234 });
    expect(parseHost('http://localhost:5/')).toEqual({ host: 'localhost', port: 5 });
    expect(() => parseHost('h:99999')).toThrow(ConfigError);
  });

  it('variables are read, bad values named', () => {
    const c = loadServerConfig({ TESSERA_HOST: '1.2.3.4:5', TESSERA_HOME: '/h', TESSERA_KEEP_ALIVE: '1h', TESSERA_MEMORY_BUDGET: '2G', TESSERA_API_KEY: 'k', TESSERA_ORIGINS: 'a, b', TESSERA_NUM_PARALLEL: '2', TESSERA_MAX_QUEUE: '7', TESSERA_STORAGE: 'redis', TESSERA_STORAGE_URL: 'redis://x' });
    expect(c).toMatchObject({ host: '1.2.3.4', port: 5, home: '/h', modelsDir: '/h/models', keepAliveMs: 3600e3, memoryBudget: 2 * 2 ** 30, apiKey: 'k', origins: ['a', 'b'], numParallel: 2, maxQueue: 7, storage: 'redis', storageUrl: 'redis://x' });
    expect(loadServerConfig({}).keepAliveMs).toBe(300e3);
    expect(() => loadServerConfig({ TESSERA_NUM_PARALLEL: 'two' })).toThrow(/TESSERA_NUM_PARALLEL/);
    expect(() => loadServerConfig({ TESSERA_KEEP_ALIVE: 'soon' })).toThrow(/TESSERA_KEEP_ALIVE/);
    expect(() => loadServerConfig({ TESSERA_STORAGE: 's3' })).toThrow(/TESSERA_STORAGE/);
    expect(parseBytes('512K', 'x')).toBe(524288);
    expect(() => parseBytes('lots', 'X')).toThrow(/X/);
  });

  it('`tessera serve --help` lists every variable and exits 0; a bad variable is a usage error (2)', () => {
    const help = configHelp();
    for (const v of CONFIG_VARS) expect(help).toContain(v.name);
    expect(CONFIG_VARS.length).toBe(21); // 17 + TESSERA_BACKEND, TESSERA_MODEL_BACKENDS, TESSERA_TUNE, TESSERA_TUNE_BUDGET_MS
    const root = join(import.meta.dirname, '../..');
    const bun = join(root, 'node_modules/.bin/bun');
    const out = execFileSync(bun, ['src/cli/main.ts', 'serve', '--help'], { cwd: root, encoding: 'utf8' });
    expect(out).toContain('usage: tessera serve');
    for (const v of CONFIG_VARS) expect(out).toContain(v.name);
    const bad = spawnSync(bun, ['src/cli/main.ts', 'serve'], { cwd: root, encoding: 'utf8', env: { ...process.env, TESSERA_NUM_PARALLEL: 'x' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('TESSERA_NUM_PARALLEL');
  });

  it('keep_alive: Go durations and seconds; negative = forever; junk = null', () => {
    expect(parseKeepAlive('5m')).toBe(300e3);
    expect(parseKeepAlive('1h30m')).toBe(5400e3);
    expect(parseKeepAlive('250ms')).toBe(250);
    expect(parseKeepAlive(10)).toBe(10e3);
    expect(parseKeepAlive('10')).toBe(10e3);
    expect(parseKeepAlive(0)).toBe(0);
    expect(parseKeepAlive(-1)).toBe(Infinity);
    expect(parseKeepAlive('-1m')).toBe(Infinity);
    for (const bad of ['', 'soon', '5 m', '5d', {}, null, NaN]) expect(parseKeepAlive(bad)).toBeNull();
  });
});

describe('Ollama legacy templates', () => {
  const t = '{{ if .System }}<s>{{ .System }}</s>{{ end }}[U]{{ .Prompt }}[A]{{ .Response }}[E]';
  it('variables, if/else/end and trimming', () => {
    expect(renderGoTemplate(t, { Prompt: 'hi', Response: 'yo' })).toBe('[U]hi[A]yo[E]');
    expect(renderGoTemplate('{{ if .System }}a{{ else }}b{{ end }}', {})).toBe('b');
    expect(renderGoTemplate('x  {{- .Prompt -}}  y', { Prompt: 'P' })).toBe('xPy');
    expect(() => renderGoTemplate('{{ range .Messages }}{{ end }}', {})).toThrow(/unsupported action/);
    expect(() => renderGoTemplate('{{ if .System }}', {})).toThrow(/missing \{\{ end \}\}/);
  });
  it('a chat renders turn by turn, the last cut at .Response', () => {
    const msgs = [{ role: 'system', content: 'S' }, { role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: 'u2' }];
    expect(renderMessages(t, msgs, { bos: '', eos: '' })).toBe('<s>S</s>[U]u1[A]a1[E][U]u2[A]');
  });
  it('Jinja templates go to the chat template renderer', () => {
    const j = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    expect(renderMessages(j, [{ role: 'user', content: 'x' }], { bos: '', eos: '' })).toBe('<user>x<assistant>');
  });
});

describe('mounting', () => {
  it("a user's own Hono app can mount the app under a prefix; /v1 errors keep OpenAI's shape", async () => {
    const { Hono } = await import('hono');
    const dir = await makeModelsDir('mount');
    const user = new Hono();
    user.get('/health', (c) => c.text('ok'));
    user.route('/llm', testApp(dir));
    expect(await (await user.request('/health')).text()).toBe('ok');
    expect((await (await user.request('/llm/api/tags')).json()).models).toHaveLength(2);
    const nf = await user.request('/llm/v1/models/nope');
    expect(nf.status).toBe(404);
    expect((await nf.json()).error.type).toBe('not_found_error');
  });
});
