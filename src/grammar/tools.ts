/**
 * Tool calls through the same grammar as structured output.
 *
 * With tools, the answer is either plain text or one call in a fixed envelope:
 *   {"name":"<one of the tool names>","arguments":<JSON matching that tool's parameters>}
 * (optional single spaces after ':' and ','). The grammar is the union of one envelope per tool and, with
 * tool choice "auto", free text that does not start with '{' (or, when a format is also given, the format's
 * JSON). So the first token decides; "required" allows only the envelopes. After generation
 * `parseToolCalls` turns an envelope back into `{ name, arguments }`.
 *
 * Tool definitions take Ollama's and OpenAI's shape: `{ type: 'function', function: { name, description?,
 * parameters? } }`. A missing `parameters` means any object.
 */
import { ValidationError } from '../errors.ts';
import { InvalidSchemaError } from './errors.ts';
import { GrammarBuilder, type Grammar, type Seq } from './grammar.ts';
import { JsonRules, SchemaCompiler, type JsonSchema } from './json-schema.ts';

export interface ToolDefinition {
  type?: 'function';
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments (an object schema, usually). */
    parameters?: JsonSchema;
  };
}

/** A parsed call. `arguments` is the parsed JSON (an object when the tool's parameters are an object schema). */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** "auto": text or a call; "required": a call; "none": text only (no grammar from the tools). */
export type ToolChoice = 'auto' | 'required' | 'none';

/** Checks the shape of `tools` (names non-empty and distinct). @throws ValidationError */
export function validateTools(tools: unknown): ToolDefinition[] {
  if (!Array.isArray(tools)) throw new ValidationError('tools must be an array of tool definitions');
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    const f = (t as ToolDefinition | null)?.function;
    if (t === null || typeof t !== 'object' || f === null || typeof f !== 'object') throw new ValidationError(`tools[${i}] must be { type: 'function', function: { name, parameters } }`);
    if ((t as ToolDefinition).type !== undefined && (t as ToolDefinition).type !== 'function') throw new ValidationError(`tools[${i}].type must be 'function'`);
    if (typeof f.name !== 'string' || f.name === '') throw new ValidationError(`tools[${i}].function.name must be a non-empty string`);
    if (seen.has(f.name)) throw new ValidationError(`tools[${i}]: the tool name '${f.name}' is used twice`);
    seen.add(f.name);
    const p = f.parameters;
    if (p !== undefined && typeof p !== 'boolean' && (p === null || typeof p !== 'object' || Array.isArray(p))) {
      throw new InvalidSchemaError('parameters must be a JSON Schema object', [], `tools/${i}/function/parameters`);
    }
  });
  return tools as ToolDefinition[];
}

/**
 * The grammar of an answer given `tools`.
 * @param format the format's schema when one is also requested ('json' → any object), else undefined.
 */
export function toolCallGrammar(tools: readonly ToolDefinition[], choice: 'auto' | 'required', format?: JsonSchema): Grammar {
  const g = new GrammarBuilder();
  const json = new JsonRules(g);
  const sp = json.sp();
  const alts: Seq[] = tools.map((t, i) => {
    const params = t.function.parameters ?? { type: 'object' };
    const args = new SchemaCompiler(params, g, json, `tools/${i}/function/parameters`).root();
    return [...g.lit('{"name":'), sp, ...g.lit(JSON.stringify(t.function.name)), ...g.lit(','), sp, ...g.lit('"arguments":'), sp, args, ...g.lit('}')];
  });
  if (choice === 'auto') {
    if (format !== undefined) alts.push([new SchemaCompiler(format, g, json, 'format').root()]);
    else {
      const first = g.chars('text-first', [[0, 0x7a], [0x7c, 0x10ffff]]);
      const rest = g.repeat([g.chars('text-char', [[0, 0x10ffff]])], 0, Infinity);
      alts.push([], [first, ...rest]);
    }
  }
  const root = g.declare('root');
  g.define(root, alts);
  return g.build(root);
}

/**
 * The call in `text`, when it is an envelope naming one of `tools`; null for plain text (or an envelope cut
 * short by a stop string, an abort or the length limit).
 */
export function parseToolCalls(text: string, tools: readonly ToolDefinition[]): ToolCall[] | null {
  if (!text.startsWith('{')) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const { name, arguments: args } = v as { name?: unknown; arguments?: unknown };
  if (typeof name !== 'string' || !tools.some((t) => t.function.name === name) || !('arguments' in (v as object))) return null;
  return [{ name, arguments: args as Record<string, unknown> }];
}
