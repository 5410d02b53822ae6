/**
 * Cost of structured-output token masking on Llama 3's 128,256-token vocabulary.
 *
 *   npm run build && node dist/bench/grammar-mask.js            (Node, as the engine runs)
 *
 * Reports, in milliseconds per call (median of repeats):
 * - trie build: once per tokenizer;
 * - walk, cold: the first mask from a state (the trie walk also builds the DFA transitions it needs);
 * - walk, warm: the trie walk over states whose transitions exist (a state met for the first time in a
 *   later request, or a budget-restricted step);
 * - cached step: `GrammarConstraint.apply` on a state whose mask is cached (copy-free: the bitset applied to
 *   the logits) — the common case inside strings, numbers and repeated structures;
 * - per token in generation: apply + accept over whole sampled values (random logits, temperature 1),
 *   compared with the sampler alone, averaged over every token of 50 values of three schemas.
 */
import { GrammarConstraint, TokenMasker } from '../src/grammar/constraint.ts';
import { structuredOutput } from '../src/grammar/structured.ts';
import { TokenTrie } from '../src/grammar/token-trie.ts';
import { resolveOptions } from '../src/sampling/options.ts';
import { Sampler } from '../src/sampling/sampler.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import { llama3VocabMetadata } from '../test/fixtures/vocab.ts';

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void, reps: number): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const meta = llama3VocabMetadata();
const tok = createTokenizer(new Map(Object.entries(meta).map(([k, v]) => [k, v.value])));
const V = tok.vocabSize;
const rows: [string, string][] = [];

const t0 = performance.now();
const trie = TokenTrie.of(tok);
rows.push([`trie build (${V} tokens, ${trie.nNodes} nodes)`, (performance.now() - t0).toFixed(1)]);

const person = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['name', 'age'] };
const enc = new TextEncoder();
const a = structuredOutput({ format: person })!;
const masker = TokenMasker.of(a, tok);
const bits = new Uint32Array(Math.ceil(V / 32));
const prefixes: [string, string][] = [
  ['start ({)', ''],
  ['in a key', '{"na'],
  ['in a string value', '{"name":"Jo'],
  ['in an integer', '{"name":"Jo","age":4'],
];
const states: [string, number][] = prefixes.map(([name, p]) => [name, a.walk(a.start, enc.encode(p))]);
for (const [name, s] of states) {
  const cold = time(() => masker.fill(s, bits, Infinity), 1);
  const warm = time(() => masker.fill(s, bits, Infinity), 9);
  let allowed = 0;
  for (let t = 0; t < V; t++) allowed += (bits[t >>> 5] >>> (t & 31)) & 1;
  rows.push([`walk, cold: ${name} (${allowed} allowed)`, cold.toFixed(2)]);
  rows.push([`walk, warm: ${name}`, warm.toFixed(2)]);
}
const logits = new Float32Array(V);
for (const [name, p] of prefixes) {
  const c = new GrammarConstraint(masker);
  for (const id of tok.encode(p, { addSpecial: false })) c.accept(id);
  c.apply(logits);
  rows.push([`cached step (apply): ${name}`, time(() => c.apply(logits), 21).toFixed(3)]);
}

// Generation: sample whole values from random logits, with and without the constraint.
const opts = resolveOptions({ temperature: 1, top_k: 0, top_p: 1, seed: 7 });
const rnd = new Float32Array(V);
let seed = 1;
const refill = () => {
  for (let i = 0; i < V; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    rnd[i] = (seed / 4294967296) * 6;
  }
};
let tokens = 0;
let constrainedMs = 0;
let plainMs = 0;
for (const schema of [person, { type: 'array', items: { type: 'number' }, maxItems: 8 }, 'json' as const]) {
  const g = structuredOutput({ format: schema })!;
  for (let v = 0; v < 50; v++) {
    const c = GrammarConstraint.create(g, tok);
    const s = new Sampler(V, opts, c);
    const plain = new Sampler(V, opts);
    for (let n = 0; n < 64 && !c.finished; n++) {
      refill();
      c.remaining = 64 - n;
      let t1 = performance.now();
      const id = s.sample(rnd);
      c.accept(id);
      constrainedMs += performance.now() - t1;
      t1 = performance.now();
      plain.sample(rnd);
      plainMs += performance.now() - t1;
      tokens++;
    }
  }
}
rows.push([`per token in generation, sampler + constraint (${tokens} tokens)`, (constrainedMs / tokens).toFixed(3)]);
rows.push([`per token in generation, sampler alone`, (plainMs / tokens).toFixed(3)]);
rows.push([`per token in generation, constraint overhead`, ((constrainedMs - plainMs) / tokens).toFixed(3)]);

const w = Math.max(...rows.map(([k]) => k.length));
console.log(`grammar masking, Llama 3 vocabulary (${V} tokens), ${process.version ?? 'unknown runtime'}`);
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v.padStart(9)} ms`);
