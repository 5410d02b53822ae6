/**
 * Image input: PNG, JPEG, WebP and GIF (first frame) bytes → RGB u8, with pure-JS decoders
 * (fast-png, jpeg-js, omggif) and libwebp compiled to WASM (@jsquash/webp, loaded from its file in
 * node_modules, no fetch), so it runs the same on Node, Bun and Deno.
 *
 * Checks, in order, each a named {@link ImageError} (HTTP 400): byte limit ('too_many_bytes'), empty
 * input ('empty'), format from the magic bytes, never a file name ('unsupported'), the declared
 * size read from the header alone: 0 ('empty') or above the pixel limit ('too_many_pixels',
 * a decompression bomb refused before any pixel is decoded); then any decoder failure or a
 * decoded size that differs from the header is 'corrupt'.
 *
 * @example
 * const img = await decodeImage(bytes);            // { format, width, height, data: RGB u8 }
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from 'fast-png';
import jpeg from 'jpeg-js';
import { ImageError } from './errors.ts';
import { decodeGifFirstFrame } from './gif.ts';
import { readImageHeader, type ImageFormat } from './sniff.ts';

export { ImageError, type ImageErrorReason } from './errors.ts';
export { sniffImageFormat, readImageHeader, type ImageFormat, type ImageHeader } from './sniff.ts';

/** A decoded image: `data` is RGB u8, row-major `[height][width][3]` (alpha is dropped, as stb_image's 3-channel load that llama.cpp's mtmd uses). */
export interface DecodedImage {
  format: ImageFormat;
  width: number;
  height: number;
  data: Uint8Array;
}

export interface DecodeLimits {
  /** Largest declared width×height accepted (default 50,000,000: a 5000×5000 scan is 25 MP). */
  maxPixels?: number;
  /** Largest encoded input in bytes (default 64 MiB). */
  maxBytes?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Decodes one image (GIF: its first frame over the logical screen, transparent pixels black). */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits = {}): Promise<DecodedImage> {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes) throw new ImageError('too_many_bytes', `image is ${bytes.length} bytes, the limit is ${maxBytes}`);
  if (bytes.length === 0) throw new ImageError('empty', 'image is empty (0 bytes)');
  const { format, width, height } = readImageHeader(bytes);
  if (width === 0 || height === 0) throw new ImageError('empty', `${format.toUpperCase()} image declares a size of ${width}×${height}`);
  if (width * height > maxPixels) {
    throw new ImageError('too_many_pixels', `${format.toUpperCase()} image declares ${width}×${height} = ${width * height} pixels, the limit is ${maxPixels}`);
  }
  let rgb: Uint8Array;
  try {
    rgb = format === 'png' ? png(bytes) : format === 'jpeg' ? jpg(bytes, maxPixels) : format === 'gif' ? gif(bytes, width, height) : await webp(bytes);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError('corrupt', `corrupt ${format.toUpperCase()} image: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (rgb.length !== width * height * 3) throw new ImageError('corrupt', `corrupt ${format.toUpperCase()} image: decoded size differs from the header's ${width}×${height}`);
  return { format, width, height, data: rgb };
}

/** `n` pixels of `ch` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) of 8 bits → RGB. */
function toRgb(src: ArrayLike<number>, n: number, ch: number): Uint8Array {
  if (src.length < n * ch) throw new Error(`pixel data holds ${src.length} values, expected ${n * ch}`);
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const s = p * ch;
    if (ch <= 2) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[s]!;
    else { out[3 * p] = src[s]!; out[3 * p + 1] = src[s + 1]!; out[3 * p + 2] = src[s + 2]!; }
  }
  return out;
}

function png(bytes: Uint8Array): Uint8Array {
  let img: DecodedPng = decodePng(bytes, { checkCrc: true });
  if (img.palette) img = { ...img, data: convertIndexedToRgb(img), depth: 8, channels: img.palette[0]?.length ?? 3 };
  const { width: w, height: h, channels: ch, depth } = img;
  const n = w * h;
  if (depth === 8) return toRgb(img.data, n, ch);
  if (depth === 16) {
    const hi = new Uint8Array(n * ch); // stb_image's 16→8 conversion: the high byte
    for (let i = 0; i < n * ch; i++) hi[i] = img.data[i]! >> 8;
    return toRgb(hi, n, ch);
  }
  // 1, 2, 4-bit grey: rows packed MSB first, each row padded to a byte; scaled to 0..255
  const stride = Math.ceil((w * ch * depth) / 8);
  const max = (1 << depth) - 1;
  const v = new Uint8Array(n * ch);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w * ch; x++) {
      const bit = x * depth;
      const byte = img.data[y * stride + (bit >> 3)]!;
      v[y * w * ch + x] = (((byte >> (8 - depth - (bit & 7))) & max) * 255) / max;
    }
  }
  return toRgb(v, n, ch);
}

function jpg(bytes: Uint8Array, maxPixels: number): Uint8Array {
  const img = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
    maxResolutionInMP: maxPixels / 1e6,
    maxMemoryUsageInMB: Math.ceil((maxPixels * 16) / 2 ** 20) + 64, // coefficients + planes + output
  });
  return img.data;
}

function gif(bytes: Uint8Array, w: number, h: number): Uint8Array {
  return decodeGifFirstFrame(bytes, w, h);
}

// libwebp's decoder (emscripten), initialised once from its .wasm file next to the package.
let webpDecoder: Promise<(b: ArrayBuffer) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>> | undefined;

function loadWebp() {
  webpDecoder ??= (async () => {
    const mod = await import('@jsquash/webp/decode.js');
    const file = createRequire(import.meta.url).resolve('@jsquash/webp/codec/dec/webp_dec.wasm');
    await mod.init(new WebAssembly.Module(readFileSync(file)));
    return mod.default as (b: ArrayBuffer) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
  })();
  return webpDecoder;
}

async function webp(bytes: Uint8Array): Promise<Uint8Array> {
  const decode = await loadWebp();
  const copy = bytes.slice().buffer; // the decoder takes an ArrayBuffer of exactly the file
  const img = await decode(copy);
  return toRgb(img.data, img.width * img.height, 4);
}
