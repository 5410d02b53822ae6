/**
 * Format sniffing from magic bytes, and each format's declared size read from its header alone
 * (no pixel data is touched), so that a decompression bomb is refused before anything is decoded.
 */
import { ImageError } from './errors.ts';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export interface ImageHeader {
  format: ImageFormat;
  /** Declared size in pixels (GIF: the logical screen). */
  width: number;
  height: number;
}

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) => b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const GIF87 = ascii('GIF87a');
const GIF89 = ascii('GIF89a');

/** The format named by the first bytes, or null when they match none of the four. */
export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  if (startsWith(b, PNG_SIG)) return 'png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, GIF87) || startsWith(b, GIF89)) return 'gif';
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)) return 'webp';
  return null;
}

const corrupt = (format: ImageFormat, what: string) => new ImageError('corrupt', `corrupt ${format.toUpperCase()} image: ${what}`);
const u16be = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!;
const u16le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8);
const u24le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16);
const u32be = (b: Uint8Array, i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);

/** Sniffs the format and reads the declared size. Throws ImageError 'unsupported' or 'corrupt'. */
export function readImageHeader(b: Uint8Array): ImageHeader {
  const format = sniffImageFormat(b);
  if (format === null) {
    const head = [...b.subarray(0, 8)].map((v) => v.toString(16).padStart(2, '0')).join(' ');
    throw new ImageError('unsupported', `unsupported image format (first bytes: ${head || 'none'}): expected PNG, JPEG, WebP or GIF`);
  }
  const [width, height] = format === 'png' ? pngSize(b) : format === 'jpeg' ? jpegSize(b) : format === 'gif' ? gifSize(b) : webpSize(b);
  return { format, width, height };
}

function pngSize(b: Uint8Array): [number, number] {
  // signature, then the first chunk must be IHDR: u32 length 13, 'IHDR', u32 width, u32 height (big-endian)
  if (b.length < 33 || !startsWith(b, ascii('IHDR'), 12)) throw corrupt('png', 'missing IHDR header');
  return [u32be(b, 16), u32be(b, 20)];
}

function gifSize(b: Uint8Array): [number, number] {
  if (b.length < 13) throw corrupt('gif', 'truncated header');
  return [u16le(b, 6), u16le(b, 8)]; // logical screen width, height
}

function jpegSize(b: Uint8Array): [number, number] {
  // Walk the marker segments after SOI to the first start-of-frame (SOF0..SOF15 except DHT C4,
  // JPG C8, DAC CC): FF Cn, u16 length, u8 precision, u16 height, u16 width (big-endian).
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw corrupt('jpeg', `expected a marker at byte ${i}`);
    const m = b[i + 1]!;
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } // no length
    if (m === 0xd9 || m === 0xda) break; // EOI or start of scan before any frame header
    const len = u16be(b, i + 2);
    if (len < 2) throw corrupt('jpeg', `bad segment length at byte ${i}`);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 > b.length) break;
      return [u16be(b, i + 7), u16be(b, i + 5)];
    }
    i += 2 + len;
  }
  throw corrupt('jpeg', 'no frame header (SOF) before the image data');
}

function webpSize(b: Uint8Array): [number, number] {
  // RIFF....WEBP, then the first chunk: 'VP8 ' (lossy), 'VP8L' (lossless) or 'VP8X' (extended).
  if (b.length < 30) throw corrupt('webp', 'truncated header');
  const fourcc = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
  const d = 20; // chunk payload
  if (fourcc === 'VP8X') return [u24le(b, d + 4) + 1, u24le(b, d + 7) + 1]; // canvas width−1, height−1
  if (fourcc === 'VP8L') {
    if (b[d] !== 0x2f) throw corrupt('webp', 'bad VP8L signature');
    const bits = b[d + 1]! | (b[d + 2]! << 8) | (b[d + 3]! << 16) | (b[d + 4]! << 24);
    return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  if (fourcc === 'VP8 ') {
    // 3-byte frame tag, start code 9D 01 2A, then u16le width and height (low 14 bits)
    if (b[d + 3] !== 0x9d || b[d + 4] !== 0x01 || b[d + 5] !== 0x2a) throw corrupt('webp', 'bad VP8 start code');
    return [u16le(b, d + 6) & 0x3fff, u16le(b, d + 8) & 0x3fff];
  }
  throw corrupt('webp', `unknown first chunk '${fourcc.replace(/[^\x20-\x7e]/g, '?')}'`);
}
