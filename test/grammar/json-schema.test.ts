/**
 * The schema compiler and the matcher: texts accepted and rejected, checked by hand against the JSON Schema
 * spec; random sentences of every test schema parse and validate with ajv (an independent validator); and
 * unsupported schemas fail with InvalidSchemaError naming the keyword.
 */
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { InvalidSchemaError } from '../../src/grammar/errors.ts';
import { GrammarBuilder, utf8Sequences } from '../../src/grammar/grammar.ts';
import { jsonObjectGrammar } from '../../src/grammar/json-schema.ts';
import { structuredOutput } from '../../src/grammar/structured.ts';
import { ValidationError } from '../../src/errors.ts';
import { automatonOf, automatonOfGrammar, matches, randomSentence } from './helpers.ts';
import { SCHEMAS } from './schemas.ts';

function check(schema: unknown, yes: string[], no: string[]): void {
  const a = automatonOf(schema);
  for (const t of yes) expect(matches(a, t), `should accept ${t}`).toBe(true);
  for (const t of no) expect(matches(a, t), `should reject ${t}`).toBe(false);
}

describe('JSON Schema → grammar: accepted and rejected texts', () => {
  it('string: escapes, UTF-8, no raw control characters, no lone surrogate escapes', () => {
    check({ type: 'string' }, ['""', '"abc"', '"a\\"b"', '"\\\\"', '"\\u00e9"', '"é"', '"😀"', '"\\n\\t\\/"', '"\\uFFFF"'], ['"a', 'abc', '"\\ud800"', '"\\uDC00"', '"a\nb"', '"\\x41"', '"a" ', "'a'"]);
  });
  it('minLength/maxLength count code points (an escape is one)', () => {
    check({ type: 'string', minLength: 2, maxLength: 3 }, ['"ab"', '"abc"', '"😀😀"', '"\\n\\n"'], ['"a"', '"abcd"', '"😀"', '""']);
  });
  it('integer and number syntax', () => {
    check({ type: 'integer' }, ['0', '-12', '123456789012345'], ['01', '1.5', '+1', '-', '1e3', '1234567890123456']);
    check({ type: 'number' }, ['0', '-0.5', '1.5e-3', '2E+10', '7'], ['1.', '.5', '01', '1e', '1e123', 'NaN']);
  });
  it('minimum/maximum where simple', () => {
    check({ type: 'integer', minimum: -2, maximum: 11 }, ['-2', '0', '11', '7'], ['-3', '12', '1.0', '-0']);
    check({ type: 'integer', minimum: 0 }, ['0', '15'], ['-1']);
    check({ type: 'integer', minimum: 1 }, ['1', '10'], ['0', '-1']);
    check({ type: 'number', minimum: 0 }, ['0', '0.5', '3e2'], ['-0.5']);
  });
  it('boolean, null, enum, const', () => {
    check({ type: 'boolean' }, ['true', 'false'], ['True', 'null']);
    check({ type: 'null' }, ['null'], ['nul', '""']);
    check({ enum: ['a', 1, null, { x: [true] }] }, ['"a"', '1', 'null', '{"x":[true]}'], ['"b"', '2', '{"x":[false]}']);
    check({ const: 'hi' }, ['"hi"'], ['"h"', '"hii"']);
    check({ type: 'string', enum: ['a', 1] }, ['"a"'], ['1']);
  });
  it('object: declared order, required always, optional maybe, no extra by default', () => {
    const s = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer' } }, required: ['a'] };
    check(s, ['{"a":"x"}', '{"a": "x", "b": 1}', '{"a":"x","b":1}'], ['{"b":1}', '{}', '{"a":"x","c":1}', '{"b":1,"a":"x"}', '{ "a":"x"}', '{"a":"x",}']);
    check({ type: 'object', properties: { a: { type: 'null' }, b: { type: 'null' } } }, ['{}', '{"a":null}', '{"b":null}', '{"a":null,"b":null}'], ['{,"b":null}', '{"a":null,}']);
  });
  it('additionalProperties: true adds keys other than the declared ones; a schema constrains their values', () => {
    const s = { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: true };
    check(s, ['{"a":1}', '{"a":1,"ab":[1,{}]}', '{"a":1,"b":"x","c":null}', '{"a":1,"":0}'], ['{"a":1,"a":2}', '{"b":1}', '{"a":1,"\\u0061":2}']);
    check({ type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: { type: 'boolean' } }, ['{"a":1,"z":true}', '{"z":false}'], ['{"a":1,"z":1}']);
    check({ type: 'object', additionalProperties: false }, ['{}'], ['{"a":1}']);
  });
  it('free-form object (format "json"): any object, nested values', () => {
    const a = automatonOfGrammar(jsonObjectGrammar());
    for (const t of ['{}', '{"a":[1,2,{"b":null}],"c":"\\u0041"}', '{"k": {"k": {"k": []}}}']) expect(matches(a, t), t).toBe(true);
    for (const t of ['[]', '1', '{"a"}', '{"a":1', '{a:1}']) expect(matches(a, t), t).toBe(false);
  });
  it('arrays: items, minItems, maxItems', () => {
    check({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 }, ['[1]', '[1, 2]', '[1,2,3]'], ['[]', '[1,2,3,4]', '["a"]', '[1,]']);
    check({ type: 'array', maxItems: 0 }, ['[]'], ['[1]']);
    check({ type: 'array' }, ['[]', '[1,"a",{"b":[null]}]'], ['[1']);
  });
  it('anyOf, type lists, $ref (also recursive)', () => {
    check({ anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 1 }] }, ['5', '"a"'], ['"ab"', 'true']);
    check({ type: ['boolean', 'null'] }, ['true', 'null'], ['0']);
    const tree = { $defs: { t: { type: 'object', properties: { c: { type: 'array', items: { $ref: '#/$defs/t' } } }, required: ['c'] } }, $ref: '#/$defs/t' };
    check(tree, ['{"c":[]}', '{"c":[{"c":[]},{"c":[{"c":[]}]}]}'], ['{"c":[{}]}', '{}']);
  });
});

describe('random sentences of every test schema validate with ajv', () => {
  const ajv = new Ajv({ strict: false });
  it.each(SCHEMAS)('%s', (_, schema) => {
    const validate = ajv.compile(schema);
    const a = automatonOf(schema);
    for (let seed = 1; seed <= 40; seed++) {
      const text = randomSentence(a, seed * 7919);
      const value = JSON.parse(text);
      if (!validate(value)) throw new Error(`${text}: ${ajv.errorsText(validate.errors)}`);
    }
  });
});

describe('utf8Sequences', () => {
  it('matches exactly the UTF-8 encodings of the range (surrogates excluded)', () => {
    const ranges: [number, number][] = [[0, 0x10ffff], [0x41, 0x5a], [0x7f, 0x80], [0x7ff, 0x801], [0xd7f0, 0xe010], [0xfff0, 0x10010], [0x3a5, 0x2f41]];
    for (const [lo, hi] of ranges) {
      const seqs = utf8Sequences(lo, hi);
      const inSeq = (bytes: Uint8Array) => seqs.filter((s) => s.length === bytes.length && s.every(([a, b], i) => bytes[i] >= a && bytes[i] <= b)).length;
      for (let cp = Math.max(0, lo - 300); cp <= Math.min(0x10ffff, hi + 300); cp += cp > 0x20000 ? 1009 : cp > 0x800 ? 7 : 1) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const bytes = new TextEncoder().encode(String.fromCodePoint(cp));
        expect(inSeq(bytes), `U+${cp.toString(16)} in [${lo.toString(16)}, ${hi.toString(16)}]`).toBe(cp >= lo && cp <= hi ? 1 : 0);
      }
      // Encoded surrogates (ED A0..BF xx) are never matched.
      expect(inSeq(Uint8Array.of(0xed, 0xa0, 0x80))).toBe(0);
    }
  });
  it('builder.chars matches characters, not bytes', () => {
    const g = new GrammarBuilder();
    const r = g.declare('root');
    g.define(r, [[g.chars('c', [[0xe9, 0xe9], [0x4e00, 0x4e00]])]]);
    const a = automatonOfGrammar(g.build(r));
    expect(matches(a, 'é')).toBe(true);
    expect(matches(a, '一')).toBe(true);
    expect(matches(a, 'e')).toBe(false);
    expect(matches(a, 'è')).toBe(false);
  });
});

describe('invalid schemas → InvalidSchemaError naming the keyword (a ValidationError: HTTP 400)', () => {
  const bad: [string, unknown, string[], RegExp][] = [
    ['pattern', { type: 'string', pattern: '^a' }, ['pattern'], /'pattern'/],
    ['format', { type: 'string', format: 'date-time' }, ['format'], /'format'/],
    ['several', { type: 'object', oneOf: [], not: {} }, ['oneOf', 'not'], /'oneOf', 'not'/],
    ['nested, with path', { type: 'object', properties: { a: { type: 'number', multipleOf: 2 } } }, ['multipleOf'], /#\/properties\/a.*'multipleOf'/],
    ['unresolvable $ref', { $ref: 'http://example.com/s.json' }, ['$ref'], /does not resolve/],
    ['min > max', { type: 'string', minLength: 3, maxLength: 2 }, ['minLength', 'maxLength'], /minLength > maxLength/],
    ['large integer range', { type: 'integer', minimum: 0, maximum: 1e6 }, ['minimum', 'maximum'], /integer range/],
    ['maximum alone', { type: 'number', maximum: 5 }, ['maximum'], /maximum/],
    ['tuple items', { type: 'array', items: [{ type: 'string' }] }, ['items'], /tuple/],
    ['unknown type', { type: 'date' }, ['type'], /unknown type/],
    ['not a schema', { type: 'object', properties: { a: 42 } }, [], /#\/properties\/a: a schema must be an object or a boolean/],
    ['false', false, ['false'], /accepts nothing/],
    ['empty enum', { enum: [] }, ['enum'], /non-empty/],
  ];
  it.each(bad)('%s', (_, schema, keywords, message) => {
    let err: unknown;
    try {
      structuredOutput({ format: schema as Record<string, unknown> });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidSchemaError);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as InvalidSchemaError).keywords).toEqual(keywords);
    expect((err as Error).message).toMatch(message);
  });
  it('a required value that can only refer to itself has no finite text', () => {
    const s = { $defs: { loop: { type: 'object', properties: { x: { $ref: '#/$defs/loop' } }, required: ['x'] } }, $ref: '#/$defs/loop' };
    expect(() => structuredOutput({ format: s })).toThrow(InvalidSchemaError);
  });
  it('bad format values and tools', () => {
    expect(() => structuredOutput({ format: 'xml' as 'json' })).toThrow(/format must be "json" or a JSON Schema/);
    expect(() => structuredOutput({ tools: [{ function: { name: '' } }] })).toThrow(/name must be a non-empty string/);
    expect(() => structuredOutput({ tools: [{ function: { name: 'a' } }, { function: { name: 'a' } }] })).toThrow(/used twice/);
    expect(() => structuredOutput({ tools: [{ function: { name: 'a', parameters: { type: 'object', properties: { q: { type: 'string', pattern: 'x' } } } } }] })).toThrow(
      /tools\/0\/function\/parameters\/properties\/q.*'pattern'/,
    );
    expect(structuredOutput({})).toBeNull();
    expect(structuredOutput({ format: '' })).toBeNull();
  });
});

describe('structuredOutput caches compiled automata', () => {
  it('the same request shape gives the same automaton; a different one another', () => {
    const s = { type: 'object', properties: { a: { type: 'integer' } } };
    const a = structuredOutput({ format: s });
    expect(structuredOutput({ format: JSON.parse(JSON.stringify(s)) })).toBe(a);
    expect(structuredOutput({ format: { type: 'object', properties: { b: { type: 'integer' } } } })).not.toBe(a);
  });
});
