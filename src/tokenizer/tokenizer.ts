/**
 * Tokenizer built from GGUF metadata, matching llama.cpp token for token (llama_vocab::impl::tokenize and
 * detokenize). Supports `tokenizer.ggml.model` = llama (SentencePiece-style), gpt2 (byte-level BPE) and bert (WordPiece).
 */
import { BpeSession } from './bpe.ts';
import { TokenizerError } from './errors.ts';
import { SpmSession } from './spm.ts';
import { WpmSession } from './wpm.ts';
import { CHAR_TO_BYTE, utf8Decoder, utf8Encoder } from './unicode.ts';
import { ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED, loadVocab, type Vocab } from './vocab.ts';

export interface EncodeOptions {
  /** Add BOS/EOS as the GGUF's add_bos_token/add_eos_token say. Default true. */
  addSpecial?: boolean;
  /** Recognise control-token text (e.g. `<|eot_id|>`) in the input. Default true. User-defined tokens are always recognised. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Render control and unknown tokens as nothing (default false: as their text). */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text of `ids`, as llama_detokenize(remove_special = false, unparse_special = !skipSpecial). */
  decode(ids: number[], opts?: DecodeOptions): string;
  /**
   * Bytes this token adds to generated output, for streaming UTF-8 decoding: byte tokens give their byte,
   * SPM ▁ becomes a space, byte-level BPE characters their bytes, user-defined tokens their text; control
   * and unknown tokens give nothing. Shared, read-only; no allocation after a token's first call.
   */
  tokenBytes(id: number): Uint8Array;
  /** End of generation: eos, eot, eom and the other tokens llama.cpp treats so. */
  isEog(id: number): boolean;
  /** The token's string as stored in the GGUF (e.g. "Ġworld", "▁world", "<|eot_id|>"). */
  tokenText(id: number): string;
}

/** A raw-text range [start, end) of the input (UTF-16 units), or a special token already recognised. */
type Fragment = { token: number; start: 0; end: 0 } | { token: -1; start: number; end: number };

const EMPTY = new Uint8Array(0);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  private readonly spm: SpmSession | null;
  private readonly bpe: BpeSession | null;
  private readonly wpm: WpmSession | null;
  /** Pieces (llama.cpp token_to_piece with special = true), concatenated: bytes of token i are pieceBytes[pieceStart[i] .. pieceStart[i+1]). */
  private readonly pieceBytes: Uint8Array;
  private readonly pieceStart: Int32Array;
  /** Lazily created views of pieceBytes for tokenBytes(), [n_vocab]. */
  private readonly pieceViews: (Uint8Array | undefined)[];

  constructor(private readonly vocab: Vocab, private readonly path: string | undefined) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.spm = vocab.kind === 'spm' ? new SpmSession(vocab, path) : null;
    this.bpe = vocab.kind === 'bpe' ? new BpeSession(vocab) : null;
    this.wpm = vocab.kind === 'wpm' ? new WpmSession(vocab) : null;
    const pieces = vocab.tokens.map((_, i) => this.piece(i));
    this.pieceStart = new Int32Array(pieces.length + 1);
    let total = 0;
    for (let i = 0; i < pieces.length; i++) {
      this.pieceStart[i] = total;
      total += pieces[i].length;
    }
    this.pieceStart[pieces.length] = total;
    this.pieceBytes = new Uint8Array(total);
    for (let i = 0; i < pieces.length; i++) this.pieceBytes.set(pieces[i], this.pieceStart[i]);
    this.pieceViews = new Array(pieces.length);
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const addSpecial = opts?.addSpecial ?? true;
    const parseSpecial = opts?.parseSpecial ?? true;
    const v = this.vocab;
    text = text.replace(LONE_SURROGATE, '\uFFFD');
    const out: number[] = [];
    const fragments = text.length > 0 ? this.partition(text, parseSpecial) : [];
    if (this.wpm) {
      // llama.cpp: [CLS] text [SEP] whenever special tokens are added, whatever add_bos says.
      if (addSpecial) out.push(this.required(v.bos, 'BOS ([CLS])'));
      for (const f of fragments) {
        if (f.token >= 0) out.push(f.token);
        else this.wpm.tokenize(text.slice(f.start, f.end), out);
      }
      if (addSpecial) out.push(this.required(v.sep, 'SEP'));
      return out;
    }
    if (addSpecial && v.addBos) out.push(this.required(v.bos, 'BOS'));
    if (this.spm) {
      let prevSpecial = true; // prefix the first fragment with a space, and every fragment after a special token
      for (const f of fragments) {
        if (f.token >= 0) {
          out.push(f.token);
          prevSpecial = true;
          continue;
        }
        let s = text.slice(f.start, f.end);
        if (v.addSpacePrefix && prevSpecial) s = ' ' + s;
        this.spm.tokenize(s.replaceAll(' ', '\u2581'), out);
        prevSpecial = false;
      }
    } else {
      for (const f of fragments) {
        if (f.token >= 0) out.push(f.token);
        else this.bpe!.tokenize(text.slice(f.start, f.end), out);
      }
    }
    if (addSpecial && v.addEos) out.push(this.required(v.eos, 'EOS'));
    return out;
  }

  /** tokenizer_st_partition: cut special-token text out of the raw input, longest special first. */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    const v = this.vocab;
    let frags: Fragment[] = [{ token: -1, start: 0, end: text.length }];
    for (const id of v.specialCache) {
      if (!parseSpecial && v.attrs[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
      const st = v.tokens[id];
      if (!text.includes(st)) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if (f.token >= 0) {
          next.push(f);
          continue;
        }
        let at = f.start;
        for (;;) {
          const m = text.indexOf(st, at);
          if (m < 0 || m + st.length > f.end) break;
          if (m > at) next.push({ token: -1, start: at, end: m });
          next.push({ token: id, start: 0, end: 0 });
          at = m + st.length;
        }
        if (at < f.end) next.push({ token: -1, start: at, end: f.end });
      }
      frags = next;
    }
    return frags;
  }

  decode(ids: number[], opts?: DecodeOptions): string {
    const special = !(opts?.skipSpecial ?? false);
    const v = this.vocab;
    let total = 0;
    for (const id of ids) {
      this.check(id);
      total += this.pieceStart[id + 1] - this.pieceStart[id];
    }
    const buf = new Uint8Array(total);
    let n = 0;
    let removeSpace = v.addSpacePrefix;
    for (const id of ids) {
      if (!special && v.attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) {
        removeSpace = false;
        continue;
      }
      let s = this.pieceStart[id];
      const e = this.pieceStart[id + 1];
      if (removeSpace && s < e && this.pieceBytes[s] === 0x20) s++;
      removeSpace = false;
      buf.set(this.pieceBytes.subarray(s, e), n);
      n += e - s;
    }
    if (v.cleanSpaces) n = cleanSpaces(buf, n);
    return utf8Decoder.decode(buf.subarray(0, n));
  }

  tokenBytes(id: number): Uint8Array {
    const view = this.pieceViews[id];
    if (view !== undefined) return view;
    this.check(id);
    const hidden = this.vocab.attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL);
    const made = hidden ? EMPTY : this.pieceBytes.subarray(this.pieceStart[id], this.pieceStart[id + 1]);
    this.pieceViews[id] = made;
    return made;
  }

  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  tokenText(id: number): string {
    this.check(id);
    return this.vocab.tokens[id];
  }

  /** llama.cpp token_to_piece(special = true) for token i. */
  private piece(i: number): Uint8Array {
    const v = this.vocab;
    const text = v.tokens[i];
    const attr = v.attrs[i];
    if (attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) return utf8Encoder.encode(text);
    if (attr & ATTR_NORMAL) {
      if (v.kind === 'spm' || v.kind === 'wpm') return utf8Encoder.encode(text.replaceAll('\u2581', ' '));
      return decodeByteLevel(text);
    }
    if (attr & ATTR_BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    return EMPTY;
  }

  private required(id: number | null, what: string): number {
    if (id === null) throw new TokenizerError(`the tokenizer adds ${what} but has no ${what} token${this.path ? ` in ${this.path}` : ''}`);
    return id;
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(`token id ${id} out of range [0, ${this.vocabSize})${this.path ? ` in ${this.path}` : ''}`);
    }
  }
}

/** llama_decode_text: byte-level alphabet characters → bytes; characters outside it → "[UNK_BYTE_0x…]" as llama.cpp writes. */
function decodeByteLevel(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
    if (b >= 0) out.push(b);
    else {
      const utf8 = utf8Encoder.encode(ch);
      const hex = Array.from(utf8, (x) => x.toString(16).padStart(2, '0')).join('');
      out.push(...utf8Encoder.encode(`[UNK_BYTE_0x${hex}${text}]`));
    }
  }
  return Uint8Array.from(out);
}

/** The three clean_up_tokenization_spaces passes of llama_vocab::impl::detokenize, in place; returns the new length. */
function cleanSpaces(t: Uint8Array, total: number): number {
  const SP = 0x20, Q = 0x3f, EX = 0x21, DOT = 0x2e, COMMA = 0x2c, AP = 0x27;
  // " ?", " !", " .", " ,"
  let n = total ? 1 : 0;
  for (let i = 1; i < total; i++) {
    const x = t[i];
    if (t[i - 1] === SP && (x === Q || x === EX || x === DOT || x === COMMA)) n--;
    t[n++] = x;
  }
  // " ' " → "'"
  const total2 = n;
  n = total2 ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = t[i];
    if (x === AP && i + 1 < total2 && t[i - 1] === SP && t[i + 1] === SP) {
      n--;
      t[++i] = 0;
    }
    t[n++] = x;
  }
  // " 's", " 'm", " 're", " 've" → no space
  const total3 = n;
  n = total3 ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = t[i];
    if (t[i - 1] === SP && x === AP && i + 1 < total3) {
      const x1 = t[i + 1];
      if (x1 === 0x73 || x1 === 0x6d) n--; // s, m
      else if (i + 2 < total3) {
        const x2 = t[i + 2];
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) n--; // re, ve
      }
    }
    t[n++] = x;
  }
  return n;
}

/**
 * Builds a tokenizer from a GGUF's metadata (as `openGguf(path).metadata`).
 * @throws TokenizerError for a missing key or an unsupported model/pre-tokenizer, naming `opts.path`.
 * @example
 * const file = await openGguf('model.gguf');
 * const tok = createTokenizer(file.metadata, { path: file.path });
 * tok.encode('Hello'); // [bos, ...]
 */
export function createTokenizer(metadata: Map<string, unknown>, opts?: { path?: string }): Tokenizer {
  return new GgufTokenizer(loadVocab(metadata, opts?.path), opts?.path);
}
