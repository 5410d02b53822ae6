/**
 * The schemas structured output is tested on: every keyword the compiler supports, alone and nested.
 * Kept small enough that the shortest valid value is a few dozen bytes (the generation tests use a short
 * num_predict and rely on the budget to close values).
 */
export const SCHEMAS: [string, Record<string, unknown>][] = [
  ['string', { type: 'string' }],
  ['string 2..5', { type: 'string', minLength: 2, maxLength: 5 }],
  ['integer', { type: 'integer' }],
  ['number', { type: 'number' }],
  ['boolean', { type: 'boolean' }],
  ['null', { type: 'null' }],
  ['integer range', { type: 'integer', minimum: -5, maximum: 20 }],
  ['non-negative number', { type: 'number', minimum: 0 }],
  ['positive integer', { type: 'integer', minimum: 1 }],
  ['enum', { enum: ['red', 'green', 'blue', 42, null] }],
  ['const', { const: { ok: true } }],
  ['string or null', { type: ['string', 'null'], maxLength: 8 }],
  ['array of integers 1..3', { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 }],
  ['array of enums', { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 4 }],
  [
    'person',
    {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0 }, email: { type: 'string' } },
      required: ['name', 'age'],
      additionalProperties: false,
    },
  ],
  [
    'all optional',
    { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'null' }, c: { type: 'number' } } },
  ],
  [
    'nested objects',
    {
      type: 'object',
      properties: {
        user: { type: 'object', properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 2 } }, required: ['id'] },
        active: { type: 'boolean' },
      },
      required: ['user', 'active'],
    },
  ],
  [
    'anyOf',
    { anyOf: [{ type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number' } }, required: ['kind', 'r'] }, { type: 'string', maxLength: 3 }, { type: 'integer' }] },
  ],
  [
    'additionalProperties true',
    { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'], additionalProperties: true },
  ],
  [
    'additionalProperties schema',
    { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'], additionalProperties: { type: 'boolean' } },
  ],
  [
    '$defs and $ref',
    {
      $defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } },
      type: 'object',
      properties: { from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point' } },
      required: ['from', 'to'],
    },
  ],
  [
    'recursive $ref',
    {
      definitions: { node: { type: 'object', properties: { v: { type: 'integer' }, next: { anyOf: [{ $ref: '#/definitions/node' }, { type: 'null' }] } }, required: ['v', 'next'] } },
      $ref: '#/definitions/node',
    },
  ],
  ['free-form object', { type: 'object' }],
  ['any value', {}],
  [
    'annotations ignored',
    { title: 'T', description: 'a thing', type: 'object', properties: { q: { type: 'string', description: 'question', maxLength: 6, examples: ['hi'] } }, required: ['q'] },
  ],
  ['unicode enum', { enum: ['naïve', '日本', '😀'] }],
];
