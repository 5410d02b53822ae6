/**
 * Test images built independently of the decoders under test:
 * - PNG: hand-built files (signature, IHDR, IDAT from node:zlib's deflate, IEND; CRCs computed here).
 * - JPEG, GIF, WebP: the npm encoders (jpeg-js, omggif's GifWriter, libwebp via @jsquash/webp); the
 *   truth is always the pixel array we generated, never a decoder's output.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { GifWriter } from 'omggif';

/** A smooth-ish deterministic RGB pattern `[h][w][3]` (gradients plus a checker), for lossy codecs. */
export function pattern(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      out[i] = Math.round((255 * x) / Math.max(1, w - 1));
      out[i + 1] = Math.round((255 * y) / Math.max(1, h - 1));
      out[i + 2] = ((x >> 3) + (y >> 3)) & 1 ? 200 : 40;
    }
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

/**
 * A PNG of `w`×`h`: colorType 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA, bit depth 8 (or 16),
 * rows of `samples` (per pixel: 1, 3, 1 index, 2, 4 values) with filter 0.
 */
export function buildPng(w: number, h: number, colorType: number, samples: ArrayLike<number>, opts: { depth?: 8 | 16; palette?: number[][] } = {}): Uint8Array {
  const depth = opts.depth ?? 8;
  const spp = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const bpv = depth / 8;
  const raw = new Uint8Array(h * (1 + w * spp * bpv));
  for (let y = 0; y < h; y++) {
    const row = y * (1 + w * spp * bpv);
    for (let i = 0; i < w * spp; i++) {
      const v = samples[y * w * spp + i]!;
      if (depth === 16) { raw[row + 1 + 2 * i] = v >> 8; raw[row + 2 + 2 * i] = v & 255; } else raw[row + 1 + i] = v;
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w); dv.setUint32(4, h);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (opts.palette) parts.push(chunk('PLTE', new Uint8Array(opts.palette.flat())));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return concat(parts);
}

export function buildJpeg(w: number, h: number, rgb: Uint8Array, quality = 95): Uint8Array {
  const rgba = new Uint8Array(w * h * 4);
  for (let p = 0; p < w * h; p++) { rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p); rgba[4 * p + 3] = 255; }
  return new Uint8Array(jpeg.encode({ data: rgba, width: w, height: h }, quality).data);
}

/** A GIF with a global palette; `frames` of palette indices `[h][w]` (the first is what a decoder must return). */
export function buildGif(w: number, h: number, palette: number[], frames: Uint8Array[]): Uint8Array {
  const buf = new Uint8Array(1024 + frames.length * w * h * 2);
  const gw = new GifWriter(buf, w, h, { palette, loop: 0 });
  for (const f of frames) gw.addFrame(0, 0, w, h, [...f], { delay: 10 });
  return buf.slice(0, gw.end());
}

type WebpEncode = (img: { data: Uint8ClampedArray; width: number; height: number; colorSpace: 'srgb' }, opts: Record<string, number>) => Promise<ArrayBuffer>;
let webpEncoder: Promise<WebpEncode> | undefined;
export async function buildWebp(w: number, h: number, rgb: Uint8Array, opts: { lossless: boolean; quality?: number }): Promise<Uint8Array> {
  webpEncoder ??= (async () => {
    const mod = await import('@jsquash/webp/encode.js');
    const file = createRequire(import.meta.url).resolve('@jsquash/webp/codec/enc/webp_enc.wasm');
    await mod.init(new WebAssembly.Module(readFileSync(file)));
    return mod.default as unknown as WebpEncode;
  })();
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let p = 0; p < w * h; p++) { rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p); rgba[4 * p + 3] = 255; }
  const enc = await webpEncoder;
  return new Uint8Array(await enc({ data: rgba, width: w, height: h, colorSpace: 'srgb' }, { lossless: opts.lossless ? 1 : 0, quality: opts.quality ?? 90, exact: 1 }));
}
