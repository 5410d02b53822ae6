/**
 * Chat templates: the GGUF's `tokenizer.chat_template` (Jinja) rendered with @huggingface/jinja, given the
 * variables transformers' apply_chat_template passes (messages, add_generation_prompt, bos_token, eos_token,
 * tools) and its helpers (raise_exception, strftime_now — provided by the Template runtime).
 */
import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors.ts';

/** A chat message; extra fields (tool_calls, reasoning_content, …) reach the template unchanged. */
export interface ChatTemplateMessage {
  role: string;
  content: string;
}

export interface RenderChatOptions {
  /** End with the opening of an assistant turn. */
  addGenerationPrompt: boolean;
  bosToken: string;
  eosToken: string;
  /** Tool (function) definitions, passed to the template as `tools`. */
  tools?: unknown[];
  /** Extra template variables (e.g. `{ enable_thinking: false }` for Qwen3). */
  extra?: Record<string, unknown>;
}

/** ChatML, used when the GGUF has no template (llama.cpp's fallback too). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const parsed = new Map<string, Template>();

function compile(template: string): Template {
  let t = parsed.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new ChatTemplateError(`chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
    if (parsed.size > 32) parsed.clear();
    parsed.set(template, t);
  }
  return t;
}

/**
 * Renders `messages` with `template` (ChatML when null/empty).
 * @throws ChatTemplateError when the template fails to parse or render, or calls raise_exception.
 * @example
 * renderChat(file.metadata.get('tokenizer.chat_template') as string, [{ role: 'user', content: 'Hi' }],
 *   { addGenerationPrompt: true, bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' });
 */
export function renderChat(
  template: string | null | undefined,
  messages: readonly ChatTemplateMessage[],
  opts: RenderChatOptions,
): string {
  const t = compile(template ? template : CHATML_TEMPLATE);
  try {
    return t.render({
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt,
      bos_token: opts.bosToken,
      eos_token: opts.eosToken,
      ...(opts.tools ? { tools: opts.tools } : {}),
    });
  } catch (e) {
    throw new ChatTemplateError(`chat template failed to render: ${(e as Error).message}`, { cause: e });
  }
}
