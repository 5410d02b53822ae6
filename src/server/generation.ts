/**
 * One generation request, shared by the Ollama and OpenAI routes: admission, the model's stored settings
 * under the request's, load (with num_ctx), prompt construction (chat template, Ollama template, raw,
 * context), then the engine's token stream with its statistics.
 */
import { IMAGE_MARKER } from '../engine-images.ts';
import { requestImageBytes } from './image-fetch.ts';
import { checkImageBytes, noVision } from './images.ts';
import type { ChatMessage, Engine, GenerateChunk, Generation } from '../engine.ts';
import type { OutputFormat, ToolCall, ToolChoice, ToolDefinition } from '../grammar/index.ts';
import { resolveOptions } from '../sampling/options.ts';
import { HttpError } from './errors.ts';
import type { Lease } from './loader.ts';
import type { ServerState } from './state.ts';
import { renderMessages } from './template.ts';

export interface GenerationInput {
  model: string;
  /** /api/generate, /v1/completions: the prompt text. */
  prompt?: string;
  /** /api/chat, /v1/chat/completions. */
  messages?: ChatMessage[];
  system?: string;
  template?: string;
  raw?: boolean;
  /** Token ids from a previous /api/generate answer, put before the new prompt. */
  context?: number[];
  /** Base64 strings, or `{ url }` (remote, fetched when enabled). Chat messages carry an IMAGE_MARKER per image. */
  images?: unknown[];
  /** Tags the image cache entries (Ollama body `session`, OpenAI `user`); default 'default'. */
  session?: string;
  options?: Record<string, unknown>;
  keepAliveMs?: number;
  /** Alternatives per token for logprobs (0..20); undefined: no logprobs. */
  logprobs?: number;
  /** JSON Schema object or 'json' (Ollama's format; OpenAI's response_format is mapped to it). */
  format?: unknown;
  tools?: unknown[];
  /** "auto" (default), "required" or "none"; OpenAI's `{type: 'function', function: {name}}` is mapped to "required" over that tool. */
  toolChoice?: ToolChoice;
  signal: AbortSignal;
}

export interface RunningGeneration {
  /** `model:tag`. */
  name: string;
  engine: Engine;
  gen: Generation;
  loadNs: number;
  promptTokens: number[];
  /** Generated token ids so far (for Ollama's `context`). */
  tokens: number[];
  /** Next chunk; the first one is already pulled, so errors before output become a status. */
  next(): Promise<IteratorResult<GenerateChunk>>;
  /** Stops early (client gone) and frees the model. Idempotent. */
  cancel(): Promise<void>;
  /**
   * With tools: once the generation is over, the call the model made (null: it answered with text). While a call is
   * being generated its text is not streamed (chunks carry '' instead); `heldText()` gives it back when it did not
   * parse as a call (e.g. cut by num_predict), so nothing is lost.
   */
  toolCalls(): ToolCall[] | null;
  heldText(): string;
}

/** The prompt's text (chat template, Ollama template or raw). */
function buildPromptText(engine: Engine, input: GenerationInput, template: string | undefined, system: string | undefined): string {
  const tk = engine.tokenizer;
  const specials = { bos: tk.bos !== null ? tk.tokenText(tk.bos) : '', eos: tk.eos !== null ? tk.tokenText(tk.eos) : '' };
  let text: string;
  if (input.messages) {
    const messages = input.messages.slice();
    if (system && !messages.some((m) => m.role === 'system')) messages.unshift({ role: 'system', content: system });
    text = template ? renderMessages(template, messages, specials) : engine.renderTemplate(messages, input.tools as ToolDefinition[] | undefined);
  } else {
    const prompt = input.prompt ?? '';
    if (input.raw) text = prompt;
    else {
      const messages: ChatMessage[] = system ? [{ role: 'system', content: system }, { role: 'user', content: prompt }] : [{ role: 'user', content: prompt }];
      text = template ? renderMessages(template, messages, specials) : engine.info.chatTemplate ? engine.renderTemplate(messages) : prompt;
    }
  }
  return text;
}

/** The prompt's token ids. */
function buildPrompt(engine: Engine, input: GenerationInput, template: string | undefined, system: string | undefined): number[] {
  const tk = engine.tokenizer;
  const text = buildPromptText(engine, input, template, system);
  const context = input.context ?? [];
  const ids = tk.encode(text, { addSpecial: context.length === 0, parseSpecial: true });
  return context.length ? context.concat(ids) : ids;
}

/**
 * Starts a generation and pulls its first chunk. Everything that can fail before output (validation,
 * unknown model, load, template, context too long) throws here, so the route can answer with a status.
 */
export async function startGeneration(state: ServerState, input: GenerationInput): Promise<RunningGeneration> {
  let images: Uint8Array[] | null = null;
  if (input.images?.length) {
    // Bytes (base64, or fetched when enabled) before anything loads; a model without a projector checks them and refuses.
    images = await requestImageBytes(input.images);
    if (!(await state.store.get(input.model)).projector) {
      await checkImageBytes(images);
      throw noVision(input.model);
    }
    if (input.context?.length) throw new HttpError(400, 'invalid_request', 'context (token ids of an earlier answer) cannot be combined with images: send the conversation as /api/chat messages');
    if (input.prompt !== undefined && !input.prompt.includes(IMAGE_MARKER)) input = { ...input, prompt: IMAGE_MARKER.repeat(images.length) + input.prompt };
  }
  const leave = state.admission.enter();
  let lease: Lease | null = null;
  const finish = () => {
    if (lease) state.loader.release(lease, input.keepAliveMs);
    lease = null;
    leave();
  };
  try {
    const settings = await state.store.settings(input.model);
    const options = { ...(settings.parameters ?? {}), ...(input.options ?? {}) };
    const resolved = resolveOptions(options); // 400 with the field's name before anything loads
    const numCtx = options.num_ctx == null ? undefined : resolved.num_ctx;
    lease = await state.loader.acquire(input.model, numCtx);
    const engine = lease.model.engine;
    // With images the engine tokenizes the text and lays the images out (the context check is its: "more images than the context fits").
    const promptTokens = images ? [] : buildPrompt(engine, input, input.template || settings.template, input.system ?? settings.system);
    if (promptTokens.length >= engine.info.nCtx) {
      throw new HttpError(400, 'context_too_long', `the prompt is ${promptTokens.length} tokens, the context (num_ctx) is ${engine.info.nCtx}: shorten it or raise num_ctx`);
    }
    const gen = engine.generate({
      prompt: images ? buildPromptText(engine, input, input.template || settings.template, input.system ?? settings.system) : promptTokens,
      raw: true, options, signal: input.signal, logprobs: input.logprobs,
      format: input.format as OutputFormat | undefined, tools: input.tools as ToolDefinition[] | undefined, toolChoice: input.toolChoice,
      ...(images ? { images, session: input.session ?? 'default' } : {}),
    });
    const iter = gen[Symbol.asyncIterator]();
    const tokens: number[] = [];
    let done = false;
    // Tools in "auto"/"required": an answer starting with '{' is a call (src/grammar/tools.ts); hold its text back.
    const withTools = (input.tools?.length ?? 0) > 0 && input.toolChoice !== 'none';
    let callMode: boolean | undefined;
    let held = '';
    const pull = async (): Promise<IteratorResult<GenerateChunk>> => {
      try {
        const r = await iter.next();
        if (r.done) {
          if (!done) account(state, gen);
          done = true;
          finish();
        } else {
          if (r.value.token >= 0) tokens.push(r.value.token);
          if (withTools && r.value.text) {
            callMode ??= r.value.text.startsWith('{');
            if (callMode) {
              held += r.value.text;
              return { done: false, value: { ...r.value, text: '' } };
            }
          }
        }
        return r;
      } catch (e) {
        done = true;
        finish();
        throw e;
      }
    };
    const first = await pull();
    let firstTaken = false;
    return {
      name: lease.model.name,
      engine,
      gen,
      loadNs: lease.loadNs,
      promptTokens,
      tokens,
      next: () => {
        if (!firstTaken) {
          firstTaken = true;
          return Promise.resolve(first);
        }
        return done ? Promise.resolve({ done: true, value: undefined }) : pull();
      },
      toolCalls: () => (done && callMode ? gen.toolCalls : null),
      heldText: () => (done && callMode && !gen.toolCalls ? held : ''),
      cancel: async () => {
        if (!done) {
          done = true;
          await iter.return?.(undefined);
          state.metrics.inc('tessera_generated_tokens_total', 'Tokens generated.', {}, tokens.length);
          state.metrics.inc('tessera_generations_total', 'Finished generations by done reason.', { reason: 'cancelled' });
          finish();
        }
      },
    };
  } catch (e) {
    finish();
    throw e;
  }
}

function account(state: ServerState, gen: Generation): void {
  const s = gen.stats;
  if (!s) return;
  const m = state.metrics;
  m.inc('tessera_prompt_tokens_total', 'Prompt tokens of finished generations.', {}, s.promptTokens);
  m.inc('tessera_prompt_cached_tokens_total', 'Prompt tokens served from the KV cache (prefix hits).', {}, s.cachedTokens);
  m.inc('tessera_generated_tokens_total', 'Tokens generated.', {}, s.evalCount);
  m.inc('tessera_generations_total', 'Finished generations by done reason.', { reason: gen.doneReason ?? 'unknown' });
}

/** Text of a token for logprobs (lossy UTF-8 for partial characters) and its bytes. */
export function tokenPiece(engine: Engine, id: number): { text: string; bytes: number[] } {
  const b = engine.tokenizer.tokenBytes(id);
  return { text: decoder.decode(b), bytes: Array.from(b) };
}

const decoder = new TextDecoder();
