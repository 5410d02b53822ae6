import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { DEFAULT_OPTIONS, generateOptionsSchema, resolveOptions, unknownOptionKeys } from '../../src/sampling/options.ts';

describe('defaults', () => {
  it("equal Ollama's documented defaults (DESIGN.md §6; num_ctx 2048)", () => {
    expect({ ...resolveOptions({}), stop: [...resolveOptions({}).stop] }).toEqual({
      temperature: 0.8,
      top_k: 40,
      top_p: 0.9,
      min_p: 0,
      typical_p: 1,
      repeat_last_n: 64,
      repeat_penalty: 1.0,
      presence_penalty: 0,
      frequency_penalty: 0,
      seed: -1,
      num_predict: -1,
      num_keep: 4,
      num_ctx: 2048,
      num_batch: 512,
      stop: [],
    });
    expect(resolveOptions(undefined)).toBe(DEFAULT_OPTIONS);
    expect(resolveOptions(null)).toBe(DEFAULT_OPTIONS);
  });

  it('fills only what is missing; null means default', () => {
    const o = resolveOptions({ temperature: 0, top_k: null, stop: ['\n', '', 'User:'] });
    expect(o.temperature).toBe(0);
    expect(o.top_k).toBe(40);
    expect(o.stop).toEqual(['\n', 'User:']); // empty stop strings dropped
    expect(resolveOptions({ stop: 'END' }).stop).toEqual(['END']); // OpenAI's single string
  });
});

describe('unknown fields', () => {
  it('are tolerated and dropped, and can be listed for a warning', () => {
    const input = { temperature: 0.5, mirostat: 2, num_thread: 8, use_mmap: false, tfs_z: 1 };
    const o = resolveOptions(input);
    expect(o.temperature).toBe(0.5);
    expect('mirostat' in o).toBe(false);
    expect(unknownOptionKeys(input).sort()).toEqual(['mirostat', 'num_thread', 'tfs_z', 'use_mmap']);
    expect(generateOptionsSchema.safeParse(input).success).toBe(true);
  });
});

describe('invalid values are rejected with the field named', () => {
  const bad: [string, unknown][] = [
    ['temperature', NaN],
    ['temperature', -0.1],
    ['temperature', Infinity],
    ['temperature', '0.7'],
    ['top_k', -1],
    ['top_k', 2.5],
    ['top_p', 1.5],
    ['top_p', -0.01],
    ['min_p', 2],
    ['typical_p', -1],
    ['repeat_last_n', -2],
    ['repeat_penalty', 0],
    ['repeat_penalty', -1],
    ['presence_penalty', NaN],
    ['frequency_penalty', Infinity],
    ['seed', 1.5],
    ['seed', -2],
    ['num_predict', -3],
    ['num_predict', 10.5],
    ['num_keep', -2],
    ['num_ctx', 0],
    ['num_batch', 0],
    ['stop', 5],
    ['stop', ['a', 3]],
  ];
  for (const [field, value] of bad) {
    it(`${field} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`, () => {
      let err: unknown;
      try {
        resolveOptions({ [field]: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toContain(`"${field}`);
      expect((err as ValidationError).code).toBe('invalid_argument');
    });
  }

  it('says what it got, including NaN', () => {
    expect(() => resolveOptions({ temperature: NaN })).toThrow(/"temperature".*got NaN/);
    expect(() => resolveOptions({ top_p: 1.5 })).toThrow(/"top_p": must be in \[0, 1\] \(got 1\.5\)/);
  });

  it('accepts the special values: num_predict −1 and −2, seed −1, repeat_last_n −1, top_k 0', () => {
    expect(resolveOptions({ num_predict: -1 }).num_predict).toBe(-1);
    expect(resolveOptions({ num_predict: -2 }).num_predict).toBe(-2);
    expect(resolveOptions({ seed: -1, repeat_last_n: -1, top_k: 0 }).repeat_last_n).toBe(-1);
    expect(resolveOptions({ presence_penalty: -1.5, frequency_penalty: 2 }).presence_penalty).toBe(-1.5);
  });

  it('rejects options that are not an object', () => {
    expect(() => resolveOptions('fast')).toThrow(ValidationError);
    expect(() => resolveOptions([1, 2])).toThrow(ValidationError);
    expect(() => resolveOptions(3)).toThrow(/options must be an object/);
  });
});
