/**
 * BPE pre-tokenization: split text into words before merging, exactly as llama.cpp's unicode_regex_split.
 *
 * llama.cpp does not run the tokenizer.json regexes as written. For the common ones it runs hand-written
 * scanners (unicode_regex_split_custom_{gpt2,llama3,qwen2}) that differ from a real regex engine in corner
 * cases (code points unknown to its tables count as "not space/letter/number", lookahead stops at the fragment
 * end, …). Those are ported line by line below. Other regexes go through llama.cpp's fallback: every code
 * point is collapsed to one byte naming its category, \p{..} classes are rewritten to match those bytes, and
 * an ECMAScript regex runs over the collapsed text — which a JS RegExp reproduces.
 *
 * Offsets are counted in code points: `lengths` lists the code-point length of each consecutive piece.
 */
import {
  CPT_ACCENT_MARK, CPT_LETTER, CPT_MASK_CATEGORIES, CPT_NUMBER, CPT_PUNCTUATION, CPT_SYMBOL, CPT_UNDEFINED,
  CPT_WHITESPACE, cptFlagTable, toLowerAscii,
} from './unicode.ts';

export const REGEX_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
export const REGEX_LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const REGEX_LLAMA3_ORIG =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const REGEX_QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** How llama.cpp pre-tokenizes and post-processes one `tokenizer.ggml.pre` family (llama_vocab::impl::load). */
export interface PreTokenizerSpec {
  /** Regexes applied in sequence, each splitting the pieces of the previous one. */
  regexes: readonly string[];
  /** Take a whole pre-token as one token when the vocabulary has it, before merging (Llama 3). */
  ignoreMerges: boolean;
  /** Default of add_bos_token when the GGUF does not say. */
  addBos: boolean;
  /** detokenize() removes spaces before punctuation (clean_up_tokenization_spaces). */
  cleanSpaces: boolean;
}

const DEFAULT_SPEC: PreTokenizerSpec = {
  regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', REGEX_GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  ignoreMerges: false, addBos: false, cleanSpaces: true,
};
const GPT2_SPEC: PreTokenizerSpec = { regexes: [REGEX_GPT2], ignoreMerges: false, addBos: false, cleanSpaces: true };
const LLAMA3_SPEC: PreTokenizerSpec = { regexes: [REGEX_LLAMA3], ignoreMerges: true, addBos: true, cleanSpaces: true };
const QWEN2_SPEC: PreTokenizerSpec = { regexes: [REGEX_QWEN2], ignoreMerges: false, addBos: false, cleanSpaces: false };
const STARCODER_SPEC: PreTokenizerSpec = { regexes: ['\\p{N}', REGEX_GPT2], ignoreMerges: false, addBos: false, cleanSpaces: true };

/** `tokenizer.ggml.pre` values we implement, mapped as llama-vocab.cpp maps them. */
const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizerSpec> = new Map([
  ['default', DEFAULT_SPEC],
  ...['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'].map((n) => [n, LLAMA3_SPEC] as const),
  ...['gpt-2', 'phi-2', 'mpt', 'gigachat', 'mellum', 'exaone4'].map((n) => [n, GPT2_SPEC] as const),
  ...['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2'].map((n) => [n, QWEN2_SPEC] as const),
  ['starcoder', STARCODER_SPEC],
  ['refact', STARCODER_SPEC],
  ['smollm', STARCODER_SPEC],
  ['command-r', { ...STARCODER_SPEC, cleanSpaces: false }],
]);

/** The spec for a `tokenizer.ggml.pre` value (absent: 'default', as llama.cpp), or undefined if unsupported. */
export function preTokenizerSpec(pre: string | undefined): PreTokenizerSpec | undefined {
  return PRE_TOKENIZERS.get(pre === undefined || pre === '' ? 'default' : pre);
}

export function supportedPreTokenizers(): string[] {
  return [...PRE_TOKENIZERS.keys()];
}

const OUT_OF_RANGE = 0xffffffff;

/**
 * One of llama.cpp's hand-written scanners. Splits every piece [start, start+len) of `cpts` and appends the
 * new piece lengths to `out`.
 */
type CustomSplitter = (cpts: readonly number[], offsets: readonly number[], out: number[]) => void;

/** Shared per-piece state of the scanners (mirrors the lambdas _get_cpt/_get_flags/_add_token). */
class Scan {
  cpts: readonly number[] = [];
  flagsOf: Uint16Array = cptFlagTable();
  ini = 0;
  end = 0;
  prevEnd = 0;
  out: number[] = [];
  cpt(pos: number): number {
    return pos >= this.ini && pos < this.end ? this.cpts[pos] : OUT_OF_RANGE;
  }
  flags(pos: number): number {
    if (pos < this.ini || pos >= this.end) return 0;
    const c = this.cpts[pos];
    return c < 0x110000 ? this.flagsOf[c] : CPT_UNDEFINED;
  }
  add(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
}
const scan = new Scan();

const NOT_WLN = CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER;
const isRN = (c: number) => c === 0x0d || c === 0x0a;
const APOS = 0x27;
const ch = (s: string) => s.charCodeAt(0);
const [cs, ct, cm, cd, cr, cv, ce, cl] = ['s', 't', 'm', 'd', 'r', 'v', 'e', 'l'].map(ch);

/** unicode_regex_split_custom_gpt2. */
const splitGpt2: CustomSplitter = (cpts, offsets, out) => {
  const s = scan;
  s.cpts = cpts;
  s.out = out;
  let start = 0;
  for (const offset of offsets) {
    s.ini = start;
    s.end = start + offset;
    s.prevEnd = start;
    start = s.end;
    for (let pos = s.ini; pos < s.end;) {
      const cpt = s.cpt(pos);
      const flags = s.flags(pos);
      if (cpt === APOS && pos + 1 < s.end) {
        const next = s.cpt(pos + 1);
        if (next === cs || next === ct || next === cm || next === cd) {
          pos += s.add(pos + 2);
          continue;
        }
        if (pos + 2 < s.end) {
          const next2 = s.cpt(pos + 2);
          if ((next === cr && next2 === ce) || (next === cv && next2 === ce) || (next === cl && next2 === cl)) {
            pos += s.add(pos + 3);
            continue;
          }
        }
      }
      let flags2 = cpt === 0x20 ? s.flags(pos + 1) : flags;
      if (flags2 & CPT_LETTER) { // <space>?\p{L}+
        pos += cpt === 0x20 ? 1 : 0;
        while (flags2 & CPT_LETTER) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      if (flags2 & CPT_NUMBER) { // <space>?\p{N}+
        pos += cpt === 0x20 ? 1 : 0;
        while (flags2 & CPT_NUMBER) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      if (!(flags2 & NOT_WLN) && flags2) { // <space>?[^\s\p{L}\p{N}]+
        pos += cpt === 0x20 ? 1 : 0;
        while (!(flags2 & NOT_WLN) && flags2) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      let nws = 0;
      while (s.flags(pos + nws) & CPT_WHITESPACE) nws++;
      if (nws > 1 && s.cpt(pos + nws) !== OUT_OF_RANGE) { // \s+(?!\S)
        pos += nws - 1;
        s.add(pos);
        continue;
      }
      if (nws > 0) { // \s+
        pos += nws;
        s.add(pos);
        continue;
      }
      s.add(++pos); // no match
    }
  }
};

/** unicode_regex_split_custom_llama3 (maxDigits 3) and unicode_regex_split_custom_qwen2 (maxDigits 1). */
function makeLlama3Like(maxDigits: number): CustomSplitter {
  return (cpts, offsets, out) => {
    const s = scan;
    s.cpts = cpts;
    s.out = out;
    let start = 0;
    for (const offset of offsets) {
      s.ini = start;
      s.end = start + offset;
      s.prevEnd = start;
      start = s.end;
      for (let pos = s.ini; pos < s.end;) {
        const cpt = s.cpt(pos);
        const flags = s.flags(pos);
        if (cpt === APOS && pos + 1 < s.end) { // (?i:'s|'t|'re|'ve|'m|'ll|'d)
          const next = toLowerAscii(s.cpt(pos + 1));
          if (next === cs || next === ct || next === cm || next === cd) {
            pos += s.add(pos + 2);
            continue;
          }
          if (pos + 2 < s.end) {
            const next2 = toLowerAscii(s.cpt(pos + 2));
            if ((next === cr && next2 === ce) || (next === cv && next2 === ce) || (next === cl && next2 === cl)) {
              pos += s.add(pos + 3);
              continue;
            }
          }
        }
        if (!(isRN(cpt) || flags & CPT_NUMBER)) { // [^\r\n\p{L}\p{N}]?\p{L}+
          if (flags & CPT_LETTER || s.flags(pos + 1) & CPT_LETTER) {
            pos++;
            while (s.flags(pos) & CPT_LETTER) pos++;
            s.add(pos);
            continue;
          }
        }
        if (flags & CPT_NUMBER) { // \p{N}{1,maxDigits}
          if (maxDigits === 1) {
            s.add(++pos);
            continue;
          }
          let ini = pos;
          while (s.flags(pos) & CPT_NUMBER) {
            if (++pos - ini >= maxDigits) {
              s.add(pos);
              ini = pos;
            }
          }
          s.add(pos);
          continue;
        }
        let flags2 = cpt === 0x20 ? s.flags(pos + 1) : flags;
        if (!(flags2 & NOT_WLN) && flags) { // <space>?[^\s\p{L}\p{N}]+[\r\n]*
          pos += cpt === 0x20 ? 1 : 0;
          while (!(flags2 & NOT_WLN) && flags2) flags2 = s.flags(++pos);
          let cpt2 = s.cpt(pos);
          while (isRN(cpt2)) cpt2 = s.cpt(++pos);
          s.add(pos);
          continue;
        }
        let nws = 0;
        let lastEndRN = 0;
        while (s.flags(pos + nws) & CPT_WHITESPACE) {
          if (isRN(s.cpt(pos + nws))) lastEndRN = pos + nws + 1;
          nws++;
        }
        if (lastEndRN > 0) { // \s*[\r\n]+
          pos = lastEndRN;
          s.add(pos);
          continue;
        }
        if (nws > 1 && s.cpt(pos + nws) !== OUT_OF_RANGE) { // \s+(?!\S)
          pos += nws - 1;
          s.add(pos);
          continue;
        }
        if (nws > 0) { // \s+
          pos += nws;
          s.add(pos);
          continue;
        }
        s.add(++pos); // no match
      }
    }
  };
}

const CUSTOM: ReadonlyMap<string, CustomSplitter> = new Map([
  [REGEX_GPT2, splitGpt2],
  [REGEX_LLAMA3, makeLlama3Like(3)],
  [REGEX_LLAMA3_ORIG, makeLlama3Like(3)],
  [REGEX_QWEN2, makeLlama3Like(1)],
]);

// ---- llama.cpp's generic fallback: std::regex over category-collapsed text ----

const UCAT_ENUM: ReadonlyMap<string, number> = new Map([
  ['\\p{N}', CPT_NUMBER], ['\\p{L}', CPT_LETTER], ['\\p{P}', CPT_PUNCTUATION], ['\\p{M}', CPT_ACCENT_MARK],
  ['\\p{S}', CPT_SYMBOL], ['\\p{Lu}', CPT_LETTER], ['\\p{Ll}', CPT_LETTER], ['\\p{Lt}', CPT_LETTER],
  ['\\p{Lm}', CPT_LETTER], ['\\p{Lo}', CPT_LETTER],
]);
/** Category → the byte that stands for it in the collapsed text. */
const UCAT_CPT: ReadonlyMap<number, number> = new Map([
  [CPT_NUMBER, 0xd1], [CPT_LETTER, 0xd2], [CPT_PUNCTUATION, 0xd3], [CPT_ACCENT_MARK, 0xd4], [CPT_SYMBOL, 0xd5],
]);
/** Category → its ASCII members, as regex class text (k_ucat_map). */
const UCAT_MAP: ReadonlyMap<number, string> = new Map([
  [CPT_NUMBER, '0-9'],
  [CPT_LETTER, 'A-Za-z'],
  [CPT_PUNCTUATION, '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}'],
  [CPT_ACCENT_MARK, ''],
  [CPT_SYMBOL, '\\$\\+<->\\^`\\|\\~'],
]);

interface CompiledRegex { re: RegExp; collapsed: boolean }
const compiled = new Map<string, CompiledRegex>();

function compile(expr: string): CompiledRegex {
  let c = compiled.get(expr);
  if (c) return c;
  const collapsed = [...UCAT_ENUM.keys()].some((k) => expr.includes(k));
  let src = '';
  if (collapsed) {
    // Same rewrite as unicode_regex_split: \p{X} → [<byte>ascii] outside classes, <byte>ascii inside.
    let inside = false;
    for (let i = 0; i < expr.length; i++) {
      const c0 = expr[i];
      if (c0 === '[' && (i === 0 || expr[i - 1] !== '\\')) { src += '['; inside = true; continue; }
      if (inside && c0 === ']' && expr[i - 1] !== '\\') { src += ']'; inside = false; continue; }
      if (c0 === '\\' && i + 3 < expr.length && expr[i + 1] === 'p' && expr[i + 2] === '{') {
        const close = expr.indexOf('}', i + 3);
        if (close >= 0 && close <= i + 10) {
          const cat = UCAT_ENUM.get(expr.slice(i, close + 1));
          if (cat !== undefined) {
            const body = `\\x${UCAT_CPT.get(cat)!.toString(16).toUpperCase()}${UCAT_MAP.get(cat)!}`;
            src += inside ? body : `[${body}]`;
            i = close;
            continue;
          }
        }
      }
      src += c0;
    }
  } else {
    for (const c0 of expr) if (c0.codePointAt(0)! >= 0x80) throw new Error(`pre-tokenizer regex with non-ASCII literals is not supported: ${expr}`);
    src = expr;
  }
  c = { re: new RegExp(src, 'g'), collapsed };
  compiled.set(expr, c);
  return c;
}

/**
 * The text as the fallback regex sees it, one UTF-16 unit per code point: ASCII kept, non-ASCII whitespace
 * → \x0B, others → their category byte (collapsed) or a private-use stand-in no ASCII class matches (wregex path).
 */
function collapseText(cpts: readonly number[], collapsed: boolean): string {
  const flagsOf = cptFlagTable();
  const units = new Uint16Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) {
    const c = cpts[i];
    if (c < 128) { units[i] = c; continue; }
    const f = c < 0x110000 ? flagsOf[c] : CPT_UNDEFINED;
    if (f & CPT_WHITESPACE) units[i] = 0x0b;
    else if (collapsed) units[i] = UCAT_CPT.get(f & CPT_MASK_CATEGORIES) ?? 0xd0;
    else units[i] = 0xe000;
  }
  let s = '';
  for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode(...units.subarray(i, i + 8192));
  return s;
}

/** unicode_regex_split_stl: matches and the gaps between them become pieces. */
function splitRegex(cpts: readonly number[], expr: string, offsets: readonly number[], out: number[]): void {
  const { re, collapsed } = compile(expr);
  const text = collapseText(cpts, collapsed);
  let start = 0;
  for (const offset of offsets) {
    const sub = text.slice(start, start + offset);
    re.lastIndex = 0;
    let at = 0;
    for (let m = re.exec(sub); m !== null; m = re.exec(sub)) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      if (m.index > at) out.push(m.index - at);
      out.push(m[0].length);
      at = m.index + m[0].length;
    }
    if (at < offset) out.push(offset - at);
    start += offset;
  }
}

/** Splits `cpts` by the spec's regexes; returns the code-point length of every word, in order. */
export function preTokenize(cpts: readonly number[], spec: PreTokenizerSpec): number[] {
  let offsets: number[] = [cpts.length];
  for (const expr of spec.regexes) {
    const next: number[] = [];
    const custom = CUSTOM.get(expr);
    if (custom) custom(cpts, offsets, next);
    else splitRegex(cpts, expr, offsets, next);
    offsets = next;
  }
  return offsets;
}
