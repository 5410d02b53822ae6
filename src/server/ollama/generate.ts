/**
 * POST /api/generate and POST /api/chat: one JSON object, or an NDJSON stream (`application/x-ndjson`, one
 * object per line) whose last line has `done: true`, `done_reason` and the statistics in nanoseconds.
 */
import type { Context, Hono } from 'hono';
import { stream } from 'hono/streaming';
import type { ChatMessage, GenerateChunk, TokenLogprob } from '../../engine.ts';
import { IMAGE_MARKER } from '../../engine-images.ts';
import { badRequest } from '../errors.ts';
import { type GenerationInput, type RunningGeneration, startGeneration, tokenPiece } from '../generation.ts';
import { parseKeepAlive } from '../keep-alive.ts';
import type { ServerState } from '../state.ts';
import { parseBody } from '../validate.ts';
import { chatBody, generateBody } from './schemas.ts';

/** keep_alive → ms, or undefined for the server default. @throws HttpError 400 */
export function keepAliveMs(v: string | number | null | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = parseKeepAlive(v);
  if (ms === null) throw badRequest(`keep_alive: expected a duration like "5m", "1h30m" or a number of seconds, got ${JSON.stringify(v)}`);
  return ms;
}

/** `logprobs`/`top_logprobs` → the engine's alternatives count, or undefined for none. */
function logprobCount(logprobs: boolean | null | undefined, top: number | null | undefined): number | undefined {
  if (!logprobs) {
    if (top) throw badRequest('top_logprobs requires logprobs: true');
    return undefined;
  }
  return top ?? 0;
}

type Shape = (text: string) => Record<string, unknown>;

function ollamaLogprobs(run: RunningGeneration, lps: TokenLogprob[]) {
  return lps.map((l) => {
    const p = tokenPiece(run.engine, l.token);
    return {
      token: p.text,
      logprob: l.logprob,
      bytes: p.bytes,
      top_logprobs: l.top.map((t) => {
        const q = tokenPiece(run.engine, t.token);
        return { token: q.text, logprob: t.logprob, bytes: q.bytes };
      }),
    };
  });
}

/** The final object's statistics, in nanoseconds (Ollama's names). */
function finalFields(run: RunningGeneration, t0: number): Record<string, unknown> {
  const s = run.gen.stats;
  return {
    done: true,
    done_reason: run.gen.doneReason === 'length' ? 'length' : 'stop',
    total_duration: Math.round((performance.now() - t0) * 1e6),
    load_duration: run.loadNs,
    prompt_eval_count: s ? s.promptTokens - s.cachedTokens : 0,
    prompt_eval_duration: s?.promptEvalNs ?? 0,
    eval_count: s?.evalCount ?? 0,
    eval_duration: s?.evalNs ?? 0,
  };
}

/** Answers with one object or an NDJSON stream. `extraFinal` adds fields to the final object (e.g. `context`). */
async function respond(c: Context, run: RunningGeneration, streaming: boolean, shape: Shape, t0: number, withLogprobs: boolean, extraFinal: () => Record<string, unknown> = () => ({})): Promise<Response> {
  const head = () => ({ model: run.name, created_at: new Date().toISOString() });
  if (!streaming) {
    let text = '';
    const lps: TokenLogprob[] = [];
    for (let r = await run.next(); !r.done; r = await run.next()) {
      text += r.value.text;
      if (r.value.logprobs) lps.push(...r.value.logprobs);
    }
    return c.json({ ...head(), ...shape(text), ...finalFields(run, t0), ...extraFinal(), ...(withLogprobs ? { logprobs: ollamaLogprobs(run, lps) } : {}) });
  }
  c.header('Content-Type', 'application/x-ndjson');
  return stream(c, async (s) => {
    s.onAbort(() => void run.cancel());
    const line = (ch: GenerateChunk) =>
      JSON.stringify({ ...head(), ...shape(ch.text), done: false, ...(ch.logprobs ? { logprobs: ollamaLogprobs(run, ch.logprobs) } : {}) }) + '\n';
    try {
      for (let r = await run.next(); !r.done; r = await run.next()) {
        if (r.value.text || r.value.logprobs) await s.write(line(r.value));
        if (s.aborted) break;
      }
      if (!s.aborted) await s.write(JSON.stringify({ ...head(), ...shape(''), ...finalFields(run, t0), ...extraFinal() }) + '\n');
    } catch (e) {
      // Headers are sent: report the error as a last line, as Ollama does.
      await s.write(JSON.stringify({ error: (e as Error).message }) + '\n');
    } finally {
      await run.cancel();
    }
  });
}

export function generateRoutes(app: Hono, state: ServerState): void {
  app.post('/api/generate', async (c) => {
    const t0 = performance.now();
    const b = await parseBody(c, generateBody);
    const keepAlive = keepAliveMs(b.keep_alive);
    const head = () => ({ model: b.model, created_at: new Date().toISOString() });
    if (!b.prompt && !b.context?.length && !b.suffix) {
      // Empty prompt: load (or, with keep_alive 0, unload) the model, as Ollama does.
      if (keepAlive === 0) {
        await state.loader.unload((await state.store.get(b.model)).name);
        return c.json({ ...head(), response: '', done: true, done_reason: 'unload' });
      }
      const loadNs = await state.loader.preload(b.model, keepAlive);
      return c.json({ ...head(), response: '', done: true, done_reason: 'load', load_duration: loadNs, total_duration: Math.round((performance.now() - t0) * 1e6) });
    }
    if (b.suffix) throw badRequest('suffix (fill-in-the-middle) is not supported yet');
    const input: GenerationInput = {
      model: b.model,
      prompt: b.prompt ?? '',
      system: b.system ?? undefined,
      template: b.template ?? undefined,
      raw: b.raw ?? false,
      context: b.context ?? undefined,
      images: b.images ?? undefined,
      session: b.session ?? undefined,
      options: b.options ?? undefined,
      keepAliveMs: keepAlive,
      logprobs: logprobCount(b.logprobs, b.top_logprobs),
      format: b.format ?? undefined,
      signal: c.req.raw.signal,
    };
    const run = await startGeneration(state, input);
    return respond(c, run, b.stream ?? true, (text) => ({ response: text }), t0, input.logprobs !== undefined, () => ({ context: run.promptTokens.concat(run.tokens) }));
  });

  app.post('/api/chat', async (c) => {
    const t0 = performance.now();
    const b = await parseBody(c, chatBody);
    const keepAlive = keepAliveMs(b.keep_alive);
    // A message's images go before its text (IMAGE_MARKER, replaced by the image's blocks after the template).
    const messages: ChatMessage[] = (b.messages ?? []).map((m) => ({ role: m.role, content: IMAGE_MARKER.repeat(m.images?.length ?? 0) + (m.content ?? '') }));
    if (messages.length === 0) {
      const head = { model: b.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done: true };
      if (keepAlive === 0) {
        await state.loader.unload((await state.store.get(b.model)).name);
        return c.json({ ...head, done_reason: 'unload' });
      }
      const loadNs = await state.loader.preload(b.model, keepAlive);
      return c.json({ ...head, done_reason: 'load', load_duration: loadNs });
    }
    const images = (b.messages ?? []).flatMap((m) => m.images ?? []);
    const input: GenerationInput = {
      model: b.model,
      messages,
      images,
      session: b.session ?? undefined,
      options: b.options ?? undefined,
      keepAliveMs: keepAlive,
      logprobs: logprobCount(b.logprobs, b.top_logprobs),
      format: b.format ?? undefined,
      tools: b.tools ?? undefined,
      signal: c.req.raw.signal,
    };
    const run = await startGeneration(state, input);
    // A tool call (src/grammar/tools.ts) goes in the final message as Ollama's `tool_calls`.
    const calls = (): Record<string, unknown> => {
      const tc = run.toolCalls();
      if (tc) return { message: { role: 'assistant', content: '', tool_calls: tc.map((t) => ({ function: { name: t.name, arguments: t.arguments } })) } };
      const held = run.heldText();
      return held ? { message: { role: 'assistant', content: held } } : {};
    };
    return respond(c, run, b.stream ?? true, (text) => ({ message: { role: 'assistant', content: text } }), t0, input.logprobs !== undefined, calls);
  });
}
