/**
 * Token masking: which tokens keep the generated text a prefix of some sentence of the grammar.
 *
 * `TokenMasker` (one per grammar × tokenizer, shared by requests) walks the vocabulary trie from a DFA state:
 * one successor lookup per trie node, whole subtrees skipped when their prefix dies. The result, a bitset over
 * the vocabulary, is kept per state (LRU), so a state met again (the inside of a string, the same spot of an
 * array item) costs only applying the bitset. Tokens made of partial UTF-8 need nothing special: the grammar
 * is over bytes.
 *
 * `GrammarConstraint` (one per generation) holds the current state and implements the sampler's
 * `LogitConstraint`:
 * - end-of-generation tokens are allowed only when the text is a complete sentence; once it is complete and no
 *   byte can follow (`finished`), EOG tokens are the only ones allowed, and the engine stops without even
 *   sampling one;
 * - budget: with `remaining` tokens left (num_predict, context), a token is allowed only if the fewest bytes
 *   that then complete the sentence (`GrammarAutomaton.distance`) fit in the tokens left after it. Every byte
 *   being a token in byte-level BPE and byte-fallback SPM vocabularies, a value that can be completed within
 *   num_predict always is: the model is steered to close strings, arrays and objects as the budget runs out.
 *   When even the shortest completion does not fit (num_predict smaller than the smallest valid value), the
 *   budget is ignored and generation stops mid-value with done reason "length".
 *
 * Allocation: a new state's bitset (n_vocab / 8 bytes) and the DFA's lazily built transitions; nothing per
 * token once the states in use have been met. The text buffer doubles when full.
 */
import type { LogitConstraint } from '../sampling/constraint.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { DEAD, type GrammarAutomaton } from './automaton.ts';
import { GrammarError, GrammarViolationError } from './errors.ts';
import { TokenTrie } from './token-trie.ts';

interface MaskEntry {
  /** [ceil(n_vocab / 32)] bit t set: token t allowed. */
  bits: Uint32Array;
  /** Largest completion distance among the allowed tokens' successor states. */
  maxDist: number;
}

/** Masks kept per grammar × tokenizer (each n_vocab / 8 bytes: 16 KiB for a 128k vocabulary). */
export const MASK_CACHE_ENTRIES = 256;

export class TokenMasker {
  readonly trie: TokenTrie;
  private readonly cache = new Map<number, MaskEntry>();
  /** [trie.maxDepth + 1] DFA state at each depth of the walk. */
  private readonly stateAt: Int32Array;
  /** Scratch mask for budget-restricted steps (not cached). */
  readonly scratch: Uint32Array;

  constructor(
    readonly automaton: GrammarAutomaton,
    private readonly tokenizer: Tokenizer,
  ) {
    this.trie = TokenTrie.of(tokenizer);
    this.stateAt = new Int32Array(this.trie.maxDepth + 1);
    this.scratch = new Uint32Array(Math.ceil(this.trie.nVocab / 32));
  }

  /** The masker of `automaton` for `tokenizer` (shared, so its mask cache serves every request). */
  static of(automaton: GrammarAutomaton, tokenizer: Tokenizer): TokenMasker {
    let byTok = maskers.get(automaton);
    if (!byTok) maskers.set(automaton, (byTok = new WeakMap()));
    let m = byTok.get(tokenizer);
    if (!m) byTok.set(tokenizer, (m = new TokenMasker(automaton, tokenizer)));
    return m;
  }

  bytesOf(token: number): Uint8Array {
    return this.tokenizer.tokenBytes(token);
  }

  /** Allowed tokens from `state` with no budget (cached). */
  maskOf(state: number): MaskEntry {
    const hit = this.cache.get(state);
    if (hit) {
      this.cache.delete(state);
      this.cache.set(state, hit);
      return hit;
    }
    const bits = new Uint32Array(this.scratch.length);
    const entry = { bits, maxDist: this.fill(state, bits, Infinity) };
    if (this.cache.size >= MASK_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(state, entry);
    return entry;
  }

  /**
   * Sets in `bits` the tokens allowed from `state` whose successor can be completed in ≤ `budget` bytes.
   * @returns the largest such completion distance.
   */
  fill(state: number, bits: Uint32Array, budget: number): number {
    bits.fill(0);
    const A = this.automaton;
    const { byte, depth, end, tokStart, tokens, nNodes, eog } = this.trie;
    const st = this.stateAt;
    st[0] = state;
    const dist = A.stateDist;
    let trans = A.trans;
    let maxDist = 0;
    for (let i = 0; i < nNodes; ) {
      const from = st[depth[i] - 1];
      let s = trans[from * 256 + byte[i]];
      if (s === -2) {
        s = A.compute(from, byte[i]);
        trans = A.trans; // may have grown
      }
      if (s === DEAD) {
        i = end[i];
        continue;
      }
      st[depth[i]] = s;
      const a = tokStart[i];
      const b = tokStart[i + 1];
      if (a < b) {
        const d = dist[s];
        if (d <= budget) {
          if (d > maxDist) maxDist = d;
          for (let k = a; k < b; k++) {
            const t = tokens[k];
            bits[t >>> 5] |= 1 << (t & 31);
          }
        }
      }
      i++;
    }
    if (A.accepts(state)) for (const t of eog) bits[t >>> 5] |= 1 << (t & 31);
    return maxDist;
  }
}

const maskers = new WeakMap<GrammarAutomaton, WeakMap<Tokenizer, TokenMasker>>();

function isEmpty(bits: Uint32Array): boolean {
  for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) return false;
  return true;
}

const decoder = new TextDecoder();

export class GrammarConstraint implements LogitConstraint {
  private state: number;
  private ended = false;
  /** Tokens that may still be generated, this one included (Infinity: no limit). Set before each sample. */
  remaining = Infinity;
  /** UTF-8 text accepted so far: buf[0..len). */
  private buf = new Uint8Array(256);
  private len = 0;

  constructor(private readonly masker: TokenMasker) {
    this.state = masker.automaton.start;
  }

  static create(automaton: GrammarAutomaton, tokenizer: Tokenizer): GrammarConstraint {
    return new GrammarConstraint(TokenMasker.of(automaton, tokenizer));
  }

  /** The text is a complete sentence (end-of-generation is allowed). */
  get complete(): boolean {
    return this.masker.automaton.accepts(this.state);
  }

  /** Complete, and no byte can follow: generation should end now. */
  get finished(): boolean {
    return this.ended || this.masker.automaton.isFinal(this.state);
  }

  /** Fewest bytes that would complete the text. */
  get distance(): number {
    return this.masker.automaton.distance(this.state);
  }

  /** Sets the logits of disallowed tokens to −Infinity. `logits`: [n_vocab] (ids past the tokenizer's vocabulary are disallowed). */
  apply(logits: Float32Array): void {
    const m = this.masker;
    if (this.ended) throw new GrammarViolationError('the constrained text already ended');
    const entry = m.maskOf(this.state);
    let bits = entry.bits;
    // Tokens left after this one; the restriction applies when completing is still possible (distance ≤ remaining).
    const budget = this.remaining - 1;
    if (budget < entry.maxDist && this.distance <= this.remaining) {
      m.fill(this.state, m.scratch, budget);
      if (!isEmpty(m.scratch)) bits = m.scratch; // empty only when the vocabulary lacks single-byte tokens
    }
    if (isEmpty(bits)) throw new GrammarError('no token of the vocabulary continues the constrained text');
    applyBits(logits, bits, m.trie.nVocab);
  }

  /** Advance over a sampled token. @throws GrammarViolationError when the grammar does not allow it. */
  accept(token: number): void {
    const m = this.masker;
    if (this.ended) throw new GrammarViolationError('the constrained text already ended');
    if (m.trie.eog.includes(token)) {
      if (!this.complete) throw new GrammarViolationError(`end of generation (token ${token}) before the constrained text is complete`);
      this.ended = true;
      return;
    }
    const bytes = m.bytesOf(token);
    const next = m.automaton.walk(this.state, bytes);
    if (next === DEAD || bytes.length === 0) throw new GrammarViolationError(`token ${token} (${JSON.stringify(decoder.decode(bytes))}) does not continue the constrained text`);
    this.state = next;
    if (this.len + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + bytes.length));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** The text accepted so far. */
  text(): string {
    return decoder.decode(this.buf.subarray(0, this.len));
  }
}

/** logits[t] = −Infinity where bit t of `bits` is clear (and for t ≥ nBits). */
function applyBits(logits: Float32Array, bits: Uint32Array, nBits: number): void {
  const n = logits.length;
  const words = Math.min(bits.length, Math.ceil(n / 32));
  for (let w = 0; w < words; w++) {
    const x = bits[w];
    if (x === -1 >>> 0) continue;
    const base = w * 32;
    const lim = Math.min(32, n - base);
    if (x === 0) {
      logits.fill(-Infinity, base, base + lim);
      continue;
    }
    for (let j = 0; j < lim; j++) if (((x >>> j) & 1) === 0) logits[base + j] = -Infinity;
  }
  if (n > nBits) logits.fill(-Infinity, nBits, n);
}
