/**
 * Byte-level BPE (llama.cpp llm_tokenizer_bpe_session): pre-tokenize into words, map each word's UTF-8 bytes
 * to the GPT-2 byte alphabet, then repeatedly merge the adjacent pair with the lowest merge rank.
 *
 * Merges are keyed by interned ids instead of strings: every vocabulary entry keeps its token id, every other
 * string that occurs in a merge gets an id ≥ n_vocab, and (left id, right id) → rank is one hash lookup.
 */
import { BigramQueue } from './bigram-queue.ts';
import { PairMap } from './pair-map.ts';
import { preTokenize, type PreTokenizerSpec } from './pre-tokenize.ts';
import { BYTE_TO_CHAR, codepointsOf, putUtf8 } from './unicode.ts';
import type { Vocab } from './vocab.ts';

/** Words cached per tokenizer before the cache is dropped and refilled. */
const WORD_CACHE_LIMIT = 65536;

export class BpeSession {
  private readonly nVocab: number;
  private readonly spec: PreTokenizerSpec;
  /** (left id, right id) → merge rank. */
  private readonly rankOf: PairMap;
  /** Interned id of the string each merge produces, [n_merges]; -1 until first needed. */
  private readonly mergeResult: Int32Array;
  /** Interned ids of strings that are not vocabulary entries (all ≥ n_vocab). */
  private readonly extra = new Map<string, number>();
  /** Interned id of each byte's stand-in character, -1 if it occurs nowhere. [256] */
  private readonly byteSym = new Int32Array(256);
  /** Token of each byte's stand-in character, -1 if not in the vocabulary. [256] */
  private readonly byteTok = new Int32Array(256);
  private readonly wordCache = new Map<string, number[]>();

  // Per-word scratch, [capacity] in bytes of the word.
  private wordBytes = new Uint8Array(256);
  private symId = new Int32Array(256);
  private symStart = new Int32Array(256);
  private symLen = new Int32Array(256);
  private prev = new Int32Array(256);
  private next = new Int32Array(256);
  private readonly queue = new BigramQueue();
  private readonly popped = new Int32Array(3);
  private readonly cpts: number[] = [];

  constructor(private readonly vocab: Vocab) {
    this.nVocab = vocab.tokens.length;
    this.spec = vocab.pre!;
    const extra = this.extra;
    const merges = vocab.merges;
    this.rankOf = new PairMap(merges.length);
    this.mergeResult = new Int32Array(merges.length).fill(-1);
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      const sp = m.indexOf(' ', 1);
      if (sp < 0) continue; // llama.cpp files it under ("", ""), which no symbol pair can match
      const a = m.slice(0, sp);
      const b = m.slice(sp + 1);
      this.rankOf.setIfAbsent(this.intern(a), this.intern(b), i);
    }
    for (let b = 0; b < 256; b++) {
      const c = BYTE_TO_CHAR[b];
      this.byteTok[b] = vocab.textToId.get(c) ?? -1;
      this.byteSym[b] = vocab.textToId.get(c) ?? extra.get(c) ?? -1;
    }
  }

  /** Tokenizes one raw-text fragment and appends the ids to `out`. */
  tokenize(text: string, out: number[]): void {
    const cpts = codepointsOf(text, this.cpts);
    const lengths = preTokenize(cpts, this.spec);
    let cp = 0; // code point offset
    let u = 0; // UTF-16 offset
    for (const len of lengths) {
      const u0 = u;
      for (let k = 0; k < len; k++) u += cpts[cp + k] >= 0x10000 ? 2 : 1;
      const key = text.slice(u0, u);
      let ids = this.wordCache.get(key);
      if (ids === undefined) {
        ids = [];
        this.tokenizeWord(cpts, cp, len, ids);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(key, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]);
      cp += len;
    }
  }

  private tokenizeWord(cpts: readonly number[], from: number, count: number, out: number[]): void {
    // UTF-8 bytes of the word; each becomes one symbol (one character of the byte-level alphabet).
    if (this.wordBytes.length < count * 4) this.reserve(count * 4);
    let n = 0;
    for (let k = 0; k < count; k++) n = putUtf8(cpts[from + k], this.wordBytes, n);
    const bytes = this.wordBytes;

    if (this.spec.ignoreMerges) {
      let encoded = '';
      for (let i = 0; i < n; i++) encoded += BYTE_TO_CHAR[bytes[i]];
      const id = this.vocab.textToId.get(encoded);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }

    for (let i = 0; i < n; i++) {
      this.symId[i] = this.byteSym[bytes[i]];
      this.symStart[i] = i;
      this.symLen[i] = 1;
      this.prev[i] = i - 1;
      this.next[i] = i + 1 === n ? -1 : i + 1;
    }
    const q = this.queue;
    q.clear();
    for (let i = 1; i < n; i++) this.addBigram(i - 1, i);
    const p = this.popped;
    while (q.length > 0) {
      const rank = q.pop(p);
      const l = p[0], r = p[1];
      if (this.symLen[l] === 0 || this.symLen[r] === 0 || this.symLen[l] + this.symLen[r] !== p[2]) continue;
      this.symId[l] = this.resultOf(rank);
      this.symLen[l] += this.symLen[r];
      this.symLen[r] = 0;
      this.next[l] = this.next[r];
      if (this.next[r] >= 0) this.prev[this.next[r]] = l;
      this.addBigram(this.prev[l], l);
      this.addBigram(l, this.next[l]);
    }
    for (let i = 0; i < n; i++) {
      if (this.symLen[i] === 0) continue;
      const id = this.symId[i];
      if (id >= 0 && id < this.nVocab) {
        out.push(id);
        continue;
      }
      // Not a token: one token per byte, skipping bytes the vocabulary lacks (as llama.cpp does).
      for (let j = this.symStart[i], e = j + this.symLen[i]; j < e; j++) {
        const t = this.byteTok[bytes[j]];
        if (t >= 0) out.push(t);
      }
    }
  }

  private intern(s: string): number {
    let id = this.vocab.textToId.get(s) ?? this.extra.get(s);
    if (id === undefined) {
      id = this.nVocab + this.extra.size;
      this.extra.set(s, id);
    }
    return id;
  }

  /** Interned id of what merge `rank` produces ("a b" → "ab"), computed once. */
  private resultOf(rank: number): number {
    let id = this.mergeResult[rank];
    if (id < 0) {
      const m = this.vocab.merges[rank];
      const sp = m.indexOf(' ', 1);
      id = this.mergeResult[rank] = this.intern(m.slice(0, sp) + m.slice(sp + 1));
    }
    return id;
  }

  private addBigram(l: number, r: number): void {
    if (l === -1 || r === -1) return;
    const a = this.symId[l], b = this.symId[r];
    if (a < 0 || b < 0) return;
    const rank = this.rankOf.get(a, b);
    if (rank < 0) return;
    this.queue.push(rank, l, r, this.symLen[l] + this.symLen[r]);
  }

  private reserve(n: number): void {
    const cap = Math.max(n, this.wordBytes.length * 2);
    this.wordBytes = new Uint8Array(cap);
    this.symId = new Int32Array(cap);
    this.symStart = new Int32Array(cap);
    this.symLen = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
  }
}
