/**
 * Generation options, with Ollama's names and defaults (DESIGN.md §6).
 *
 * `generateOptionsSchema` validates a caller's partial options (route boundary, library API);
 * `resolveOptions` fills in the defaults and turns validation failures into a `ValidationError`
 * whose message names the offending field. Unknown fields are accepted and dropped, as Ollama
 * ignores them (list them with `unknownOptionKeys` to warn).
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** Every option with its value filled in. */
export interface ResolvedOptions {
  /** Softmax temperature; ≤ 0 (only 0 is valid input) selects greedy argmax. */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 disables. */
  readonly top_k: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches p; 1 disables. */
  readonly top_p: number;
  /** Drop tokens whose probability is below min_p × the top token's; 0 disables. */
  readonly min_p: number;
  /** Locally typical sampling mass; 1 disables. */
  readonly typical_p: number;
  /** Penalty window in tokens: 0 disables penalties, −1 means num_ctx. */
  readonly repeat_last_n: number;
  /** llama.cpp repetition penalty: logit > 0 ? logit / r : logit · r; 1 disables. */
  readonly repeat_penalty: number;
  /** Subtracted once from the logit of every token present in the window. */
  readonly presence_penalty: number;
  /** Subtracted from a token's logit once per occurrence in the window. */
  readonly frequency_penalty: number;
  /** PRNG seed; −1 draws a random seed. */
  readonly seed: number;
  /** Tokens to generate: −1 until EOS or the context is full, −2 fill the context. */
  readonly num_predict: number;
  /** Prompt tokens kept when the context is shifted; −1 keeps the whole prompt. */
  readonly num_keep: number;
  /** Context window in tokens. */
  readonly num_ctx: number;
  /** Prompt-processing batch size in tokens. */
  readonly num_batch: number;
  /** Stop strings; generation ends before the first occurrence of any of them. */
  readonly stop: readonly string[];
}

/** Ollama's defaults. num_ctx: 2048 (Ollama's long-time default; newer Ollama picks 4096+ by VRAM). */
export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  temperature: 0.8,
  top_k: 40,
  top_p: 0.9,
  min_p: 0,
  typical_p: 1,
  repeat_last_n: 64,
  repeat_penalty: 1.0,
  presence_penalty: 0,
  frequency_penalty: 0,
  seed: -1,
  num_predict: -1,
  num_keep: 4,
  num_ctx: 2048,
  num_batch: 512,
  stop: Object.freeze([]) as readonly string[],
});

const FINITE = 'must be a finite number';
const INTEGER = 'must be an integer';

/** A finite number; `null` is accepted and means "use the default" (OpenAI clients send nulls). */
const finite = () => z.number({ error: FINITE });
const integer = () => z.number({ error: FINITE }).int({ error: INTEGER });
const unit = () => finite().min(0, { error: 'must be in [0, 1]' }).max(1, { error: 'must be in [0, 1]' });

const kvTypeField = () => z.enum(['f16', 'q8_0', 'q4_0', 'f32'], { error: 'must be one of f16, q8_0, q4_0, f32' }).nullish();

/**
 * Schema of the options a caller may pass. Every field is optional and nullable; unknown fields
 * are stripped. Output is partial: use `resolveOptions` to get a `ResolvedOptions`.
 */
export const generateOptionsSchema = z.object({
  temperature: finite().min(0, { error: 'must be ≥ 0' }).nullish(),
  top_k: integer().min(0, { error: 'must be ≥ 0 (0 disables)' }).nullish(),
  top_p: unit().nullish(),
  min_p: unit().nullish(),
  typical_p: unit().nullish(),
  repeat_last_n: integer().min(-1, { error: 'must be ≥ -1 (-1 = num_ctx, 0 disables)' }).nullish(),
  repeat_penalty: finite().gt(0, { error: 'must be > 0 (1 disables)' }).nullish(),
  presence_penalty: finite().nullish(),
  frequency_penalty: finite().nullish(),
  seed: integer().min(-1, { error: 'must be ≥ -1 (-1 = random)' }).nullish(),
  num_predict: integer().min(-2, { error: 'must be ≥ -2 (-1 = until EOS, -2 = fill context)' }).nullish(),
  num_keep: integer().min(-1, { error: 'must be ≥ -1 (-1 = whole prompt)' }).nullish(),
  num_ctx: integer().min(1, { error: 'must be ≥ 1' }).nullish(),
  num_batch: integer().min(1, { error: 'must be ≥ 1' }).nullish(),
  /** KV cache element type of this request, for K and V, or each (src/kv/kv-type.ts; read by the engine). */
  kv_type: kvTypeField(),
  kv_type_k: kvTypeField(),
  kv_type_v: kvTypeField(),
  /** A string or a list of strings (OpenAI accepts both); empty strings are dropped. */
  stop: z
    .union([z.string(), z.array(z.string({ error: 'must contain only strings' }))], {
      error: 'must be a string or an array of strings',
    })
    .nullish(),
});

/** What a caller may pass: any subset of the options (plus unknown fields, which are ignored). */
export type GenerateOptions = z.input<typeof generateOptionsSchema>;

const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.keys(generateOptionsSchema.shape));

/** Keys of `input` that are not generation options (Ollama ignores them; callers may warn). */
export function unknownOptionKeys(input: unknown): string[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return [];
  return Object.keys(input).filter((k) => !KNOWN_KEYS.has(k));
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value); // JSON.stringify turns NaN into null
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * Validate `partial` and fill in the defaults.
 * `undefined`/`null` give the defaults; anything else must be an object.
 * @throws ValidationError naming the field, e.g. `invalid option "top_p": must be in [0, 1] (got 1.5)`.
 * @example resolveOptions({ temperature: 0, stop: ['\n'] }).top_k // 40
 */
export function resolveOptions(partial: unknown): ResolvedOptions {
  if (partial === undefined || partial === null) return DEFAULT_OPTIONS;
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new ValidationError(`options must be an object (got ${describe(partial)})`);
  }
  const parsed = generateOptionsSchema.safeParse(partial);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.');
    throw new ValidationError(
      `invalid option "${field}": ${issue.message} (got ${describe(valueAt(partial, issue.path.slice(0, 1)))})`,
    );
  }
  const p = parsed.data;
  const stop = p.stop == null ? DEFAULT_OPTIONS.stop : (typeof p.stop === 'string' ? [p.stop] : p.stop).filter((s) => s.length > 0);
  return Object.freeze({
    temperature: p.temperature ?? DEFAULT_OPTIONS.temperature,
    top_k: p.top_k ?? DEFAULT_OPTIONS.top_k,
    top_p: p.top_p ?? DEFAULT_OPTIONS.top_p,
    min_p: p.min_p ?? DEFAULT_OPTIONS.min_p,
    typical_p: p.typical_p ?? DEFAULT_OPTIONS.typical_p,
    repeat_last_n: p.repeat_last_n ?? DEFAULT_OPTIONS.repeat_last_n,
    repeat_penalty: p.repeat_penalty ?? DEFAULT_OPTIONS.repeat_penalty,
    presence_penalty: p.presence_penalty ?? DEFAULT_OPTIONS.presence_penalty,
    frequency_penalty: p.frequency_penalty ?? DEFAULT_OPTIONS.frequency_penalty,
    seed: p.seed ?? DEFAULT_OPTIONS.seed,
    num_predict: p.num_predict ?? DEFAULT_OPTIONS.num_predict,
    num_keep: p.num_keep ?? DEFAULT_OPTIONS.num_keep,
    num_ctx: p.num_ctx ?? DEFAULT_OPTIONS.num_ctx,
    num_batch: p.num_batch ?? DEFAULT_OPTIONS.num_batch,
    stop: Object.freeze(stop.slice()),
  });
}
