/**
 * WordPiece (BERT, `tokenizer.ggml.model = bert`) as llama.cpp's llm_tokenizer_wpm_session does it:
 *
 * 1. Split into words: whitespace ends a word; punctuation, ASCII symbols and CJK ideographs are words of
 *    their own; NUL, U+FFFD and control characters are dropped. With the BertNormalizer options
 *    (`tokenizer.ggml.normalizer.lowercase` / `.strip_accents`) code points are lowercased, reduced to
 *    their NFD base and combining marks dropped.
 * 2. Each word, prefixed with "▁" (word start, how llama.cpp's converter stores BERT's non-"##" pieces),
 *    is cut greedily into the longest vocabulary entries from the left; a word with an unmatched rest
 *    becomes [UNK] as a whole.
 */
import { CPT_ACCENT_MARK, CPT_CONTROL, CPT_PUNCTUATION, CPT_SYMBOL, CPT_WHITESPACE, cptFlags, nfdBase, toLower } from './unicode.ts';
import type { Vocab } from './vocab.ts';

const encoder = new TextEncoder();

function isChineseChar(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f)
  );
}

export class WpmSession {
  /** Longest token, in UTF-8 bytes (llama.cpp max_token_len). */
  private readonly maxTokenLen: number;

  constructor(private readonly vocab: Vocab) {
    let max = 0;
    for (const t of vocab.tokens) max = Math.max(max, encoder.encode(t).length);
    this.maxTokenLen = max;
  }

  /** Appends the ids of raw text `text` (no special tokens) to `out`. */
  tokenize(text: string, out: number[]): void {
    const v = this.vocab;
    for (const word of this.words(text)) {
      // Code points of "▁" + word with their UTF-8 lengths: llama.cpp cuts bytes, but only whole code
      // points can match a (valid UTF-8) token, so cutting at code point boundaries is the same.
      const cps = ['\u2581', ...word];
      const bytes = cps.map((c) => encoder.encode(c).length);
      const start = out.length;
      let ok = true;
      for (let i = 0; i < cps.length; ) {
        let found = -1;
        let len = 0;
        let end = i;
        // Longest first: extend while the byte length stays within max_token_len.
        let b = 0;
        while (end < cps.length && b + bytes[end] <= this.maxTokenLen) b += bytes[end++];
        for (let j = end; j > i; j--) {
          const id = v.textToId.get(cps.slice(i, j).join(''));
          if (id !== undefined) {
            found = id;
            len = j - i;
            break;
          }
        }
        if (found < 0) {
          ok = false;
          break;
        }
        out.push(found);
        i += len;
      }
      if (!ok) out.length = start;
      if (out.length === start) out.push(v.unk ?? 0);
    }
  }

  /** llm_tokenizer_wpm_session::preprocess. */
  private words(text: string): string[] {
    const { lowercase, stripAccents } = this.vocab.normalizer;
    const words: string[] = [''];
    for (const ch of text) {
      let cpt = ch.codePointAt(0)!;
      if (stripAccents) cpt = nfdBase(cpt);
      const flags = cptFlags(cpt);
      if (flags & CPT_WHITESPACE) {
        if (words[words.length - 1]) words.push('');
        continue;
      }
      if (cpt === 0 || cpt === 0xfffd || flags & CPT_CONTROL) continue;
      if (stripAccents && flags & CPT_ACCENT_MARK) continue;
      const s = String.fromCodePoint(lowercase ? toLower(cpt) : cpt);
      if (flags & CPT_PUNCTUATION || (cpt < 0x7f && flags & CPT_SYMBOL) || isChineseChar(cpt)) {
        if (words[words.length - 1]) words.push('');
        words[words.length - 1] = s;
        words.push('');
      } else {
        words[words.length - 1] += s;
      }
    }
    if (!words[words.length - 1]) words.pop();
    return words;
  }
}
