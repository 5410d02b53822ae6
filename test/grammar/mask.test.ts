/**
 * Token masks from the trie walk against a brute-force reference: for every token, walk its bytes from the
 * state one by one (GrammarAutomaton.walk) and check the end state (and its completion distance under a budget).
 * Real vocabularies: Llama 3 (byte-level BPE, 128k tokens, many partial-UTF-8 tokens) and Llama 2 (SPM with
 * byte fallback).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { GgufValue } from '../../src/gguf/types.ts';
import { GrammarConstraint, TokenMasker } from '../../src/grammar/constraint.ts';
import type { GrammarAutomaton } from '../../src/grammar/automaton.ts';
import { TokenTrie } from '../../src/grammar/token-trie.ts';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { llama2VocabMetadata, llama3VocabMetadata } from '../fixtures/vocab.ts';
import { automatonOf, randomSentence } from './helpers.ts';
import { SCHEMAS } from './schemas.ts';

const tokenizers = new Map<() => Record<string, GgufValue>, Tokenizer>();
function tokenizerOf(meta: () => Record<string, GgufValue>): Tokenizer {
  let t = tokenizers.get(meta);
  if (!t) tokenizers.set(meta, (t = createTokenizer(new Map(Object.entries(meta()).map(([k, v]) => [k, v.value])))));
  return t;
}

/** Allowed token ids by brute force: each token's bytes walked from `state`; EOG only when the state accepts. */
function bruteForce(a: GrammarAutomaton, tok: Tokenizer, state: number, budget: number): number[] {
  const out: number[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    if (tok.isEog(id)) {
      if (a.accepts(state)) out.push(id);
      continue;
    }
    const b = tok.tokenBytes(id);
    if (b.length === 0) continue;
    const s = a.walk(state, b);
    if (s >= 0 && a.distance(s) <= budget) out.push(id);
  }
  return out;
}

function ids(bits: Uint32Array, n: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < n; t++) if ((bits[t >>> 5] >>> (t & 31)) & 1) out.push(t);
  return out;
}

/** States met along a random sentence of the schema (every `every`-th byte). */
function statesAlong(a: GrammarAutomaton, seed: number, every: number): number[] {
  const bytes = new TextEncoder().encode(randomSentence(a, seed, 24));
  const states = [a.start];
  let s = a.start;
  for (let i = 0; i < bytes.length; i++) {
    s = a.step(s, bytes[i]);
    if (i % every === every - 1) states.push(s);
  }
  return states;
}

const CASES: [string, () => Record<string, GgufValue>][] = [
  ['llama3', llama3VocabMetadata],
  ['llama2', llama2VocabMetadata],
];

describe.each(CASES)('%s vocabulary', (_, meta) => {
  let tok: Tokenizer;
  beforeAll(() => {
    tok = tokenizerOf(meta);
  });

  it('the trie holds every token with bytes once, at its path', () => {
    const t = TokenTrie.of(tok);
    const seen = new Set<number>();
    const path: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < t.nNodes; i++) {
      path.length = t.depth[i] - 1;
      path.push(t.byte[i]);
      for (let k = t.tokStart[i]; k < t.tokStart[i + 1]; k++) {
        const id = t.tokens[k];
        if (Array.from(tok.tokenBytes(id)).join() !== path.join()) wrong.push(id);
        seen.add(id);
      }
    }
    expect(wrong).toEqual([]);
    let withBytes = 0;
    for (let id = 0; id < tok.vocabSize; id++) if (!tok.isEog(id) && tok.tokenBytes(id).length > 0) withBytes++;
    expect(seen.size).toBe(withBytes);
    expect(t.eog.length).toBeGreaterThan(0);
  });

  it.each(['person', 'free-form object', 'unicode enum', 'string 2..5', 'array of integers 1..3'])('masks of "%s" equal brute force, with and without a budget', (name) => {
    const a = automatonOf(SCHEMAS.find(([n]) => n === name)![1]);
    const masker = TokenMasker.of(a, tok);
    const bits = new Uint32Array(Math.ceil(tok.vocabSize / 32));
    for (const state of statesAlong(a, name.length, 5).slice(0, 6)) {
      for (const budget of [Infinity, 1, 4]) {
        masker.fill(state, bits, budget);
        const fast = ids(bits, tok.vocabSize);
        const slow = bruteForce(a, tok, state, budget);
        expect(fast.length, `state ${state} budget ${budget}`).toBe(slow.length);
        expect(fast).toEqual(slow);
      }
    }
  });

  it('apply: −Infinity exactly on disallowed tokens, other logits untouched', () => {
    const a = automatonOf({ type: 'object', properties: { k: { type: 'string' } }, required: ['k'] });
    const c = GrammarConstraint.create(a, tok);
    const logits = Float32Array.from({ length: tok.vocabSize }, (_, i) => Math.sin(i));
    c.apply(logits);
    const allowed = new Set(bruteForce(a, tok, a.start, Infinity));
    const wrong: number[] = [];
    for (let i = 0; i < tok.vocabSize; i++) {
      if (logits[i] !== (allowed.has(i) ? Math.fround(Math.sin(i)) : -Infinity)) wrong.push(i);
    }
    expect(allowed.size).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
  });
});

describe('partial UTF-8 tokens (Llama 3)', () => {
  it('a lead byte inside a string allows only continuation bytes next, never the closing quote', () => {
    const tok = tokenizerOf(llama3VocabMetadata);
    const byteToken = (b: number) => {
      for (let id = 0; id < tok.vocabSize; id++) {
        const x = tok.tokenBytes(id);
        if (x.length === 1 && x[0] === b) return id;
      }
      throw new Error(`no single-byte token ${b}`);
    };
    const a = automatonOf({ type: 'string' });
    const c = GrammarConstraint.create(a, tok);
    c.accept(byteToken(0x22)); // "
    c.accept(byteToken(0xe6)); // first byte of a 3-byte character
    const logits = new Float32Array(tok.vocabSize);
    c.apply(logits);
    let n = 0;
    const wrong: number[] = [];
    for (let id = 0; id < tok.vocabSize; id++) {
      if (logits[id] === -Infinity) continue;
      n++;
      const x = tok.tokenBytes(id);
      if (!(x[0] >= 0x80 && x[0] <= 0xbf)) wrong.push(id);
    }
    expect(n).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    expect(() => c.accept(byteToken(0x22))).toThrow(/does not continue/);
    c.accept(byteToken(0x97));
    c.accept(byteToken(0xa5));
    c.accept(byteToken(0x22));
    expect(c.finished).toBe(true);
    expect(c.text()).toBe('"日"');
  });
});
