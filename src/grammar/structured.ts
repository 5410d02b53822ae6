/**
 * From a request's `format` / `tools` / `toolChoice` to the automaton that constrains sampling.
 *
 * Compiling is done once per distinct request shape: automata are kept in a small LRU keyed by the JSON of
 * the three fields, so a schema used again reuses its DFA and (through TokenMasker) its token masks.
 */
import { ValidationError } from '../errors.ts';
import { GrammarAutomaton } from './automaton.ts';
import { GrammarError, InvalidSchemaError } from './errors.ts';
import { compileJsonSchema, type JsonSchema } from './json-schema.ts';
import { toolCallGrammar, validateTools, type ToolChoice, type ToolDefinition } from './tools.ts';

/** Ollama's `format`: "json" (any object) or a JSON Schema; "" and null mean none. */
export type OutputFormat = 'json' | JsonSchema;

export interface StructuredOutputRequest {
  format?: OutputFormat | '' | null;
  tools?: ToolDefinition[] | null;
  /** Default "auto". */
  toolChoice?: ToolChoice | null;
}

/** Compiled automata kept (each holds its lazily built DFA). */
export const AUTOMATON_CACHE_ENTRIES = 32;
const automata = new Map<string, GrammarAutomaton>();

/**
 * The automaton for `req`, or null when nothing constrains the output.
 * @throws InvalidSchemaError for unsupported or malformed schemas, ValidationError for a bad format/tools value.
 */
export function structuredOutput(req: StructuredOutputRequest): GrammarAutomaton | null {
  const format = normaliseFormat(req.format);
  const choice = req.toolChoice ?? 'auto';
  if (choice !== 'auto' && choice !== 'required' && choice !== 'none') throw new ValidationError(`toolChoice must be 'auto', 'required' or 'none', got ${JSON.stringify(choice)}`);
  const tools = req.tools == null ? [] : validateTools(req.tools);
  if (choice === 'required' && tools.length === 0) throw new ValidationError("toolChoice 'required' needs at least one tool");
  const useTools = tools.length > 0 && choice !== 'none';
  if (!useTools && format === undefined) return null;
  const key = JSON.stringify([format ?? null, useTools ? tools : null, choice]);
  const hit = automata.get(key);
  if (hit) {
    automata.delete(key);
    automata.set(key, hit);
    return hit;
  }
  const grammar = useTools ? toolCallGrammar(tools, choice as 'auto' | 'required', format) : compileJsonSchema(format);
  let automaton: GrammarAutomaton;
  try {
    automaton = new GrammarAutomaton(grammar);
  } catch (e) {
    if (e instanceof GrammarError) throw new InvalidSchemaError(`the schema accepts no finite JSON text (${e.message})`, [], '#');
    throw e;
  }
  if (automata.size >= AUTOMATON_CACHE_ENTRIES) automata.delete(automata.keys().next().value!);
  automata.set(key, automaton);
  return automaton;
}

function normaliseFormat(f: unknown): JsonSchema | undefined {
  if (f === undefined || f === null || f === '') return undefined;
  if (f === 'json') return { type: 'object' };
  if (typeof f === 'boolean' || (typeof f === 'object' && !Array.isArray(f))) return f as JsonSchema;
  throw new ValidationError(`format must be "json" or a JSON Schema object, got ${JSON.stringify(f)}`);
}
