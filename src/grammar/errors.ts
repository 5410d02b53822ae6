/** Errors of structured output: schemas we cannot compile, and grammars that cannot be matched. */
import { TesseraError, ValidationError } from '../errors.ts';

/**
 * A JSON Schema (format / tool parameters) uses keywords or values that structured output does not support,
 * or is not a schema at all. A ValidationError, so the server answers 400 with the message.
 * `keywords` lists the offending keywords; `path` is the JSON pointer of the first offending subschema.
 */
export class InvalidSchemaError extends ValidationError {
  readonly keywords: readonly string[];
  readonly path: string;
  constructor(message: string, keywords: readonly string[], path: string) {
    super(`invalid schema at ${path || '#'}: ${message}`);
    this.keywords = keywords;
    this.path = path || '#';
  }
}

/** A grammar that cannot be used: no finite sentence, or an expansion that does not terminate. */
export class GrammarError extends TesseraError {
  constructor(message: string) {
    super('grammar_error', message);
  }
}

/** A token was fed to a constraint that does not allow it (a caller bug: the mask forbids it). */
export class GrammarViolationError extends TesseraError {
  constructor(message: string) {
    super('grammar_violation', message);
  }
}
