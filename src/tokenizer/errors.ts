import { TesseraError } from '../errors.ts';

/** The GGUF's tokenizer metadata is missing, malformed or of an unsupported kind. The message names the file. */
export class TokenizerError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('tokenizer_error', message, options);
  }
}

/** A chat template failed to parse or render (including the template's own raise_exception). */
export class ChatTemplateError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('chat_template_error', message, options);
  }
}
