/**
 * Structured output end to end: a synthetic llama (random weights) with Llama 3's real 128k vocabulary,
 * sampled at temperature 1 over the whole distribution (top_k 0, top_p 1) with a short num_predict. Every
 * output must parse and validate against its schema with ajv (an independent validator); tool calls must
 * round-trip. Random weights make the model pick freely among allowed tokens, the harshest case for a grammar.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type Generation } from '../../src/engine.ts';
import { ValidationError } from '../../src/errors.ts';
import { InvalidSchemaError } from '../../src/grammar/errors.ts';
import { structuredOutput } from '../../src/grammar/structured.ts';
import type { ToolDefinition } from '../../src/grammar/tools.ts';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama3VocabMetadata } from '../fixtures/vocab.ts';
import { SCHEMAS } from './schemas.ts';

const DIR = join(tmpdir(), 'tessera-grammar');
const MODEL = join(DIR, 'llama3-vocab-tiny.gguf');
const SEEDS = [1, 2, 3];
const NUM_PREDICT = 40;
const ajv = new Ajv({ strict: false });

let engine: Engine;
beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(MODEL, { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, type: 'Q8_0', seed: 11, tokenizer: llama3VocabMetadata() });
  engine = await createEngine({ model: MODEL, threads: 1, numCtx: 256 });
});
afterAll(async () => engine?.close());

async function collect(g: Generation): Promise<string> {
  let text = '';
  for await (const c of g) text += c.text;
  return text;
}

const opts = (seed: number, num_predict = NUM_PREDICT) => ({ temperature: 1, top_k: 0, top_p: 1, seed, num_predict });

describe('format: a JSON Schema — every output parses and validates (ajv)', () => {
  it.each(SCHEMAS)('%s', async (_, schema) => {
    const validate = ajv.compile(schema);
    for (const seed of SEEDS) {
      const g = engine.generate({ prompt: 'Reply with JSON:', raw: true, format: schema, options: opts(seed) });
      const text = await collect(g);
      let value: unknown;
      expect(() => (value = JSON.parse(text)), `seed ${seed}: ${text}`).not.toThrow();
      expect(validate(value), `seed ${seed}: ${text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });
});

describe('format "json": any object', () => {
  it('parses as an object, for several seeds', async () => {
    for (const seed of [4, 5, 6, 7]) {
      const text = await collect(engine.generate({ prompt: 'JSON:', raw: true, format: 'json', options: opts(seed) }));
      const v = JSON.parse(text);
      expect(v !== null && typeof v === 'object' && !Array.isArray(v), text).toBe(true);
    }
  });
});

describe('budget: values close before num_predict runs out', () => {
  it('num_predict equal to the shortest completion still gives a complete, valid value', async () => {
    for (const name of ['person', 'nested objects', '$defs and $ref', 'recursive $ref']) {
      const schema = SCHEMAS.find(([n]) => n === name)![1];
      const a = structuredOutput({ format: schema })!;
      const tight = a.distance(a.start);
      const validate = ajv.compile(schema);
      for (const seed of SEEDS) {
        const text = await collect(engine.generate({ prompt: 'x', raw: true, format: schema, options: opts(seed, tight) }));
        expect(validate(JSON.parse(text)), `${name} seed ${seed} budget ${tight}: ${text}`).toBe(true);
      }
    }
  });
  it('a complete value that cannot grow ends generation with done reason "stop" (no EOS needed)', async () => {
    const g = engine.generate({ prompt: 'x', raw: true, format: { type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] }, options: opts(9, 30) });
    const text = await collect(g);
    expect(text).toMatch(/^\{"a": ?(true|false)\}$/);
    expect(g.doneReason).toBe('stop');
    expect(g.stats!.evalCount).toBeLessThan(30);
  });
});

const TOOLS: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
    },
  },
  { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] } } },
  { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } },
];

describe('tools', () => {
  it('toolChoice "required": every answer is a call to a listed tool with valid arguments, parsed back', async () => {
    const names = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const g = engine.chat({ messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: TOOLS, toolChoice: 'required', options: opts(seed) });
      const text = await collect(g);
      expect(g.toolCalls, text).not.toBeNull();
      expect(g.toolCalls).toHaveLength(1);
      const call = g.toolCalls![0];
      const tool = TOOLS.find((t) => t.function.name === call.name);
      expect(tool, text).toBeDefined();
      const validate = ajv.compile(tool!.function.parameters as object);
      expect(validate(call.arguments), `${text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(JSON.parse(text)).toEqual({ name: call.name, arguments: call.arguments });
      names.add(call.name);
    }
    expect(names.size).toBeGreaterThan(1); // the grammar does not lock onto one tool
  });
  it('toolChoice "auto": text (not starting with "{") or a valid call', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const g = engine.generate({ prompt: 'Use a tool or answer:', raw: true, tools: TOOLS, options: opts(seed, 12) });
      const text = await collect(g);
      if (g.toolCalls === null) expect(text.startsWith('{'), text).toBe(false);
      else expect(TOOLS.map((t) => t.function.name)).toContain(g.toolCalls[0].name);
    }
  });
  it('toolChoice "none" and no tools: no grammar, toolCalls null', async () => {
    const g = engine.generate({ prompt: 'x', raw: true, tools: TOOLS, toolChoice: 'none', options: opts(1, 4) });
    await collect(g);
    expect(g.toolCalls).toBeNull();
  });
  it('malformed tools are a ValidationError before the chat template runs', () => {
    expect(() => engine.chat({ messages: [{ role: 'user', content: 'hi' }], tools: 'get_weather' as unknown as ToolDefinition[] })).toThrow(ValidationError);
    expect(() => engine.chat({ messages: [{ role: 'user', content: 'hi' }], tools: [{ function: {} } as ToolDefinition] })).toThrow(/tools\[0\]\.function\.name/);
  });
  it('a tool with an unsupported schema keyword is rejected before generation', () => {
    const bad: ToolDefinition[] = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'string', pattern: '^a' } } } } }];
    expect(() => engine.chat({ messages: [{ role: 'user', content: 'hi' }], tools: bad })).toThrow(InvalidSchemaError);
  });
});
