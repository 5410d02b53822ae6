/**
 * Request bodies of Ollama's API (github.com/ollama/ollama api/types.go), as zod schemas. Unknown fields
 * are tolerated (looseObject), as Ollama's JSON decoding ignores them. `options` is checked field by field
 * later by resolveOptions, which names the offending option.
 */
import { z } from 'zod';

const modelName = z.string({ error: 'must be a string' }).min(1, { error: 'model is required' });
const keepAlive = z.union([z.string(), z.number()], { error: 'must be a duration string like "5m" or a number of seconds' }).nullish();
const options = z.record(z.string(), z.unknown(), { error: 'must be an object' }).nullish();
/** "json" or a JSON Schema object; validated by the structured-output engine. */
const format = z.union([z.literal(''), z.literal('json'), z.record(z.string(), z.unknown())], { error: 'must be "json" or a JSON Schema object' }).nullish();
const images = z.array(z.string(), { error: 'must be an array of base64 strings' }).nullish();
const topLogprobs = z.number().int({ error: 'must be an integer' }).min(0, { error: 'must be in 0..20' }).max(20, { error: 'must be in 0..20' }).nullish();

/** Ollama accepts `name` as an old alias of `model`. */
const withModel = <T extends z.ZodRawShape>(shape: T) =>
  z.looseObject({ model: modelName.optional(), name: modelName.optional(), ...shape }).refine((b) => b.model !== undefined || b.name !== undefined, { error: 'model is required', path: ['model'] });

export const generateBody = z.looseObject({
  model: modelName,
  prompt: z.string({ error: 'must be a string' }).nullish(),
  suffix: z.string().nullish(),
  system: z.string({ error: 'must be a string' }).nullish(),
  template: z.string({ error: 'must be a string' }).nullish(),
  context: z.array(z.number().int().min(0), { error: 'must be an array of token ids' }).nullish(),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  raw: z.boolean({ error: 'must be a boolean' }).nullish(),
  format,
  images,
  /** Tags the image cache entries the request makes or uses (Tessera's). */
  session: z.string({ error: 'must be a string' }).nullish(),
  keep_alive: keepAlive,
  options,
  think: z.union([z.boolean(), z.string()]).nullish(),
  logprobs: z.boolean({ error: 'must be a boolean' }).nullish(),
  top_logprobs: topLogprobs,
});

export const chatMessage = z.looseObject({
  role: z.string({ error: 'must be a string' }).min(1, { error: 'role is required' }),
  content: z.string({ error: 'must be a string' }).nullish(),
  images,
  tool_calls: z.array(z.unknown()).nullish(),
});

export const chatBody = z.looseObject({
  model: modelName,
  messages: z.array(chatMessage, { error: 'must be an array of messages' }).nullish(),
  tools: z.array(z.unknown(), { error: 'must be an array' }).nullish(),
  session: z.string({ error: 'must be a string' }).nullish(),
  format,
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  keep_alive: keepAlive,
  options,
  think: z.union([z.boolean(), z.string()]).nullish(),
  logprobs: z.boolean({ error: 'must be a boolean' }).nullish(),
  top_logprobs: topLogprobs,
});

export const embedBody = z.looseObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings' }),
  truncate: z.boolean().nullish(),
  dimensions: z.number().int().min(1).nullish(),
  keep_alive: keepAlive,
  options,
});

export const embeddingsBody = z.looseObject({
  model: modelName,
  prompt: z.string({ error: 'must be a string' }),
  keep_alive: keepAlive,
  options,
});

export const showBody = withModel({ verbose: z.boolean().nullish() });
export const deleteBody = withModel({});

export const copyBody = z.looseObject({
  source: modelName,
  destination: modelName,
});

export const createBody = withModel({
  /** A model name, or an absolute path to a GGUF file on the server. */
  from: z.string().min(1).nullish(),
  /** file name → sha256 digest of an uploaded blob (one .gguf). */
  files: z.record(z.string(), z.string()).nullish(),
  template: z.string().nullish(),
  system: z.string().nullish(),
  /** License text(s), stored as the manifest's license layer (Ollama accepts a string or a list). */
  license: z.union([z.string(), z.array(z.string())]).nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  quantize: z.string().nullish(),
  /** Legacy: a Modelfile text (FROM, TEMPLATE, SYSTEM, PARAMETER). */
  modelfile: z.string().nullish(),
  stream: z.boolean().nullish(),
});
