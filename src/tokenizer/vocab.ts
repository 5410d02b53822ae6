/**
 * The vocabulary read from GGUF `tokenizer.*` metadata, with the attributes, special ids and end-of-generation
 * set that llama.cpp derives at load (llama_vocab::impl::load), including its detection of special tokens by text.
 */
import { TokenizerError } from './errors.ts';
import { preTokenizerSpec, supportedPreTokenizers, type PreTokenizerSpec } from './pre-tokenize.ts';

/** GGUF `tokenizer.ggml.token_type` values (llama_token_type). */
export const enum TokenType { UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 }

/** llama_token_attr bits. */
export const ATTR_UNKNOWN = 1 << 0;
export const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;

const TYPE_TO_ATTR: Record<number, number> = {
  [TokenType.UNKNOWN]: ATTR_UNKNOWN, [TokenType.UNUSED]: ATTR_UNUSED, [TokenType.NORMAL]: ATTR_NORMAL,
  [TokenType.CONTROL]: ATTR_CONTROL, [TokenType.USER_DEFINED]: ATTR_USER_DEFINED, [TokenType.BYTE]: ATTR_BYTE,
};

export type VocabKind = 'spm' | 'bpe' | 'wpm';

export interface Vocab {
  kind: VocabKind;
  /** Token strings as stored in the GGUF, [n_vocab]. */
  tokens: string[];
  /** SPM merge scores, f32 [n_vocab] (zeros when absent). */
  scores: Float32Array;
  /** llama_token_attr bits per token, [n_vocab]. */
  attrs: Uint16Array;
  /** Token text → id (the last id wins for duplicate strings, as in llama.cpp). */
  textToId: Map<string, number>;
  /** BPE merges "a b" in rank order (empty for SPM). */
  merges: readonly string[];
  pre: PreTokenizerSpec | null;
  bos: number | null;
  eos: number | null;
  eot: number | null;
  eom: number | null;
  unk: number | null;
  pad: number | null;
  /** Separator appended after the text (WPM: [SEP]). */
  sep: number | null;
  /** BertNormalizer options of WPM vocabularies (tokenizer.ggml.normalizer.*). */
  normalizer: { lowercase: boolean; stripAccents: boolean };
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  cleanSpaces: boolean;
  /** Tokens that end generation. */
  eog: Set<number>;
  /** Control, user-defined and unknown tokens, longest text first: matched in raw text before tokenizing. */
  specialCache: number[];
}

type Meta = Map<string, unknown>;

function where(path: string | undefined): string {
  return path ? ` in ${path}` : '';
}

function getString(m: Meta, key: string): string | undefined {
  const v = m.get(key);
  return typeof v === 'string' ? v : undefined;
}

function getBool(m: Meta, key: string): boolean | undefined {
  const v = m.get(key);
  return typeof v === 'boolean' ? v : undefined;
}

function getUint(m: Meta, key: string): number | undefined {
  const v = m.get(key);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n) return Number(v);
  return undefined;
}

function getArray(m: Meta, key: string, path: string | undefined): ArrayLike<unknown> | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return v as unknown as ArrayLike<unknown>;
  throw new TokenizerError(`${key} must be an array${where(path)}`);
}

// Texts llama.cpp uses to find special tokens that the GGUF does not name (llama-vocab.cpp, load()).
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_PAD_TEXTS = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_TEXTS = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_TEXTS = ['<|file_sep|>'];
const FIM_PRE_TEXTS = ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'];
const FIM_SUF_TEXTS = ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'];
const FIM_MID_TEXTS = ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'];
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
]);
const ALWAYS_RENDERED = new Set(['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']);

/** Reads and validates the tokenizer metadata. Throws TokenizerError naming `path` on anything unsupported. */
export function loadVocab(m: Meta, path?: string): Vocab {
  const model = getString(m, 'tokenizer.ggml.model');
  if (model === undefined) throw new TokenizerError(`missing tokenizer.ggml.model${where(path)}`);
  let kind: VocabKind;
  if (model === 'llama') kind = 'spm';
  else if (model === 'gpt2') kind = 'bpe';
  else if (model === 'bert') kind = 'wpm';
  else throw new TokenizerError(`unsupported tokenizer model '${model}'${where(path)} (supported: llama, gpt2, bert)`);

  const tokensRaw = getArray(m, 'tokenizer.ggml.tokens', path);
  if (!tokensRaw) throw new TokenizerError(`missing tokenizer.ggml.tokens${where(path)}`);
  const n = tokensRaw.length;
  if (n === 0) throw new TokenizerError(`tokenizer.ggml.tokens is empty${where(path)}`);
  const tokens = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const t = tokensRaw[i];
    if (typeof t !== 'string') throw new TokenizerError(`tokenizer.ggml.tokens[${i}] is not a string${where(path)}`);
    tokens[i] = t === '' ? `[EMPTY_${i}]` : t;
  }

  const scores = new Float32Array(n);
  const scoresRaw = getArray(m, 'tokenizer.ggml.scores', path);
  if (scoresRaw) {
    if (scoresRaw.length < n) throw new TokenizerError(`tokenizer.ggml.scores has ${scoresRaw.length} entries for ${n} tokens${where(path)}`);
    for (let i = 0; i < n; i++) scores[i] = Number(scoresRaw[i]);
  }

  const attrs = new Uint16Array(n).fill(ATTR_NORMAL);
  const typesRaw = getArray(m, 'tokenizer.ggml.token_type', path);
  if (typesRaw) {
    if (typesRaw.length < n) throw new TokenizerError(`tokenizer.ggml.token_type has ${typesRaw.length} entries for ${n} tokens${where(path)}`);
    for (let i = 0; i < n; i++) attrs[i] = TYPE_TO_ATTR[Number(typesRaw[i])] ?? 0;
  }

  const textToId = new Map<string, number>();
  for (let i = 0; i < n; i++) textToId.set(tokens[i], i);

  let pre: PreTokenizerSpec | null = null;
  let merges: string[] = [];
  let addBos: boolean;
  let addSpacePrefix: boolean;
  let cleanSpaces: boolean;
  let bos: number | null, eos: number | null, unk: number | null;
  let sep: number | null = null;
  if (kind === 'wpm') {
    // llama.cpp's defaults for bert vocabularies: [CLS] 101 as BOS, [UNK] 100, [SEP] 102, no EOS.
    addBos = true;
    addSpacePrefix = false;
    cleanSpaces = true;
    bos = 101; eos = null; unk = 100; sep = 102;
  } else if (kind === 'bpe') {
    const preName = getString(m, 'tokenizer.ggml.pre');
    const spec = preTokenizerSpec(preName);
    if (!spec) {
      throw new TokenizerError(`unsupported pre-tokenizer '${preName}'${where(path)} (supported: ${supportedPreTokenizers().join(', ')})`);
    }
    pre = spec;
    const mergesRaw = getArray(m, 'tokenizer.ggml.merges', path);
    if (!mergesRaw) throw new TokenizerError(`missing tokenizer.ggml.merges${where(path)}`);
    merges = Array.from(mergesRaw as ArrayLike<string>);
    addBos = spec.addBos;
    addSpacePrefix = false;
    cleanSpaces = spec.cleanSpaces;
    bos = 11; eos = 11; unk = null; // llama.cpp's defaults for gpt2 vocabularies
  } else {
    addBos = true;
    addSpacePrefix = true;
    cleanSpaces = false;
    bos = 1; eos = 2; unk = 0;
  }
  addSpacePrefix = getBool(m, 'tokenizer.ggml.add_space_prefix') ?? addSpacePrefix;

  const inRange = (id: number | null) => (id !== null && id < n ? id : null);
  const special = (key: string, dflt: number | null): number | null => {
    const v = getUint(m, `tokenizer.ggml.${key}`);
    return v !== undefined && v < n ? v : inRange(dflt);
  };
  bos = special('bos_token_id', bos);
  eos = special('eos_token_id', eos);
  sep = special('seperator_token_id', sep);
  unk = special('unknown_token_id', unk);
  let eot = special('eot_token_id', null);
  let eom = special('eom_token_id', null);
  const pad = special('padding_token_id', null);
  let fimPad = special('fim_pad_token_id', null);
  let fimRep = special('fim_rep_token_id', null);
  let fimSep = special('fim_sep_token_id', null);
  let fimPre = special('fim_pre_token_id', null) ?? special('prefix_token_id', null);
  let fimSuf = special('fim_suf_token_id', null) ?? special('suffix_token_id', null);
  let fimMid = special('fim_mid_token_id', null) ?? special('middle_token_id', null);
  addBos = getBool(m, 'tokenizer.ggml.add_bos_token') ?? addBos;
  const addEos = getBool(m, 'tokenizer.ggml.add_eos_token') ?? false;
  // BertNormalizer (WPM only): lowercase (default on), strip_accents (default: as lowercase).
  const lowercase = getBool(m, 'tokenizer.ggml.normalizer.lowercase') ?? true;
  const normalizer = { lowercase, stripAccents: getBool(m, 'tokenizer.ggml.normalizer.strip_accents') ?? lowercase };

  // Special tokens the GGUF does not name, found by text; each found one becomes a control token.
  // (llama.cpp walks a hash map here, so with several candidates its choice is unordered; we take the first by list order.)
  const detect = (current: number | null, texts: readonly string[]): number | null => {
    if (current !== null) return current;
    for (const t of texts) {
      const id = textToId.get(t);
      if (id !== undefined) {
        attrs[id] |= ATTR_CONTROL;
        return id;
      }
    }
    return null;
  };
  eot = detect(eot, EOT_TEXTS);
  eom = detect(eom, EOM_TEXTS);
  fimPre = detect(fimPre, FIM_PRE_TEXTS);
  fimSuf = detect(fimSuf, FIM_SUF_TEXTS);
  fimMid = detect(fimMid, FIM_MID_TEXTS);
  fimPad = detect(fimPad, FIM_PAD_TEXTS);
  fimRep = detect(fimRep, FIM_REP_TEXTS);
  fimSep = detect(fimSep, FIM_SEP_TEXTS);

  for (let i = 0; i < n; i++) {
    if (attrs[i] & ATTR_CONTROL && tokens[i].includes('unused')) attrs[i] |= ATTR_UNUSED;
  }

  const eog = new Set<number>();
  for (const id of [fimPad, fimRep, fimSep]) if (id !== null) eog.add(id);
  for (const [text, id] of textToId) {
    if (EOG_TEXTS.has(text)) {
      eog.add(id);
      attrs[id] |= ATTR_CONTROL;
    }
  }
  for (const text of ALWAYS_RENDERED) {
    const id = textToId.get(text);
    if (id !== undefined) attrs[id] = ATTR_USER_DEFINED;
  }
  for (const id of [eos, eot, eom]) if (id !== null) eog.add(id);
  // o200k_harmony / solar-open: '<|end|>' is not end-of-generation there.
  const has = (t: string) => { const id = textToId.get(t); return id !== undefined && eog.has(id); };
  if (((has('<|return|>') && has('<|call|>')) || (has('<|calls|>') && has('<|flush|>'))) && has('<|end|>')) {
    const id = textToId.get('<|end|>')!;
    eog.delete(id);
    attrs[id] = ATTR_USER_DEFINED;
  }
  if (has('<|tool_response>') && has('</s>')) {
    const id = textToId.get('</s>')!;
    eog.delete(id);
    attrs[id] = ATTR_NORMAL;
  }

  const specialCache: number[] = [];
  for (let i = 0; i < n; i++) if (attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) specialCache.push(i);
  // Longest first by UTF-8 length, as llama.cpp sorts (ties by id; its std::sort leaves them unordered).
  const enc = new TextEncoder();
  const byteLen = new Map(specialCache.map((id) => [id, enc.encode(tokens[id]).length]));
  specialCache.sort((a, b) => byteLen.get(b)! - byteLen.get(a)! || a - b);

  return {
    kind, tokens, scores, attrs, textToId, merges, pre, bos, eos, eot, eom, unk, pad, sep, normalizer,
    addBos, addEos, addSpacePrefix, cleanSpaces, eog, specialCache,
  };
}
