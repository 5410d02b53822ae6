/**
 * SentencePiece-style tokenization (llama.cpp llm_tokenizer_spm_session): start from single code points, keep
 * merging the adjacent pair whose concatenation is the highest-scoring vocabulary entry, then emit each
 * remaining piece as its token or, when it is not in the vocabulary, as <0xXX> byte tokens.
 */
import { BigramQueue } from './bigram-queue.ts';
import { TokenizerError } from './errors.ts';
import { putUtf8 } from './unicode.ts';
import type { Vocab } from './vocab.ts';

export class SpmSession {
  // Symbols, one per code point at first; [capacity]. start/len are in UTF-16 units of the escaped text.
  private start = new Int32Array(1024);
  private len = new Int32Array(1024);
  private prev = new Int32Array(1024);
  private next = new Int32Array(1024);
  private readonly queue = new BigramQueue();
  private readonly popped = new Int32Array(3);
  private readonly bytes = new Uint8Array(4);
  /** Token of each byte value (<0xXX>, else the 1-byte string), -1 if none. [256] */
  private readonly byteToken = new Int32Array(256);

  constructor(private readonly vocab: Vocab, private readonly path: string | undefined) {
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      this.byteToken[b] = vocab.textToId.get(hex) ?? (b < 0x80 ? vocab.textToId.get(String.fromCharCode(b)) : undefined) ?? -1;
    }
  }

  /** Tokenizes `text` (spaces already escaped to ▁) and appends the ids to `out`. */
  tokenize(text: string, out: number[]): void {
    if (text.length === 0) return;
    this.reserve(text.length);
    let n = 0;
    for (let i = 0; i < text.length; n++) {
      const c = text.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
      this.start[n] = i;
      this.len[n] = w;
      this.prev[n] = n - 1;
      i += w;
      this.next[n] = i === text.length ? -1 : n + 1;
    }
    const q = this.queue;
    q.clear();
    for (let i = 1; i < n; i++) this.tryAddBigram(text, i - 1, i);
    const p = this.popped;
    while (q.length > 0) {
      q.pop(p);
      const l = p[0], r = p[1];
      if (this.len[l] === 0 || this.len[r] === 0 || this.len[l] + this.len[r] !== p[2]) continue;
      this.len[l] += this.len[r];
      this.len[r] = 0;
      this.next[l] = this.next[r];
      if (this.next[r] >= 0) this.prev[this.next[r]] = l;
      this.tryAddBigram(text, this.prev[l], l);
      this.tryAddBigram(text, l, this.next[l]);
    }
    for (let i = 0; i !== -1; i = this.next[i]) this.resegment(text, i, out);
  }

  private tryAddBigram(text: string, l: number, r: number): void {
    if (l === -1 || r === -1) return;
    const size = this.len[l] + this.len[r];
    const id = this.vocab.textToId.get(text.substr(this.start[l], size));
    if (id === undefined) return;
    this.queue.push(-this.vocab.scores[id], l, r, size);
  }

  /**
   * Emits one final symbol. Merged symbols are always vocabulary entries; a lone code point may not be, and
   * then goes out as byte tokens (llama.cpp's rev_merge lookup can never hit for a single code point).
   */
  private resegment(text: string, i: number, out: number[]): void {
    const piece = text.substr(this.start[i], this.len[i]);
    const id = this.vocab.textToId.get(piece);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    const nb = putUtf8(piece.codePointAt(0)!, this.bytes, 0);
    for (let j = 0; j < nb; j++) {
      const t = this.byteToken[this.bytes[j]];
      if (t >= 0) out.push(t);
      else if (this.vocab.unk !== null) out.push(this.vocab.unk);
      else throw new TokenizerError(`no byte token for 0x${this.bytes[j].toString(16)} and no unknown token${this.path ? ` in ${this.path}` : ''}`);
    }
  }

  private reserve(n: number): void {
    if (this.start.length >= n) return;
    const cap = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
  }
}
