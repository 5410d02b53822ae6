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
  const state: ServerState = {
    config,
    store,
    loader: new ModelLoader(store, config),
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
  app.get('/api/version', (c) => c.json({ version: VERSION }));
  app.get('/metrics', (c) => c.body(state.metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }));

  generateRoutes(app, state);
  embedRoutes(app, state);
  modelRoutes(app, state);
  chatCompletionRoutes(app, state);
  openaiModelRoutes(app, state);

  return Object.assign(app, { state, close: () => state.loader.close() });
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
  m.gauge('tessera_model_memory_bytes', 'Backend memory of each loaded model (weights, activations, KV cache).', () =>
    state.loader.list().map((l) => ({ labels: { model: l.name }, value: l.engine.info.memoryBytes })),
  );
  m.gauge('tessera_kv_bytes', 'KV cache bytes by tier (wasm memory; host and storage tiers come with the paged KV cache).', () => [
    { labels: { tier: 'wasm' }, value: state.loader.list().reduce((s, l) => s + l.engine.info.kvBytes, 0) },
  ]);
}
