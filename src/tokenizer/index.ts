export { createTokenizer, type Tokenizer, type EncodeOptions, type DecodeOptions } from './tokenizer.ts';
export { renderChat, CHATML_TEMPLATE, type ChatTemplateMessage, type RenderChatOptions } from './chat-template.ts';
export { TokenizerError, ChatTemplateError } from './errors.ts';
