/**
 * The HTTP app (Hono): Ollama's core routes. `app.fetch` is a web-standard handler; adapters/ serve it
 * on Bun, Deno and Node, and a user's own Hono app can mount it with `app.route('/', createApp())`.
 */
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import type { GenerateChunk, Generation } from '../engine.ts';
import { TesseraError, ValidationError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { defaultModelsDir, ModelRegistry } from './models.ts';

export interface AppOptions {
  /** Directory of `<name>.gguf` files (default: $TESSERA_MODELS or ~/.tessera/models). */
  modelsDir?: string;
  threads?: number;
}

const options = z.record(z.string(), z.unknown()).optional();
const generateBody = z.looseObject({
  model: z.string().min(1),
  prompt: z.string().default(''),
  system: z.string().optional(),
  raw: z.boolean().optional(),
  stream: z.boolean().default(true),
  options,
});
const chatBody = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string(), content: z.string().default('') })).default([]),
  stream: z.boolean().default(true),
  options,
});

/** Turns any error into Ollama's `{ "error": "..." }` with a 4xx/5xx status. */
function errorResponse(c: Context, e: unknown): Response {
  if (e instanceof ValidationError) return c.json({ error: e.message }, 400);
  if (e instanceof TesseraError) {
    const status = e.code === 'model_not_found' ? 404 : e.code === 'kv_cache_full' ? 400 : e.code.startsWith('gguf_') || e.code === 'model_format' || e.code.startsWith('unsupported') || e.code === 'model_too_large' ? 422 : 500;
    return c.json({ error: e.message }, status);
  }
  return c.json({ error: (e as Error)?.message ?? String(e) }, 500);
}

const validate = <T extends z.ZodType>(schema: T) =>
  zValidator('json', schema, (r, c) => {
    if (!r.success) return c.json({ error: r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') }, 400);
  });

export function createApp(opts: AppOptions = {}): Hono & { registry: ModelRegistry } {
  const registry = new ModelRegistry(opts.modelsDir ?? defaultModelsDir(), opts.threads);
  const app = new Hono();

  app.onError((e, c) => errorResponse(c, e));
  app.get('/', (c) => c.text('Tessera is running'));
  app.on('HEAD', '/', (c) => c.body(null, 200));
  app.get('/api/version', (c) => c.json({ version: VERSION }));

  app.get('/api/tags', async (c) => {
    const models = await registry.list();
    return c.json({
      models: models.map((m) => ({ name: m.name, model: m.name, modified_at: m.modifiedAt.toISOString(), size: m.size, details: { format: 'gguf' } })),
    });
  });

  app.get('/api/ps', async (c) => {
    const loaded = await registry.loadedModels();
    return c.json({ models: loaded.map(({ name, engine }) => ({ name, model: name, size: engine.info.memoryBytes, context_length: engine.info.nCtx })) });
  });

  app.post('/api/generate', validate(generateBody), async (c) => {
    const body = c.req.valid('json');
    const engine = await registry.engine(body.model);
    if (body.prompt === '') return c.json({ model: body.model, created_at: new Date().toISOString(), response: '', done: true, done_reason: 'load' });
    const gen = engine.generate({ prompt: body.prompt, raw: body.raw, system: body.system, options: body.options, signal: c.req.raw.signal });
    return respond(c, body.model, body.stream, gen, (text) => ({ response: text }));
  });

  app.post('/api/chat', validate(chatBody), async (c) => {
    const body = c.req.valid('json');
    const engine = await registry.engine(body.model);
    if (body.messages.length === 0) return c.json({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done: true, done_reason: 'load' });
    const gen = engine.chat({ messages: body.messages, options: body.options, signal: c.req.raw.signal });
    return respond(c, body.model, body.stream, gen, (text) => ({ message: { role: 'assistant', content: text } }));
  });

  return Object.assign(app, { registry });
}

/** NDJSON stream (or one JSON object) in Ollama's shape, final statistics in nanoseconds. */
async function respond(c: Context, model: string, streaming: boolean, gen: Generation, shape: (text: string) => object): Promise<Response> {
  const iter = gen[Symbol.asyncIterator]();
  // Pull the first chunk before answering, so validation/loading errors become a proper status.
  const first = await iter.next();
  const final = () => {
    const s = gen.stats;
    return {
      model,
      created_at: new Date().toISOString(),
      ...shape(''),
      done: true,
      done_reason: gen.doneReason === 'abort' ? 'stop' : gen.doneReason,
      total_duration: s?.totalNs ?? 0,
      load_duration: 0,
      prompt_eval_count: s ? s.promptTokens - s.cachedTokens : 0,
      prompt_eval_duration: s?.promptEvalNs ?? 0,
      eval_count: s?.evalCount ?? 0,
      eval_duration: s?.evalNs ?? 0,
    };
  };
  if (!streaming) {
    let text = first.done ? '' : (first.value as GenerateChunk).text;
    for (let r = await iter.next(); !r.done; r = await iter.next()) text += r.value.text;
    return c.json({ ...final(), ...shape(text) });
  }
  c.header('Content-Type', 'application/x-ndjson');
  return stream(c, async (s) => {
    s.onAbort(() => void iter.return?.(undefined));
    const line = (text: string) => JSON.stringify({ model, created_at: new Date().toISOString(), ...shape(text), done: false }) + '\n';
    if (!first.done) await s.write(line(first.value.text));
    for (let r = await iter.next(); !r.done; r = await iter.next()) {
      if (r.value.text) await s.write(line(r.value.text));
    }
    await s.write(JSON.stringify(final()) + '\n');
  });
}
