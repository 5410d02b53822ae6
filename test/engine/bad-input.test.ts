/** Bad input gives a named error that says what is wrong and where — never a crash or a hang. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, TesseraError, ValidationError } from '../../src/index.ts';
import { GgmlType, gv } from '../../src/gguf/types.ts';
import { writeGguf } from '../../src/gguf/writer.ts';
import { synthLlamaMetadata, tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-bad-input');
const spec = { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, type: 'Q8_0' as const, seed: 3, tokenizer: tinyLlamaVocab() };

async function rejection(p: Promise<unknown>): Promise<TesseraError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(TesseraError);
  return e as TesseraError;
}

describe('createEngine with a bad model file', () => {
  beforeAll(() => mkdirSync(DIR, { recursive: true }));

  it('missing file: names the path', async () => {
    const e = await rejection(createEngine({ model: join(DIR, 'nope.gguf') }));
    expect(e.code).toBe('gguf_not_found');
    expect(e.message).toContain('nope.gguf');
  });

  it('not a GGUF file', async () => {
    const path = join(DIR, 'text.gguf');
    writeFileSync(path, 'this is not a model, just some text that is long enough');
    const e = await rejection(createEngine({ model: path }));
    expect(e.code).toBe('gguf_bad_magic');
    expect(e.message).toContain('text.gguf');
  });

  it('unsupported architecture: names the file and the architecture', async () => {
    const path = join(DIR, 'rwkv.gguf');
    await writeGguf(path, { metadata: { ...synthLlamaMetadata(spec), 'general.architecture': gv.str('rwkv7') }, tensors: [] });
    const e = await rejection(createEngine({ model: path, threads: 1 }));
    expect(e.code).toBe('unsupported_architecture');
    expect(e.message).toMatch(/rwkv\.gguf.*'rwkv7'/);
  });

  it('unsupported tensor type: names the file, the tensor and the type', async () => {
    // IQ2_XXS: a type the WASM core does not implement (Q4_K used to be the example until it was added).
    const path = join(DIR, 'iq2xxs.gguf');
    const nVocab = (tinyLlamaVocab()['tokenizer.ggml.tokens'].value as ArrayLike<unknown>).length;
    await writeGguf(path, {
      metadata: synthLlamaMetadata({ ...spec, nEmbd: 256, nHead: 4 }),
      tensors: [{ name: 'token_embd.weight', type: GgmlType.IQ2_XXS, dims: [256, nVocab], data: new Uint8Array(nVocab * 66) }],
    });
    const e = await rejection(createEngine({ model: path, threads: 1 }));
    expect(e.message).toMatch(/iq2xxs\.gguf.*'token_embd\.weight'/);
    expect(e.code).toBe('unsupported_tensor_type');
    expect(e.message).toContain('IQ2_XXS');
  });

  it('truncated model: a named error, and a good model still loads afterwards', async () => {
    const good = join(DIR, 'good.gguf');
    await writeSyntheticLlama(good, spec);
    const bytes = (await import('node:fs')).readFileSync(good);
    const cut = join(DIR, 'cut.gguf');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const e = await rejection(createEngine({ model: cut, threads: 1 }));
    expect(e.message).toContain('cut.gguf');
    const engine = await createEngine({ model: good, threads: 1 });
    await engine.close();
  });
});

describe('generate with bad options', () => {
  let engine: Engine;
  beforeAll(async () => {
    const path = join(DIR, 'ok.gguf');
    mkdirSync(DIR, { recursive: true });
    await writeSyntheticLlama(path, spec);
    engine = await createEngine({ model: path, threads: 1 });
  });
  afterAll(async () => engine?.close());

  const bad: [string, Parameters<Engine['generate']>[0], RegExp][] = [
    ['empty prompt', { prompt: '' }, /empty/],
    ['num_predict −3', { prompt: 'hi', options: { num_predict: -3 } }, /num_predict/],
    ['NaN temperature', { prompt: 'hi', options: { temperature: Number.NaN } }, /temperature/],
    ['top_p 1.5', { prompt: 'hi', options: { top_p: 1.5 } }, /top_p/],
    ['token id out of range', { prompt: [1, 999999] }, /vocabulary/],
  ];
  it.each(bad)('%s → ValidationError', (_, req, msg) => {
    let err: unknown;
    try {
      engine.generate(req);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(msg);
  });

  it('still generates after the bad requests', async () => {
    let n = 0;
    for await (const c of engine.generate({ prompt: 'hello', raw: true, options: { num_predict: 4, temperature: 0 } })) if (c.token >= 0) n++;
    expect(n).toBeGreaterThan(0);
  });

  it('an AbortSignal stops generation', async () => {
    const ac = new AbortController();
    const gen = engine.generate({ prompt: 'hello', raw: true, options: { num_predict: 1000, temperature: 1, seed: 1 }, signal: ac.signal });
    let n = 0;
    for await (const c of gen) {
      if (c.token >= 0 && ++n === 3) ac.abort();
    }
    expect(gen.doneReason).toBe('abort');
    expect(n).toBe(3);
  });

  it('the same seed gives the same text', async () => {
    const once = async () => {
      let t = '';
      for await (const c of engine.generate({ prompt: 'hello', raw: true, options: { num_predict: 16, temperature: 1, seed: 42 } })) t += `${c.token},`;
      return t;
    };
    expect(await once()).toBe(await once());
  });
});
