/**
 * Token-for-token conformance with llama.cpp (node-llama-cpp 3.21.1's prebuilt binary, vocab-only load) on
 * GGUFs holding three real vocabularies: Llama 2 (SPM), Llama 3 (BPE, pre llama-bpe), Qwen3 (BPE, pre qwen2).
 * Expected ids, text and EOG flags all come from llama.cpp; nothing is taken from our own output.
 */
process.env.UV_THREADPOOL_SIZE = '1'; // before node-llama-cpp loads (see DESIGN.md §4)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp';
import { openGguf } from '../../src/gguf/reader.ts';
import type { GgufValue } from '../../src/gguf/types.ts';
import { writeGguf } from '../../src/gguf/writer.ts';
import { createTokenizer, TokenizerError, type Tokenizer } from '../../src/tokenizer/index.ts';
import { llama2VocabMetadata, llama3VocabMetadata, qwen3VocabMetadata, vocabOnlyLlamaMetadata } from '../fixtures/vocab.ts';
import { buildCorpus, SPECIAL_TEXTS } from './corpus.ts';

const RANDOM_STRINGS = 260;
const dir = mkdtempSync(join(tmpdir(), 'tessera-tok-'));
let llama: Llama;

beforeAll(async () => {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
}, 60_000);

afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const utf8 = new TextEncoder();
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
/** Lone surrogates → U+FFFD, as any UTF-8 conversion does. */
const wellFormed = (s: string) => s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
const show = (s: string) => JSON.stringify(s).slice(0, 160);

interface Case {
  name: keyof typeof SPECIAL_TEXTS;
  metadata: () => Record<string, GgufValue>;
  /** decode(encode(s)) === s holds exactly (no clean_up_tokenization_spaces). */
  exactRoundTrip: boolean;
}

const CASES: Case[] = [
  { name: 'llama2', metadata: llama2VocabMetadata, exactRoundTrip: true },
  { name: 'llama3', metadata: llama3VocabMetadata, exactRoundTrip: false },
  { name: 'qwen3', metadata: qwen3VocabMetadata, exactRoundTrip: true },
];

describe.each(CASES)('$name vocabulary vs llama.cpp', ({ name, metadata, exactRoundTrip }) => {
  let tok: Tokenizer;
  let model: LlamaModel;
  let meta: Map<string, unknown>;
  const corpus = buildCorpus(name, RANDOM_STRINGS);

  let path: string;

  beforeAll(async () => {
    path = join(dir, `${name}.gguf`);
    const record = vocabOnlyLlamaMetadata(metadata(), `tessera-${name}`);
    await writeGguf(path, { metadata: record, tensors: [] });
    // The metadata exactly as written (what openGguf should return); the reader is checked separately below.
    meta = new Map(Object.entries(record).map(([k, v]) => [k, v.value]));
    tok = createTokenizer(meta, { path });
    model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  }, 60_000);

  afterAll(async () => {
    await model?.dispose();
  });

  it(`has ≥ 300 test strings (${corpus.length})`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(300);
  });

  it.each([true, false])('token ids match llama.cpp (parseSpecial %s)', (parseSpecial) => {
    const bad: string[] = [];
    for (const s of corpus) {
      const want = Array.from(model.tokenize(s, parseSpecial));
      const got = tok.encode(s, { addSpecial: false, parseSpecial });
      if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${show(s)}\n  ours ${JSON.stringify(got)}\n  llama.cpp ${JSON.stringify(want)}`);
    }
    expect(bad.slice(0, 5).join('\n')).toBe('');
    expect(bad.length).toBe(0);
  });

  it('adds BOS/EOS as llama.cpp would', () => {
    expect(tok.bos).toBe(model.tokens.bos);
    expect(tok.eos).toBe(model.tokens.eos);
    expect(tok.addBos).toBe(model.tokens.shouldPrependBosToken);
    expect(tok.addEos).toBe(model.tokens.shouldAppendEosToken);
    const s = 'Hello world';
    const body = Array.from(model.tokenize(s, true));
    const want = [...(tok.addBos ? [model.tokens.bos!] : []), ...body, ...(tok.addEos ? [model.tokens.eos!] : [])];
    expect(tok.encode(s)).toEqual(want);
    expect(tok.encode('', { addSpecial: true })).toEqual(tok.addBos ? [model.tokens.bos] : []);
  });

  it.each([false, true])('decode matches llama.cpp detokenize (skipSpecial %s)', (skipSpecial) => {
    const bad: string[] = [];
    for (const s of corpus) {
      const ids = tok.encode(s, { addSpecial: true, parseSpecial: true });
      const want = model.detokenize(ids as Token[], !skipSpecial);
      const got = tok.decode(ids, { skipSpecial });
      if (got !== want) bad.push(`${show(s)}: ours ${show(got)} llama.cpp ${show(want)}`);
    }
    expect(bad.slice(0, 5).join('\n')).toBe('');
  });

  it('round-trips: tokenBytes of encode(s) give back the bytes of s', () => {
    const prefix = meta.get('tokenizer.ggml.model') === 'llama' ? ' ' : '';
    const bad: string[] = [];
    for (const s of corpus) {
      if (s.length === 0) continue;
      if (prefix && s.includes('\u2581')) continue; // SPM: a literal ▁ is indistinguishable from an escaped space
      const ids = tok.encode(s, { addSpecial: false, parseSpecial: false });
      const bytes = concat(ids.map((id) => tok.tokenBytes(id)));
      const want = utf8.encode(prefix + s);
      if (Buffer.compare(Buffer.from(bytes), Buffer.from(want)) !== 0) bad.push(show(s));
      if (exactRoundTrip && tok.decode(ids) !== wellFormed(s)) bad.push(`decode ${show(s)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('isEog agrees with llama.cpp on every special token and on eos/bos', () => {
    const types = meta.get('tokenizer.ggml.token_type') as Int32Array;
    const ids = new Set<number>([tok.bos ?? 0, tok.eos ?? 0]);
    for (let i = 0; i < types.length; i++) if (types[i] !== 1 && types[i] !== 6) ids.add(i);
    for (let i = 0; i < types.length; i += 997) ids.add(i);
    const bad = [...ids].filter((id) => tok.isEog(id) !== model.isEogToken(id as Token));
    expect(bad).toEqual([]);
    expect(tok.isEog(tok.eos!)).toBe(true);
  });

  it('the GGUF reader returns every token string byte-exact (e.g. a lone U+FEFF token)', async () => {
    const file = await openGguf(path);
    const want = meta.get('tokenizer.ggml.tokens') as string[];
    const got = file.metadata.get('tokenizer.ggml.tokens') as string[];
    const bad = want.flatMap((t, i) => (got[i] === t ? [] : [`${i}: ${show(t)} read as ${show(got[i])}`]));
    expect(bad).toEqual([]);
  });

  it('tokenizes a 2,000-token prompt in a few ms', () => {
    let text = '';
    for (let i = 0; text.length < 40_000; i++) text += corpus[(i * 7919) % corpus.length] + '\n';
    const ids = tok.encode(text, { addSpecial: false });
    const cut = text.slice(0, Math.floor(text.length * (2000 / ids.length)));
    tok.encode(cut); // warm
    const t0 = performance.now();
    const n = tok.encode(cut).length;
    const ms = performance.now() - t0;
    console.log(`${name}: ${n} tokens in ${ms.toFixed(2)} ms`);
    expect(n).toBeGreaterThan(1500);
    expect(ms).toBeLessThan(50);
    // No quadratic blowup on long whitespace or single-character runs.
    const t2 = performance.now();
    tok.encode(' '.repeat(20_000) + 'x' + '\n'.repeat(20_000) + 'a'.repeat(20_000));
    expect(performance.now() - t2).toBeLessThan(1000);
  });
});

describe('createTokenizer errors', () => {
  const base = () => new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.pre', 'qwen2'], ['tokenizer.ggml.tokens', ['a', 'b', 'ab']],
    ['tokenizer.ggml.merges', ['a b']],
  ]);
  it('names the file for an unsupported model', () => {
    const m = base();
    m.set('tokenizer.ggml.model', 't5');
    expect(() => createTokenizer(m, { path: '/models/x.gguf' })).toThrow(TokenizerError);
    expect(() => createTokenizer(m, { path: '/models/x.gguf' })).toThrow(/t5.*\/models\/x\.gguf/);
  });
  it('rejects an unknown pre-tokenizer and missing keys', () => {
    const m = base();
    m.set('tokenizer.ggml.pre', 'no-such-pre');
    expect(() => createTokenizer(m, { path: 'p.gguf' })).toThrow(/no-such-pre.*p\.gguf/);
    const m2 = base();
    m2.delete('tokenizer.ggml.merges');
    expect(() => createTokenizer(m2, { path: 'p.gguf' })).toThrow(/merges.*p\.gguf/);
    const m3 = base();
    m3.delete('tokenizer.ggml.model');
    expect(() => createTokenizer(m3)).toThrow(TokenizerError);
  });
  it('merges a tiny BPE vocabulary by rank', () => {
    const tok = createTokenizer(base());
    expect(tok.encode('abab', { addSpecial: false })).toEqual([2, 2]);
    expect(() => tok.tokenText(3)).toThrow(TokenizerError);
  });
});
