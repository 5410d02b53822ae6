/**
 * The HTTP app (Hono): Ollama's API under /api, OpenAI's under /v1, GET /metrics. `app.fetch` is a
 * web-standard handler; adapters/ serve it on Bun, Deno and Node, and a user's own Hono app can mount it
 * with `userApp.route('/', createApp())`.
 *
 * Middleware, in order: request log + metrics, CORS, optional Bearer API key, body limit (413).
 * Every error becomes the route's API error shape in one place (errors.ts).
 *
 * @example
 * const app = createApp({ modelsDir: './models' });
 * const res = await app.request('/api/tags');
 */
import { hardwareReport } from '../hardware/report.ts';
import type { Storage } from '../storage/types.ts';
import { openGuardedStorage } from '../storage/index.ts';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { VERSION } from '../version.ts';
import { type ServerConfig, loadServerConfig } from './config.ts';
import { describeError, errorResponse, HttpError } from './errors.ts';
import { ModelLoader } from './loader.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { embedRoutes } from './ollama/embed.ts';
import { generateRoutes } from './ollama/generate.ts';
import { modelRoutes } from './ollama/models.ts';
import { chatCompletionRoutes } from './openai/chat.ts';
import { openaiModelRoutes } from './openai/models.ts';
import { Admission, type ServerState } from './state.ts';
import { ModelStore } from './store.ts';

export interface AppOptions extends Partial<ServerConfig> {
  /** Where request logs go (default: stderr, in `config.log`'s format). */
  logger?: Logger;
}

export type TesseraApp = Hono & {
  state: ServerState;
  /** Unloads every model. */
  close(): Promise<void>;
};

const LOOPBACK_ORIGIN = /^(https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?|app:\/\/.*|file:\/\/.*|tauri:\/\/.*)$/;

/** Creates the app. Options override the environment (`loadServerConfig`). */
export function createApp(opts: AppOptions = {}): TesseraApp {
  const { logger, ...overrides } = opts;
  const config: ServerConfig = { ...loadServerConfig(), ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) } as ServerConfig;
  const store = new ModelStore(config.modelsDir, config.ollamaModelsDir);
  let kvStorage: Promise<Storage | null> | undefined;
  const state: ServerState = {
    config,
    store,
    loader: new ModelLoader(store, { ...config, kvStorage: () => (kvStorage ??= openKvStorage(config)) }),
    metrics: new Metrics(),
    admission: new Admission(config.numParallel, config.maxQueue),
  };
  const log = logger ?? createLogger(config.log);
  registerGauges(state);

  const app = new Hono();
  app.onError((e, c) => {
    const { status, message } = describeError(e);
    if (status >= 500) log.error({ msg: 'request failed', method: c.req.method, path: c.req.path, status, error: message, stack: (e as Error)?.stack });
    return errorResponse(c, e);
  });
  app.notFound((c) => errorResponse(c, new HttpError(404, 'route_not_found', `${c.req.method} ${c.req.path}: no such route`)));

  // Request log and metrics.
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    const ms = performance.now() - t0;
    const route = c.req.routePath && c.req.routePath !== '*' && c.req.routePath !== '/*' ? c.req.routePath : 'other';
    state.metrics.inc('tessera_http_requests_total', 'HTTP requests by route, method and status.', { route, method: c.req.method, status: String(c.res.status) });
    state.metrics.observeLatency(route, ms / 1000);
    log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(ms * 10) / 10 });
  });

  app.use(
    '*',
    cors({
      origin: config.origins.includes('*') ? '*' : (origin) => (LOOPBACK_ORIGIN.test(origin) || config.origins.includes(origin) ? origin : null),
      allowHeaders: ['Authorization', 'Content-Type', 'User-Agent', 'Accept', 'X-Requested-With', 'OpenAI-Beta', 'x-stainless-arch', 'x-stainless-lang', 'x-stainless-os', 'x-stainless-package-version', 'x-stainless-runtime', 'x-stainless-runtime-version', 'x-stainless-retry-count', 'x-stainless-timeout'],
      allowMethods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
    }),
  );

  if (config.apiKey) {
    const expected = `Bearer ${config.apiKey}`;
    app.use('*', async (c, next) => {
      if (c.req.path === '/' && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
      if (c.req.method === 'OPTIONS') return next();
      if (!timingSafeEqual(c.req.header('authorization') ?? '', expected)) {
        throw new HttpError(401, 'unauthorized', 'unauthorized: missing or wrong API key (send "Authorization: Bearer <TESSERA_API_KEY>")');
      }
      return next();
    });
  }

  // Blob uploads stream to disk with their sha256 checked, so GGUF files of any size pass; every other
  // body is read into memory and limited.
  const limit = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new HttpError(413, 'payload_too_large', `request body too large: the limit is ${config.maxBodyBytes} bytes (TESSERA_MAX_BODY)`);
    },
  });
  app.use('*', (c, next) => (/\/api\/blobs\//.test(c.req.path) ? next() : limit(c, next)));

  app.get('/', (c) => c.text('Tessera is running')); // HEAD / too (Hono routes HEAD to GET)
  // Ollama's answer plus the hardware report (detected once per process, each probe time-bounded).
  app.get('/api/version', async (c) => c.json({ version: VERSION, hardware: await hardwareReport() }));
  // Tessera's own: the KV cache of each loaded model (pages and bytes per tier, budgets, hit/miss/promote/demote).
  app.get('/api/kv', (c) => c.json({ models: state.loader.list().map((l) => ({ name: l.name, kv: l.engine.kvStats() })) }));
  app.get('/metrics', (c) => c.body(state.metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }));

  generateRoutes(app, state);
  embedRoutes(app, state);
  modelRoutes(app, state);
  chatCompletionRoutes(app, state);
  openaiModelRoutes(app, state);

  return Object.assign(app, {
    state,
    close: async () => {
      await state.loader.close();
      await (await kvStorage)?.close();
    },
  });
}

function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i % Math.max(1, a.length)) || 0) ^ b.charCodeAt(i);
  return diff === 0;
}

function registerGauges(state: ServerState): void {
  const m = state.metrics;
  m.gauge('tessera_queue_depth', 'Requests waiting for a model (beyond TESSERA_NUM_PARALLEL).', () => [{ value: state.admission.queued }]);
  m.gauge('tessera_requests_in_flight', 'Model requests being served or queued.', () => [{ value: state.admission.inflight }]);
  m.gauge('tessera_loaded_models', 'Models loaded.', () => [{ value: state.loader.list().length }]);
  m.gauge('tessera_slots_in_use', 'Generation slots held per loaded model (continuous batching; TESSERA_NUM_PARALLEL per model).', () =>
    state.loader.list().map((l) => ({ labels: { model: l.name }, value: l.engine.slotStats()?.active ?? 0 })),
  );
  m.gauge('tessera_model_memory_bytes', 'Backend memory of each loaded model (weights, activations, KV cache).', () =>
    state.loader.list().map((l) => ({ labels: { model: l.name }, value: l.engine.info.memoryBytes })),
  );
  const kv = () => state.loader.list().map((l) => l.engine.kvStats()).filter((k) => k !== null);
  m.gauge('tessera_kv_bytes', 'KV cache bytes in use by tier (hot: WASM memory, host: ArrayBuffers), over loaded models.', () => [
    { labels: { tier: 'hot' }, value: kv().reduce((s, k) => s + k.hot.bytes, 0) },
    { labels: { tier: 'host' }, value: kv().reduce((s, k) => s + k.host.bytes, 0) },
  ]);
  m.gauge('tessera_kv_pages', 'KV cache pages in use by tier, over loaded models.', () => [
    { labels: { tier: 'hot' }, value: kv().reduce((s, k) => s + k.hot.pages, 0) },
    { labels: { tier: 'host' }, value: kv().reduce((s, k) => s + k.host.pages, 0) },
  ]);
  m.gauge('tessera_kv_events', 'KV prefix cache counters since load, over loaded models (hits, misses, promotes, demotes, drops, storage reads/writes).', () =>
    (['hits', 'misses', 'promotes', 'demotes', 'drops', 'tailHits', 'partialHits', 'reusedTokens'] as const).map((e): { labels: Record<string, string>; value: number } => ({ labels: { event: e }, value: kv().reduce((s, k) => s + k[e], 0) }))
      .concat((['writes', 'readHits', 'corrupt', 'writeErrors', 'readErrors'] as const).map((e) => ({ labels: { event: `storage_${e}` }, value: kv().reduce((s, k) => s + k.storage[e], 0) }))),
  );
}

/**
 * The KV prefix cache's storage from TESSERA_STORAGE / TESSERA_STORAGE_URL, guarded: an outage or a corrupt entry
 * only costs a recomputation (src/storage/guarded.ts), logged once. A storage that cannot be opened at all is
 * logged and the server runs without one.
 */
async function openKvStorage(config: ServerConfig): Promise<Storage | null> {
  if (config.storage === 'off') return null;
  const spec = config.storage === 'memory' ? 'memory:' : config.storage === 'fs' && !/[?&]budget=/.test(config.storageUrl ?? '') ? `file:${config.storageUrl}?budget=4GiB` : (config.storageUrl ?? 'memory:');
  try {
    return await openGuardedStorage(spec, { log: (level, msg) => console.error(JSON.stringify({ level, msg: `storage: ${msg}` })) });
  } catch (e) {
    console.error(JSON.stringify({ level: 'error', msg: `storage ${spec} could not be opened, running without a persistent KV cache: ${(e as Error).message}` }));
    return null;
  }
}
