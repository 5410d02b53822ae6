/**
 * Model management routes: GET /api/tags, GET /api/ps, POST /api/show, POST /api/copy, DELETE /api/delete,
 * HEAD/POST /api/blobs/:digest, POST /api/create (from a model, a GGUF path, an uploaded blob or a
 * Modelfile; with template/system/parameters and `quantize`), and POST /api/pull (the model-store issue's).
 */
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Context, Hono } from 'hono';
import type { Engine } from '../../engine.ts';
import { openGguf } from '../../gguf/reader.ts';
import { QUANT_TARGETS, quantTarget, quantizeGguf } from '../../quantize/index.ts';
import { resolveOptions } from '../../sampling/options.ts';
import { badRequest, HttpError, notImplemented } from '../errors.ts';
import type { ServerState } from '../state.ts';
import { pullRoute } from '../pull-route.ts';
import { type ModelEntry, type ModelSettings, parseDigest, parseModelName } from '../store.ts';
import { parseBody } from '../validate.ts';
import { formatModelfile, formatParameters, parseModelfile } from './modelfile.ts';
import { copyBody, createBody, deleteBody, showBody } from './schemas.ts';
import { backendSummary } from '../../hardware/summary.ts';

/** llama.cpp's file type names, from general.file_type. */
const FILE_TYPES: Record<number, string> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 25: 'IQ4_NL', 32: 'BF16' };

/** "135.2M", "1.2B" as Ollama shows parameter counts. */
function paramSize(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e3).toFixed(1)}K`;
}

interface GgufFacts {
  arch: string;
  params: number;
  quant: string;
  info: Record<string, unknown>;
  embedding: boolean;
}

async function ggufFacts(path: string, verbose: boolean): Promise<GgufFacts> {
  const f = await openGguf(path);
  const arch = String(f.metadata.get('general.architecture') ?? 'unknown');
  const ft = f.metadata.get('general.file_type');
  const info: Record<string, unknown> = {};
  for (const [k, v] of f.metadata) {
    const big = Array.isArray(v) || ArrayBuffer.isView(v);
    if (big && !verbose) info[k] = null; // Ollama sends large arrays (tokens, merges) only with verbose
    else info[k] = typeof v === 'bigint' ? Number(v) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
  }
  const params = f.tensors.reduce((s, t) => s + t.nElements, 0);
  info['general.parameter_count'] = params;
  return {
    arch,
    params,
    quant: typeof ft === 'number' ? (FILE_TYPES[ft] ?? `ftype#${ft}`) : 'unknown',
    info,
    embedding: f.metadata.has(`${arch}.pooling_type`) || arch.includes('bert'),
  };
}

function details(g: GgufFacts) {
  return { parent_model: '', format: 'gguf', family: g.arch, families: [g.arch], parameter_size: paramSize(g.params), quantization_level: g.quant };
}

/** NDJSON of `{status}` lines, or one `{status: "success"}` object. */
function statusResponse(c: Context, streaming: boolean, steps: string[]): Response {
  if (!streaming) return c.json({ status: 'success' });
  c.header('Content-Type', 'application/x-ndjson');
  return c.body([...steps, 'success'].map((s) => JSON.stringify({ status: s })).join('\n') + '\n');
}

export function modelRoutes(app: Hono, state: ServerState): void {
  const { store, loader } = state;
  const describe = async (m: ModelEntry) => {
    const g = await ggufFacts(m.path, false).catch(() => null);
    return {
      name: m.name,
      model: m.name,
      modified_at: m.modifiedAt.toISOString(),
      size: m.size,
      digest: await store.digest(m),
      details: g ? details(g) : { format: 'gguf' },
    };
  };

  app.get('/api/tags', async (c) => {
    const models = [];
    for (const m of await store.list()) models.push(await describe(m));
    return c.json({ models });
  });

  app.get('/api/ps', async (c) => {
    const models = [];
    for (const m of loader.list()) {
      const e = await store.get(m.name).catch(() => null);
      const d = e ? await describe(e) : { name: m.name, model: m.name, size: 0, digest: '', details: { format: 'gguf' } };
      models.push({
        name: d.name,
        model: d.model,
        size: m.engine.info.memoryBytes,
        digest: d.digest,
        details: d.details,
        expires_at: new Date(Number.isFinite(m.expiresAt) ? m.expiresAt : Date.UTC(2318, 0, 1)).toISOString(),
        size_vram: 0,
        context_length: m.numCtx,
        // Tessera: generation slots (continuous batching): how many, held now, generations waiting for one.
        slots: slotsOf(m.engine),
        backend: backendSummary(m.engine.backendInfo),
      });
    }
    return c.json({ models });
  });

  app.post('/api/show', async (c) => {
    const b = await parseBody(c, showBody);
    const name = (b.model ?? b.name)!;
    const e = await store.get(name);
    const s = await store.settings(name);
    const g = await ggufFacts(e.path, b.verbose ?? false);
    let template = s.template;
    if (template === undefined) {
      const f = await openGguf(e.path);
      const t = f.metadata.get('tokenizer.chat_template');
      template = typeof t === 'string' ? t : '';
    }
    return c.json({
      modelfile: formatModelfile(e.path, s),
      parameters: formatParameters(s.parameters),
      template,
      system: s.system ?? '',
      ...(s.license ? { license: s.license } : {}),
      details: details(g),
      model_info: g.info,
      capabilities: g.embedding ? ['embedding'] : e.projector ? ['completion', 'vision'] : ['completion'],
      modified_at: e.modifiedAt.toISOString(),
    });
  });

  app.post('/api/copy', async (c) => {
    const b = await parseBody(c, copyBody);
    await store.copy(b.source, b.destination);
    return c.body(null, 200);
  });

  app.delete('/api/delete', async (c) => {
    const b = await parseBody(c, deleteBody);
    const name = (b.model ?? b.name)!;
    const e = await store.get(name);
    await loader.unload(e.name);
    await store.remove(name);
    return c.body(null, 200);
  });

  // Hono answers HEAD with the GET route, body dropped.
  app.get('/api/blobs/:digest', async (c) => {
    const d = c.req.param('digest');
    if (!parseDigest(d)) return c.body(null, 400);
    return c.body(null, (await store.hasBlob(d)) ? 200 : 404);
  });

  app.post('/api/blobs/:digest', async (c) => {
    const d = c.req.param('digest');
    if (!parseDigest(d)) throw badRequest(`invalid digest '${d.slice(0, 100)}': expected sha256:<64 lowercase hex>`);
    if (await store.hasBlob(d)) return c.body(null, 200);
    const body = c.req.raw.body;
    if (!body) throw badRequest('missing request body');
    await store.putBlob(d, body);
    return c.body(null, 201);
  });

  app.post('/api/create', async (c) => {
    const b = await parseBody(c, createBody);
    const name = (b.model ?? b.name)!;
    const full = parseModelName(name).full; // validates the name before anything else
    const mf = b.modelfile ? parseModelfile(b.modelfile) : {};
    let settings: ModelSettings = {};
    let source: string | undefined;
    let projector: string | undefined;
    const steps: string[] = [];

    const files = Object.entries(b.files ?? {});
    if (files.length) {
      // A vision projector (an mmproj GGUF: general.architecture "clip") may come beside the model, as Ollama takes it.
      const ggufs: [string, string][] = [];
      for (const [f, digest] of files.filter(([f]) => f.endsWith('.gguf'))) {
        const path = await store.blobFile(digest);
        if ((await openGguf(path)).metadata.get('general.architecture') === 'clip') {
          if (projector) throw badRequest('files: more than one projector (clip) .gguf file');
          projector = path;
          steps.push(`using projector blob ${digest}`);
        } else ggufs.push([f, digest]);
      }
      if (ggufs.length !== 1) throw badRequest(`files: expected exactly one model .gguf file (and optionally one projector), got ${ggufs.length} (adapters are not supported yet)`);
      source = await store.blobFile(ggufs[0][1]);
      steps.push(`using blob ${ggufs[0][1]}`);
    }
    const from = b.from ?? mf.from;
    if (!source && from) {
      if (isAbsolute(from)) {
        if (!from.endsWith('.gguf')) throw badRequest(`from: '${from}' is not a .gguf file`);
        source = from;
      } else {
        const parent = await store.get(from);
        source = parent.path;
        projector ??= parent.projector;
        settings = await store.settings(from);
      }
      steps.push(`using ${from}`);
    }
    if (!source) throw badRequest("create needs a source: 'from' (a model name or an absolute GGUF path), 'files' (an uploaded blob) or a modelfile with FROM");
    await openGguf(source); // a readable GGUF, or a 4xx naming the problem

    settings = {
      template: b.template ?? mf.template ?? settings.template,
      system: b.system ?? mf.system ?? settings.system,
      license: (Array.isArray(b.license) ? b.license.join('\n\n') : b.license) ?? mf.license ?? settings.license,
      parameters: { ...(settings.parameters ?? {}), ...(mf.parameters ?? {}), ...(b.parameters ?? {}) },
    };
    if (!Object.keys(settings.parameters!).length) delete settings.parameters;
    if (settings.license === undefined) delete settings.license;
    resolveOptions(settings.parameters); // invalid parameters → 400 naming the option

    if (b.quantize) {
      const q = b.quantize.toUpperCase();
      if (!quantTarget(q)) throw badRequest(`quantize: unknown type '${b.quantize}' (one of ${[...QUANT_TARGETS.keys()].join(', ')})`);
      await mkdir(store.dir, { recursive: true });
      const tmp = join(store.dir, `.quantize-${process.pid}-${Date.now()}.gguf`);
      try {
        await quantizeGguf(source, tmp, q);
        steps.push(`quantizing to ${q}`);
        await loader.unload(full);
        await store.install(name, tmp, settings, projector);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw new HttpError(400, 'quantize', `quantize ${q}: ${(e as Error).message}`);
      } finally {
        await rm(tmp, { force: true });
      }
    } else {
      await loader.unload(full);
      await store.install(name, source, settings, projector);
    }
    steps.push('writing manifest');
    return statusResponse(c, b.stream ?? true, steps);
  });

  pullRoute(app, state);
  app.post('/api/push', () => {
    throw notImplemented('push is not supported');
  });
}

function slotsOf(e: Engine): { total: number; in_use: number; queued: number } | undefined {
  const s = e.slotStats();
  return s ? { total: s.slots, in_use: s.active, queued: s.queued } : undefined;
}
