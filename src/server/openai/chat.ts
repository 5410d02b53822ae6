/**
 * POST /v1/chat/completions and POST /v1/completions: one JSON object, or Server-Sent Events
 * (`data: {chunk}\n\n` … `data: [DONE]\n\n`), with logprobs, usage (stream_options.include_usage) and
 * Ollama options through the extra `options` field.
 */
import { imageUrlInput } from '../images.ts';
import { IMAGE_MARKER } from '../../engine-images.ts';
import type { Context, Hono } from 'hono';
import { stream } from 'hono/streaming';
import type { ToolChoice } from '../../grammar/index.ts';
import type { ChatMessage, TokenLogprob } from '../../engine.ts';
import { badRequest } from '../errors.ts';
import { type GenerationInput, type RunningGeneration, startGeneration, tokenPiece } from '../generation.ts';
import { keepAliveMs } from '../ollama/generate.ts';
import type { ServerState } from '../state.ts';
import { parseBody } from '../validate.ts';
import { chatCompletionBody, completionBody } from './schemas.ts';

type Sampling = {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  options?: Record<string, unknown> | null;
};

/** OpenAI fields → Ollama options, over the request's `options`. */
function toOptions(b: Sampling, maxTokens: number | null | undefined): Record<string, unknown> {
  if (b.n != null && b.n !== 1) throw badRequest('n: only n=1 is supported');
  const o: Record<string, unknown> = { ...(b.options ?? {}) };
  if (maxTokens != null) o.num_predict = maxTokens;
  if (b.temperature != null) o.temperature = b.temperature;
  if (b.top_p != null) o.top_p = b.top_p;
  if (b.frequency_penalty != null) o.frequency_penalty = b.frequency_penalty;
  if (b.presence_penalty != null) o.presence_penalty = b.presence_penalty;
  if (b.seed != null) o.seed = b.seed;
  if (b.stop != null) o.stop = b.stop;
  return o;
}

/** Message content: a string, or text parts joined; image parts (base64, or a URL to fetch) go to `images`, an IMAGE_MARKER where each was. */
function contentText(content: string | { type: string; text?: string; image_url?: unknown }[] | null | undefined, images: (string | { url: string })[], where: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  let s = '';
  content.forEach((p, j) => {
    if (p.type === 'text') s += p.text ?? '';
    else if (p.type === 'image_url' || p.type === 'input_image') {
      const u = p.image_url as { url?: unknown } | string | undefined;
      const url = typeof u === 'string' ? u : u?.url;
      if (typeof url !== 'string') throw badRequest(`${where}.content[${j}].image_url.url: expected a string`);
      images.push(imageUrlInput(url, `${where}.content[${j}].image_url`));
      s += IMAGE_MARKER;
    } else throw badRequest(`content part type '${p.type}' is not supported`);
  });
  return s;
}

const finishReason = (run: RunningGeneration) => (run.gen.doneReason === 'length' ? 'length' : 'stop');

function usage(run: RunningGeneration) {
  const s = run.gen.stats;
  const prompt = s?.promptTokens ?? run.promptTokens.length;
  const completion = s?.evalCount ?? run.tokens.length;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: s?.cachedTokens ?? 0 } };
}

/** Chat logprobs: `{ content: [{ token, logprob, bytes, top_logprobs: [...] }] }`. */
function chatLogprobs(run: RunningGeneration, lps: TokenLogprob[]) {
  return {
    content: lps.map((l) => {
      const p = tokenPiece(run.engine, l.token);
      return { token: p.text, logprob: l.logprob, bytes: p.bytes, top_logprobs: l.top.map((t) => ({ token: tokenPiece(run.engine, t.token).text, logprob: t.logprob, bytes: tokenPiece(run.engine, t.token).bytes })) };
    }),
  };
}

/** Legacy completions logprobs: parallel arrays. */
function completionLogprobs(run: RunningGeneration, lps: TokenLogprob[], textOffset: number) {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const top: Record<string, number>[] = [];
  const offsets: number[] = [];
  let off = textOffset;
  for (const l of lps) {
    const t = tokenPiece(run.engine, l.token).text;
    tokens.push(t);
    tokenLogprobs.push(l.logprob);
    top.push(Object.fromEntries(l.top.map((a) => [tokenPiece(run.engine, a.token).text, a.logprob])));
    offsets.push(off);
    off += t.length;
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets };
}

const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;

function sse(c: Context, run: RunningGeneration, body: (s: { write(obj: unknown): Promise<void>; aborted: () => boolean }) => Promise<void>): Response {
  c.header('Content-Type', 'text/event-stream');
  c.header('Cache-Control', 'no-cache');
  return stream(c, async (s) => {
    s.onAbort(() => void run.cancel());
    try {
      await body({ write: (obj) => s.write(`data: ${JSON.stringify(obj)}\n\n`).then(() => {}), aborted: () => s.aborted });
      if (!s.aborted) await s.write('data: [DONE]\n\n');
    } catch (e) {
      await s.write(`data: ${JSON.stringify({ error: { message: (e as Error).message, type: 'server_error', param: null, code: null } })}\n\n`);
    } finally {
      await run.cancel();
    }
  });
}

export function chatCompletionRoutes(app: Hono, state: ServerState): void {
  app.post('/v1/chat/completions', async (c) => {
    const b = await parseBody(c, chatCompletionBody);
    const images: (string | { url: string })[] = [];
    const messages: ChatMessage[] = b.messages.map((m, i) => ({ role: m.role, content: contentText(m.content as Parameters<typeof contentText>[0], images, `messages[${i}]`) }));
    const rf = b.response_format;
    const format = rf?.type === 'json_object' ? 'json' : rf?.type === 'json_schema' ? (rf.json_schema?.schema ?? badRequestThrow('response_format.json_schema.schema is required')) : undefined;
    const topLp = b.logprobs ? (b.top_logprobs ?? 0) : undefined;
    if (!b.logprobs && b.top_logprobs) throw badRequest('top_logprobs requires logprobs: true');
    const input: GenerationInput = {
      model: b.model,
      messages,
      images,
      session: b.user ? b.user.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) : undefined, // image cache sessions are [A-Za-z0-9._-]{1,100}
      options: toOptions(b, b.max_completion_tokens ?? b.max_tokens),
      keepAliveMs: keepAliveMs(b.keep_alive),
      logprobs: topLp,
      format,
      ...toolSelection(b.tools ?? undefined, b.tool_choice),
      signal: c.req.raw.signal,
    };
    const run = await startGeneration(state, input);
    const id = newId('chatcmpl');
    /** OpenAI's tool_calls (arguments as a JSON string), or null when the model answered with text. */
    const openaiCalls = () =>
      run.toolCalls()?.map((t, i) => ({ index: i, id: newId('call'), type: 'function', function: { name: t.name, arguments: JSON.stringify(t.arguments) } })) ?? null;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, created, model: run.name, system_fingerprint: 'tessera' };
    if (!b.stream) {
      let text = '';
      const lps: TokenLogprob[] = [];
      for (let r = await run.next(); !r.done; r = await run.next()) {
        text += r.value.text;
        if (r.value.logprobs) lps.push(...r.value.logprobs);
      }
      const calls = openaiCalls();
      const message = calls
        ? { role: 'assistant', content: null, tool_calls: calls.map(({ index: _i, ...call }) => call) }
        : { role: 'assistant', content: text + run.heldText() };
      return c.json({
        ...head,
        object: 'chat.completion',
        choices: [{ index: 0, message, logprobs: topLp === undefined ? null : chatLogprobs(run, lps), finish_reason: calls ? 'tool_calls' : finishReason(run) }],
        usage: usage(run),
      });
    }
    const includeUsage = b.stream_options?.include_usage === true;
    return sse(c, run, async (s) => {
      const chunk = (delta: Record<string, unknown>, lps: TokenLogprob[] | undefined, finish: string | null) => ({
        ...head,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, logprobs: lps ? chatLogprobs(run, lps) : null, finish_reason: finish }],
        ...(includeUsage ? { usage: null } : {}),
      });
      await s.write(chunk({ role: 'assistant', content: '' }, undefined, null));
      for (let r = await run.next(); !r.done; r = await run.next()) {
        if (r.value.text || r.value.logprobs) await s.write(chunk({ content: r.value.text }, r.value.logprobs, null));
        if (s.aborted()) return;
      }
      const calls = openaiCalls();
      if (calls) await s.write(chunk({ tool_calls: calls }, undefined, null));
      else if (run.heldText()) await s.write(chunk({ content: run.heldText() }, undefined, null));
      await s.write(chunk({}, undefined, calls ? 'tool_calls' : finishReason(run)));
      if (includeUsage) await s.write({ ...head, object: 'chat.completion.chunk', choices: [], usage: usage(run) });
    });
  });

  app.post('/v1/completions', async (c) => {
    const b = await parseBody(c, completionBody);
    if (b.echo) throw badRequest('echo is not supported');
    if (b.suffix) throw badRequest('suffix is not supported');
    const prompt = typeof b.prompt === 'string' ? b.prompt : b.prompt[0];
    if (prompt === '') throw badRequest('prompt: must not be empty');
    const topLp = b.logprobs ?? undefined;
    const input: GenerationInput = {
      model: b.model,
      prompt,
      raw: true, // a text completion continues the prompt as written, with no chat template
      options: toOptions(b, b.max_tokens),
      keepAliveMs: keepAliveMs(b.keep_alive),
      logprobs: topLp,
      signal: c.req.raw.signal,
    };
    const run = await startGeneration(state, input);
    const head = { id: newId('cmpl'), created: Math.floor(Date.now() / 1000), model: run.name, system_fingerprint: 'tessera' };
    if (!b.stream) {
      let text = '';
      const lps: TokenLogprob[] = [];
      for (let r = await run.next(); !r.done; r = await run.next()) {
        text += r.value.text;
        if (r.value.logprobs) lps.push(...r.value.logprobs);
      }
      return c.json({
        ...head,
        object: 'text_completion',
        choices: [{ index: 0, text, logprobs: topLp === undefined ? null : completionLogprobs(run, lps, 0), finish_reason: finishReason(run) }],
        usage: usage(run),
      });
    }
    const includeUsage = b.stream_options?.include_usage === true;
    return sse(c, run, async (s) => {
      let offset = 0;
      for (let r = await run.next(); !r.done; r = await run.next()) {
        if (r.value.text || r.value.logprobs) {
          const lp = r.value.logprobs ? completionLogprobs(run, r.value.logprobs, offset) : null;
          await s.write({ ...head, object: 'text_completion', choices: [{ index: 0, text: r.value.text, logprobs: lp, finish_reason: null }] });
          offset += r.value.text.length;
        }
        if (s.aborted()) return;
      }
      await s.write({ ...head, object: 'text_completion', choices: [{ index: 0, text: '', logprobs: null, finish_reason: finishReason(run) }] });
      if (includeUsage) await s.write({ ...head, object: 'text_completion', choices: [], usage: usage(run) });
    });
  });
}

/** OpenAI's `tool_choice` → the engine's tools and choice: "auto" | "none" | "required" | {type: "function", function: {name}}. */
function toolSelection(tools: unknown[] | undefined, choice: unknown): { tools?: unknown[]; toolChoice?: ToolChoice } {
  if (choice === undefined || choice === null || choice === 'auto') return { tools };
  if (choice === 'none' || choice === 'required') return { tools, toolChoice: choice };
  const name = (choice as { function?: { name?: unknown } })?.function?.name;
  if (typeof name !== 'string') throw badRequest('tool_choice: expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}}');
  const picked = (tools ?? []).filter((t) => (t as { function?: { name?: unknown } })?.function?.name === name);
  if (picked.length === 0) throw badRequest(`tool_choice: no tool named '${name}' in tools`);
  return { tools: picked, toolChoice: 'required' };
}

function badRequestThrow(message: string): never {
  throw badRequest(message);
}
