/**
 * Request bodies of OpenAI's API (platform.openai.com/docs/api-reference) as zod schemas; unknown fields are
 * tolerated, as OpenAI-compatible servers do. Tessera's extension: `options`, Ollama's options object
 * (num_ctx, top_k, repeat_penalty, …), applied under the OpenAI fields.
 */
import { z } from 'zod';

const model = z.string({ error: 'must be a string' }).min(1, { error: 'model is required' });
const options = z.record(z.string(), z.unknown(), { error: 'must be an object' }).nullish();
const stop = z.union([z.string(), z.array(z.string()).max(16, { error: 'at most 16 stop sequences' })], { error: 'must be a string or an array of strings' }).nullish();
const num = (min: number, max: number) => z.number({ error: 'must be a number' }).min(min, { error: `must be in [${min}, ${max}]` }).max(max, { error: `must be in [${min}, ${max}]` }).nullish();
const posInt = z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).min(1, { error: 'must be ≥ 1' }).nullish();

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
export const openaiMessage = z.looseObject({
  role: z.string({ error: 'must be a string' }).min(1),
  content: z.union([z.string(), z.array(contentPart)], { error: 'must be a string or an array of content parts' }).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(z.unknown()).nullish(),
  tool_call_id: z.string().nullish(),
});

/** Fields shared by chat and text completions. */
const sampling = {
  model,
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: posInt,
  temperature: num(0, 2),
  top_p: num(0, 1),
  frequency_penalty: num(-2, 2),
  presence_penalty: num(-2, 2),
  seed: z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).nullish(),
  stop,
  n: z.number().int().nullish(),
  user: z.string().nullish(),
  keep_alive: z.union([z.string(), z.number()]).nullish(),
  options,
};

export const chatCompletionBody = z.looseObject({
  ...sampling,
  messages: z.array(openaiMessage, { error: 'must be an array of messages' }).min(1, { error: 'must contain at least one message' }),
  max_completion_tokens: posInt,
  logprobs: z.boolean({ error: 'must be a boolean' }).nullish(),
  top_logprobs: z.number({ error: 'must be an integer' }).int().min(0, { error: 'must be in 0..20' }).max(20, { error: 'must be in 0..20' }).nullish(),
  response_format: z
    .looseObject({
      type: z.enum(['text', 'json_object', 'json_schema'], { error: 'type must be text, json_object or json_schema' }),
      json_schema: z.looseObject({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullish() }).optional(),
    })
    .nullish(),
  tools: z.array(z.unknown(), { error: 'must be an array' }).nullish(),
  tool_choice: z.unknown().optional(),
});

export const completionBody = z.looseObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1, { error: 'only one prompt per request is supported' })], { error: 'must be a string' }),
  suffix: z.string().nullish(),
  echo: z.boolean().nullish(),
  logprobs: z.number({ error: 'must be an integer in 0..5' }).int().min(0).max(5, { error: 'must be in 0..5' }).nullish(),
});

export const embeddingsBody = z.looseObject({
  model,
  input: z.union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings (token arrays are not supported)' }),
  encoding_format: z.enum(['float', 'base64'], { error: 'must be float or base64' }).nullish(),
  dimensions: posInt,
  user: z.string().nullish(),
});
