/**
 * Code point classes and the GPT-2 byte↔unicode mapping, as llama.cpp's unicode.cpp defines them.
 */
import { LOWERCASE_MAP, LOWERCASE_TO_ASCII, NFD_RANGES, RANGE_FLAGS, RANGE_START_DELTAS, WHITESPACE } from './unicode-data.ts';

/** Flag bits of a code point (llama.cpp `unicode_cpt_flags`). 0 means "outside the text" (out of range). */
export const CPT_UNDEFINED = 0x0001;
export const CPT_NUMBER = 0x0002;
export const CPT_LETTER = 0x0004;
export const CPT_SEPARATOR = 0x0008;
export const CPT_ACCENT_MARK = 0x0010;
export const CPT_PUNCTUATION = 0x0020;
export const CPT_SYMBOL = 0x0040;
export const CPT_CONTROL = 0x0080;
export const CPT_MASK_CATEGORIES = 0x00ff;
export const CPT_WHITESPACE = 0x0100;

const MAX_CODEPOINTS = 0x110000;
let flagTable: Uint16Array | null = null;

/** flags[cpt] for every code point, u16 [0x110000] (2.2 MB), built on first use. */
function buildFlagTable(): Uint16Array {
  const t = new Uint16Array(MAX_CODEPOINTS);
  let start = 0;
  for (let i = 0; i < RANGE_START_DELTAS.length; i++) {
    start += RANGE_START_DELTAS[i];
    const end = i + 1 < RANGE_START_DELTAS.length ? start + RANGE_START_DELTAS[i + 1] : MAX_CODEPOINTS;
    t.fill(RANGE_FLAGS[i], start, end);
  }
  for (const c of WHITESPACE) t[c] |= CPT_WHITESPACE;
  return t;
}

/** Flags of a code point; CPT_UNDEFINED past U+10FFFF, like llama.cpp. */
export function cptFlags(cpt: number): number {
  const t = flagTable ?? (flagTable = buildFlagTable());
  return cpt < MAX_CODEPOINTS ? t[cpt] : CPT_UNDEFINED;
}

/** The code point flag table itself (for hot loops that index it directly). */
export function cptFlagTable(): Uint16Array {
  return flagTable ?? (flagTable = buildFlagTable());
}

/** llama.cpp unicode_tolower: its one-to-one lowercase map (code points without an entry map to themselves). */
export function toLower(cpt: number): number {
  let lo = 0;
  let hi = LOWERCASE_MAP.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = LOWERCASE_MAP[2 * mid];
    if (k === cpt) return LOWERCASE_MAP[2 * mid + 1];
    if (k < cpt) lo = mid + 1;
    else hi = mid - 1;
  }
  return cpt;
}

/** llama.cpp unicode_cpts_normalize_nfd of one code point: the base character of its decomposition (é → e). */
export function nfdBase(cpt: number): number {
  // Last range whose first ≤ cpt (std::upper_bound − 1).
  let lo = 0;
  let hi = NFD_RANGES.length / 3 - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (NFD_RANGES[3 * mid] <= cpt) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return at >= 0 && cpt <= NFD_RANGES[3 * at + 1] ? NFD_RANGES[3 * at + 2] : cpt;
}

const LOWER_ASCII = new Map<number, number>(LOWERCASE_TO_ASCII.map(([a, b]) => [a, b]));
/** unicode_tolower restricted to results in ASCII (all the pre-tokenizers compare against). Others map to themselves. */
export function toLowerAscii(cpt: number): number {
  return LOWER_ASCII.get(cpt) ?? cpt;
}

/** GPT-2 byte-level alphabet: byte → its printable stand-in character (unicode_byte_to_utf8_map). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map = new Array<string>(256);
  const direct = (c: number) => (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff);
  let n = 0;
  for (let c = 0; c < 256; c++) map[c] = direct(c) ? String.fromCodePoint(c) : String.fromCodePoint(256 + n++);
  return map;
})();

/** Inverse of BYTE_TO_CHAR: stand-in code point → byte, or -1. Indexed by code point < 324. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const inv = new Int16Array(324).fill(-1);
  for (let b = 0; b < 256; b++) inv[BYTE_TO_CHAR[b].codePointAt(0)!] = b;
  return inv;
})();

/**
 * Code points of a string, u32 [n]. Lone surrogates become U+FFFD, as TextEncoder (and llama.cpp on the
 * resulting invalid UTF-8) would.
 */
export function codepointsOf(text: string, out: number[]): number[] {
  out.length = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    out.push(c);
  }
  return out;
}

/** Writes the UTF-8 bytes of one code point into `out` at `at`; returns the new end. */
export function putUtf8(cpt: number, out: Uint8Array, at: number): number {
  if (cpt < 0x80) {
    out[at] = cpt;
    return at + 1;
  }
  if (cpt < 0x800) {
    out[at] = 0xc0 | (cpt >> 6);
    out[at + 1] = 0x80 | (cpt & 0x3f);
    return at + 2;
  }
  if (cpt < 0x10000) {
    out[at] = 0xe0 | (cpt >> 12);
    out[at + 1] = 0x80 | ((cpt >> 6) & 0x3f);
    out[at + 2] = 0x80 | (cpt & 0x3f);
    return at + 3;
  }
  out[at] = 0xf0 | (cpt >> 18);
  out[at + 1] = 0x80 | ((cpt >> 12) & 0x3f);
  out[at + 2] = 0x80 | ((cpt >> 6) & 0x3f);
  out[at + 3] = 0x80 | (cpt & 0x3f);
  return at + 4;
}

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
